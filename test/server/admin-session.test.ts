// The admin page's session life (SPEC.md §10, SECURITY.md §12): the cookie and the page
// token together, 1 h without use, 8 h at most, and the panels' own refreshes are not use.
// The real admin app over a real relay.db; only the relay core's clock is pinned.

import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Directory } from "../../src/server/directory.ts";
import { adminApp, createAdminLogin } from "../../src/server/admin.ts";
import { loopbackHosts } from "../../src/web/loopback-host.ts";
import { streamLog } from "../../src/server/log.ts";
import type { RelayCore } from "../../src/server/relay-core.ts";

const dir = mkdtempSync(join(tmpdir(), "smsg-admin-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("admin session", () => {
  test("lapses after 1 h without use and 8 h after the login; self-refreshes do not count", async () => {
    const d = new Directory(join(dir, "relay.db"));
    let now = 1_000_000_000;
    const core = { directory: d, now: () => now } as unknown as RelayCore; // only these two are used by these routes
    const app = adminApp(
      { core, log: streamLog(() => {}), relayKey: "k", listen: [], logFile: () => join(dir, "none.log"), startedAt: now },
      () => loopbackHosts(1),
    );
    const req = (path: string, headers: Record<string, string> = {}) => app.request(`http://127.0.0.1:1${path}`, { headers: { host: "127.0.0.1:1", ...headers } });
    const login = async () => {
      const r = await req(`/login?token=${createAdminLogin(d, now, 60_000)}`);
      expect(r.status).toBe(303);
      return { cookie: r.headers.get("set-cookie")!.split(";")[0]!, token: r.headers.get("location")!.replace("/#t=", "") };
    };
    const pending = (s: { cookie: string; token: string }, auto = false) =>
      req("/fragments/pending", { cookie: s.cookie, "x-smsg-token": s.token, "hx-request": "true", ...(auto ? { "x-smsg-auto": "1" } : {}) });
    const minutes = (n: number) => (now += n * 60_000);

    const a = await login();
    expect((await pending(a)).status).toBe(200);
    expect((await pending({ ...a, token: "" })).status).toBe(401); // the cookie alone
    for (let i = 0; i < 6; i++) {
      minutes(10);
      expect((await pending(a, true)).status).toBe(200); // the panels refresh themselves
    }
    minutes(1); // 61 min since the last use
    expect((await pending(a)).status).toBe(401);

    const b = await login();
    for (let i = 0; i < 8; i++) {
      minutes(55);
      expect((await pending(b)).status).toBe(200); // used all along: alive up to 8 h (7 h 20 min here)
    }
    minutes(50); // 8 h 10 min after the login, 50 min after the last use
    expect((await pending(b)).status).toBe(401);
    d.close();
  });
});
