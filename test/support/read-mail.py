#!/usr/bin/env python3
# Reads an exported .eml or mbox with Python's standard mail parser (mailbox, email) and prints
# what it found as JSON, for the tests to compare with what was sent: a standard reader, not
# ours, decides whether the export is mail. usage: read-mail.py eml|mbox FILE
import hashlib, json, mailbox, sys
from email import policy
from email.parser import BytesParser


def describe(msg):
    body = None
    attachments = []
    for part in msg.walk():
        if part.is_multipart():
            continue
        if part.get_content_disposition() == "attachment":
            data = part.get_payload(decode=True)
            attachments.append({"name": part.get_filename(), "size": len(data), "sha256": hashlib.sha256(data).hexdigest()})
        elif part.get_content_type() == "text/plain" and body is None:
            body = part.get_content()
    return {
        "from": str(msg["From"]),
        "to": str(msg["To"]) if msg["To"] is not None else None,
        "subject": str(msg["Subject"]),
        "date": str(msg["Date"]),
        "messageId": str(msg["Message-ID"]),
        "folder": str(msg["X-Smsg-Folder"]),
        "body": body,
        "defects": [type(d).__name__ for p in msg.walk() for d in p.defects],
        "attachments": attachments,
    }


kind, path = sys.argv[1], sys.argv[2]
if kind == "eml":
    with open(path, "rb") as f:
        print(json.dumps(describe(BytesParser(policy=policy.default).parse(f))))
else:
    box = mailbox.mbox(path, factory=lambda f: BytesParser(policy=policy.default).parse(f), create=False)
    print(json.dumps([describe(m) for m in box]))
