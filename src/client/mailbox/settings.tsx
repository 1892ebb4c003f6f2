/** @jsxImportSource hono/jsx */
// The mailbox's Settings page (CLIENT.md §2.7 "Settings"): sound, posting style, idle time,
// the message window's return and the notifications' detail. A number out of its range
// keeps the current value; a checkbox is on only when sent as `on`.

import { Hono } from "hono";
import { z } from "zod";
import { SettingsPage } from "../../views/settings.tsx";
import { form } from "../../web/form.ts";
import { page, type Mailbox } from "./context.tsx";
import { UserError } from "../user-error.ts";

const checkbox = z.unknown().optional().transform((v) => v === "on");
/** An integer in [min, max], or undefined (then the current value stays). */
const between = (min: number, max: number) =>
  z.unknown().optional().transform((v) => {
    const n = Number(v);
    return Number.isInteger(n) && n >= min && n <= max ? n : undefined;
  });

const passwordForm = z.object({
  password: z.string().min(1),
  newPassword: z.string().min(1),
  newPasswordAgain: z.string(),
});

const settingsForm = z.object({
  sound: checkbox,
  posting: z.unknown().optional().transform((v): "top" | "bottom" => (v === "bottom" ? "bottom" : "top")),
  idleLockMinutes: between(1, 1440),
  popupReturnSeconds: between(1, 3600),
  notificationDetails: checkbox,
});

export function settingsRoutes(m: Mailbox): Hono {
  const { host } = m;
  const app = new Hono();

  app.get("/settings", (c) => page(m, c, "settings", "Settings", <SettingsPage settings={host.daemon.settings()} saved={c.req.query("saved") === "1"} />));

  app.post("/settings", form(settingsForm), (c) => {
    const f = c.req.valid("form");
    const cur = host.daemon.settings();
    host.daemon.saveSettings({
      sound: f.sound,
      posting: f.posting,
      idleLockMinutes: f.idleLockMinutes ?? cur.idleLockMinutes,
      popupReturnSeconds: f.popupReturnSeconds ?? cur.popupReturnSeconds,
      notificationDetails: f.notificationDetails,
    });
    return c.redirect("/settings?saved=1", 303);
  });

  // A password change (CLIENT.md §1.6): on success every browser session ends (the lock
  // event), so this one goes to Unlock, where only the new password works.
  app.post("/settings/password", form(passwordForm), async (c) => {
    const f = c.req.valid("form");
    const again = (error: string, status: 400 | 403 | 409 | 503) =>
      page(m, c, "settings", "Settings", <SettingsPage settings={host.daemon.settings()} saved={false} passwordError={error} />, status);
    if (f.newPassword !== f.newPasswordAgain) return again("the two new passwords differ.", 400);
    try {
      await host.changePassword(f.password, f.newPassword);
    } catch (e) {
      if (e instanceof UserError) return again(`${e.message}.`, e.status === 404 || e.status === 423 ? 409 : e.status);
      throw e;
    }
    return c.redirect("/", 303);
  });

  return app;
}
