// `smsg demo --cluster`: a NATS server, two relay nodes, alice and bob on
// different nodes, mail between them; without nats-server, one sentence.

import { afterAll, expect, test } from "bun:test";
import { Proc, Scratch, cli, inbox, ok, waitFor } from "../support/harness.ts";

const s = new Scratch();
afterAll(() => s.cleanup());

test("the cluster demo: alice on node1 writes to bob on node2", async () => {
  const demo = s.track(new Proc("demo", ["demo", "--cluster"]));
  const alice = (await demo.line(/^alice: .* data (\S+)  on node1/, 40_000))[1]!;
  const bob = (await demo.line(/^bob: .* data (\S+)  on node2/, 40_000))[1]!;
  await demo.line(/^relay cluster: node1 127\.0\.0\.1:\d+, node2 127\.0\.0\.1:\d+ on NATS nats:\/\/127\.0\.0\.1:\d+/);
  await waitFor("alice to see bob", async () => (JSON.parse(await ok(["users", "--data", alice, "--json"])) as string[]).includes("bob"));
  const id = (await ok(["send", "--data", alice, "--to", "bob", "--subject", "hello across", "--body", "hi"])).match(/[0-9a-f]{32}/)![0]!;
  await waitFor("bob to receive it", async () => (await inbox(bob)).find((m) => m.id === id));
  expect(await demo.stop("SIGTERM")).toBe(0);
}, 90_000);

test("without nats-server, one sentence", async () => {
  const r = await cli(["demo", "--cluster"], { PATH: "/nonexistent" });
  expect(r.code).toBe(1);
  expect(r.stderr.trim()).toBe("smsg: smsg demo --cluster needs nats-server, which is not installed (Debian: apt-get install nats-server)");
});
