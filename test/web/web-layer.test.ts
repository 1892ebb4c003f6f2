// The loopback pages' shared web layer (src/web/, CLIENT.md §2.3 step 1 and §8.5): the Host
// check, same-origin writes, the session check with its page token, and forms whose failures
// name their fields. Real Hono apps answering real Requests; only the clock is pinned.

import { describe, expect, test } from "bun:test";
import { Hono } from "hono";
import { HTTPException } from "hono/http-exception";
import { z } from "zod";
import { hostCheck, loopbackHosts } from "../../src/web/loopback-host.ts";
import { sameOriginWrites } from "../../src/web/same-origin.ts";
import { Sessions } from "../../src/web/page-sessions.ts";
import { sessionCheck } from "../../src/web/session-check.ts";
import { form, repeated, text } from "../../src/web/form.ts";
import { WebError } from "../../src/web/web-error.ts";

const ORIGIN = "http://127.0.0.1:7";
const HOST = "127.0.0.1:7";

function app(now: () => number) {
  const sessions = new Sessions(now, 8 * 60_000);
  const a = new Hono();
  a.use("*", hostCheck(() => loopbackHosts(7)));
  a.use("*", ...sameOriginWrites());
  a.onError((err, c) => {
    if (err instanceof WebError) return c.json({ error: err.message, fields: err.fields }, err.status);
    return err instanceof HTTPException ? err.getResponse() : c.text("other", 500); // csrf()'s refusal
  });
  a.get("/login", (c) => c.json(sessions.create()));
  a.use(
    "*",
    sessionCheck({
      sessions,
      cookie: () => "s",
      idleMs: () => 60_000,
      eventsPath: "/events",
      shell: (c) => c.text("shell"),
      refuse: (c, alive) => c.text(alive ? "no token" : "no session", 401),
    }),
  );
  a.get("/data", (c) => c.text("data"));
  a.get("/events", (c) => c.text("events"));
  const f = z.object({ to: text.pipe(z.string().min(1, "To is required")), subject: text.pipe(z.string().min(1, "Subject is required")), att: repeated });
  a.post("/send", form(f), (c) => c.json(c.req.valid("form")));
  return a;
}

const post = (body: URLSearchParams, headers: Record<string, string> = {}) =>
  new Request(`${ORIGIN}/send`, { method: "POST", body, headers: { host: HOST, origin: ORIGIN, ...headers } });

describe("the shared web layer", () => {
  test("a foreign Host gets 421 before anything else; any loopback name of the port passes", async () => {
    const a = app(() => 0);
    expect((await a.request("http://evil.example:7/login", { headers: { host: "evil.example:7" } })).status).toBe(421);
    expect((await a.request("http://127.0.0.1:7/login", { headers: { host: "127.0.0.1:8" } })).status).toBe(421);
    for (const h of ["127.0.0.1:7", "localhost:7", "[::1]:7"]) expect((await a.request(`http://${h}/login`, { headers: { host: h } })).status).toBe(200);
  });

  test("a write needs exactly this origin, port included, whatever its content type", async () => {
    const a = app(() => 0);
    const raw = (origin: string) => new Request(`${ORIGIN}/send`, { method: "POST", body: "x", headers: { host: HOST, origin, "content-type": "application/octet-stream" } });
    expect((await a.request(raw("http://127.0.0.1:8"))).status).toBe(403);
    expect((await a.request(post(new URLSearchParams(), { origin: "http://evil.example" }))).status).toBe(403);
  });

  test("a session is the cookie and its token; the page's own requests do not keep it alive", async () => {
    let now = 1_000_000;
    const a = app(() => now);
    const s = (await (await a.request(`${ORIGIN}/login`, { headers: { host: HOST } })).json()) as { id: string; token: string };
    const get = (path: string, h: Record<string, string>) => a.request(`${ORIGIN}${path}`, { headers: { host: HOST, cookie: `s=${s.id}`, ...h } });
    expect(await (await get("/data", { "x-smsg-token": s.token })).text()).toBe("data");
    expect(await (await get("/data", {})).text()).toBe("shell"); // a navigation: no data
    expect(await (await get("/data", { "hx-request": "true" })).text()).toBe("no token");
    expect(await (await get(`/events?token=${s.token}`, {})).text()).toBe("events");
    expect(await (await get("/events", {})).text()).toBe("no token"); // never the shell
    now += 50_000;
    expect((await get("/data", { "x-smsg-token": s.token, "x-smsg-auto": "1" })).status).toBe(200);
    now += 20_000; // 70 s since the last use: the automatic request did not count
    expect(await (await get("/data", { "x-smsg-token": s.token })).text()).toBe("no session");
    // A form post carries the token as `_token`.
    const s2 = (await (await a.request(`${ORIGIN}/login`, { headers: { host: HOST } })).json()) as { id: string; token: string };
    const ok = await a.request(post(new URLSearchParams({ _token: s2.token, to: "bob", subject: "hi" }), { cookie: `s=${s2.id}` }));
    expect(await ok.json()).toEqual({ to: "bob", subject: "hi", att: [] });
    now += 8 * 60_000; // the longest life, used or not
    expect((await a.request(post(new URLSearchParams({ _token: s2.token }), { cookie: `s=${s2.id}` }))).status).toBe(401);
  });

  test("a form's failures are one WebError naming each field; repeated fields are lists", async () => {
    const a = app(() => 0);
    const s = (await (await a.request(`${ORIGIN}/login`, { headers: { host: HOST } })).json()) as { id: string; token: string };
    const bad = await a.request(post(new URLSearchParams({ _token: s.token }), { cookie: `s=${s.id}` }));
    expect(bad.status).toBe(400);
    expect(await bad.json()).toEqual({ error: "To is required Subject is required", fields: { to: "To is required", subject: "Subject is required" } });
    const body = new URLSearchParams([["_token", s.token], ["to", "a"], ["subject", "b"], ["att", "1"], ["att", "2"]]);
    expect(await (await a.request(post(body, { cookie: `s=${s.id}` }))).json()).toEqual({ to: "a", subject: "b", att: ["1", "2"] });
  });
});
