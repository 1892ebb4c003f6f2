#!/usr/bin/env python3
# SPEC.md Appendix B.10, the identity-change statement (§5.5), computed from the SPEC's
# description alone with Python's `cryptography` (Ed25519, RFC 8032), not the reference code.
# Prints the B.10 cases of test/vectors/spec-appendix-b.json as JSON.
import json, struct
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

def pub(seed):
    return Ed25519PrivateKey.from_private_bytes(seed).public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)

def message(label, user, old, new, at):
    u = user.encode()
    return label.encode() + b"\x00" + bytes([len(u)]) + u + old + new + struct.pack(">Q", at)

def sign(seed, m):
    return Ed25519PrivateKey.from_private_bytes(seed).sign(m)

LABEL = "smsg/1 identity change"
old_seed = bytes.fromhex("6267b389b20950f948060cfd600d8ee2797ff5ac6ab3e76eca5df2862259bb5e")  # alice, B.1
new_seed = bytes([0x22]) * 32
old, new = pub(old_seed), pub(new_seed)
assert old.hex() == "9a3e419caf74027480d06af309e883de9d66c97ed6e7fa2c2e0ccb43738214ed"
at = 1767225600000  # 2026-01-01T00:00:00Z in ms
m = message(LABEL, "alice", old, new, at)
sig = sign(old_seed, m)
Ed25519PublicKey.from_public_bytes(old).verify(sig, m)
statement = old + new + struct.pack(">Q", at) + sig

def case(comment, expect, user, o, n, s, **extra):
    return {"section": "B.10", "kind": "identity-change", "comment": comment, "expect": expect,
            "input": {"user": user, "old_identity_pub": o.hex(), "new_identity_pub": n.hex(), "changed_at": at, "sig": s.hex(), **extra}}

ok = {
    "section": "B.10", "kind": "identity-change",
    "comment": "alice's B.1 identity key signs the step to the key of seed 32 x 22 (§5.5): the exact bytes signed, the signature, the 136-byte statement",
    "expect": "ok",
    "input": {"user": "alice", "old_identity_sd": old_seed.hex(), "new_identity_sd": new_seed.hex(), "changed_at": at},
    "output": {"old_identity_pub": old.hex(), "new_identity_pub": new.hex(), "message": m.hex(), "sig": sig.hex(), "statement": statement.hex()},
}
wrong_label = sign(old_seed, message("smsg/2 identity change", "alice", old, new, at))
cases = [
    ok,
    case("the same step signed under another label (smsg/2 identity change) by the same key", "bad-signature", "alice", old, new, wrong_label),
    case("the valid signature with the old and new keys swapped", "bad-signature", "alice", new, old, sig),
    case("the valid statement presented as bob's", "bad-signature", "bob", old, new, sig),
    case("the valid signature with changedAt one millisecond later", "bad-signature", "alice", old, new, sig, changed_at=at + 1),
    case("a step from a key to itself, signed by it", "malformed", "alice", old, old, sign(old_seed, message(LABEL, "alice", old, old, at))),
]
print(json.dumps(cases, indent=1))
