/** @jsxImportSource hono/jsx */
// The mailbox's session routes (CLIENT.md §2.5 "Unlock", §8.6): Unlock, which turns the
// password into a browser session (cookie + page token), and Lock, which ends every one.

import { Hono } from "hono";
import { deleteCookie, setCookie } from "hono/cookie";
import { z } from "zod";
import { UserError } from "../user-error.ts";
import { WrongPasswordError } from "../store.ts";
import { UnlockPage } from "../../views/unlock.tsx";
import { form, text } from "../../web/form.ts";
import { UnlockThrottle } from "./unlock-throttle.ts";
import type { Mailbox } from "./context.tsx";

const unlockForm = z.object({ password: text });

/** `GET /unlock` and `POST /unlock`: no session needed. */
export function unlockRoutes(m: Mailbox): Hono {
  const { host, sessions } = m;
  const throttle = new UnlockThrottle();
  const app = new Hono();

  app.get("/unlock", (c) => c.html(<UnlockPage user={host.user} daemonLocked={!host.unlocked} />));

  app.post("/unlock", form(unlockForm), async (c) => {
    const now = Date.now();
    const { password } = c.req.valid("form");
    const again = (error: string, status: 401 | 409 | 429) => c.html(<UnlockPage user={host.user} daemonLocked={!host.unlocked} error={error} />, status);
    if (throttle.busy) return again("Another unlock is in progress: try again in a moment.", 429);
    if (!throttle.allowed(now)) return again("Too many wrong passwords: wait a few seconds and try again.", 429);
    if (password === "") return again("Enter your password.", 401);
    throttle.busy = true;
    try {
      await host.unlock(password, { mayCreate: false });
    } catch (e) {
      if (e instanceof WrongPasswordError || (e instanceof UserError && e.status === 403)) {
        throttle.failed(Date.now());
        return again("Wrong password.", 401);
      }
      if (e instanceof UserError) return again(e.message, e.status === 409 ? 409 : 401);
      throw e;
    } finally {
      throttle.busy = false;
    }
    throttle.ok();
    const s = sessions.create();
    setCookie(c, m.cookie(), s.id, { httpOnly: true, sameSite: "Strict", path: "/" });
    // The token reaches the page in the fragment, which no request ever carries (session.js).
    return c.redirect(`/inbox#t=${s.token}`, 303);
  });

  return app;
}

/** `POST /lock`: behind the session check. */
export function lockRoutes(m: Mailbox): Hono {
  const app = new Hono();
  app.post("/lock", (c) => {
    m.host.lock(); // every browser session, as the tray's Lock does
    deleteCookie(c, m.cookie(), { path: "/" });
    return c.redirect("/unlock", 303);
  });
  return app;
}
