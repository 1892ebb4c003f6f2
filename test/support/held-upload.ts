// A sender that uploads part of an attachment and then holds the rest back until told (a line
// on stdin), or forever: `bun test/support/held-upload.ts DATA_DIR TO SIZE FIRST [EXTRA]`. It
// makes the request `smsg send --attach` makes (POST /api/send/upload), with SIZE declared and
// FIRST bytes sent at once, so a test can look at the recipient mid-upload, or kill this
// process (a CLI killed mid-way); EXTRA bytes beyond SIZE come after the rest (a bad upload).
// Prints the answer's JSON with the SHA-256 of the bytes, or the error.

import { createHash } from "node:crypto";
import { ApiClient, sendUploadBody } from "../../src/client/api-client.ts";

const [dataDir, to, sizeArg, firstArg, extraArg] = process.argv.slice(2);
const size = Number(sizeArg);
const first = Number(firstArg);
const hash = createHash("sha256");

/** Deterministic bytes, different in every 1 MiB block (no compressible run). */
function* blocks(from: number, until: number): Generator<Uint8Array> {
  const BLOCK = 1024 * 1024;
  for (let off = from; off < until; ) {
    const n = Math.min(BLOCK - (off % BLOCK), until - off);
    const b = new Uint8Array(n);
    for (let i = 0; i < n; i++) b[i] = Math.imul(off + i, 2654435761) >>> 24;
    hash.update(b);
    off += n;
    yield b;
  }
}

async function* stdinLine(): AsyncGenerator<never> {
  for await (const _ of Bun.stdin.stream() as unknown as AsyncIterable<Uint8Array>) return;
  await new Promise(() => {}); // stdin closed without a line: hold forever
}

const parts = (async function* () {
  yield* blocks(0, first);
  console.log("held");
  yield* stdinLine();
  yield* blocks(first, size + Number(extraArg ?? 0));
})();
const body = sendUploadBody(
  { to: [to!], subject: "held upload", body: "its attachment came in two parts", attachments: [{ name: "held.bin", size }] },
  [{ stream: () => parts }],
);
try {
  const r = await new ApiClient(dataDir!).request<{ id: string }>("POST", "/api/send/upload", body, "application/octet-stream");
  console.log(JSON.stringify({ ...r, sha256: hash.digest("hex") }));
} catch (e) {
  console.log(`error: ${e instanceof Error ? e.message : String(e)}`);
  process.exit(1);
}
