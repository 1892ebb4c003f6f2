/** @jsxImportSource hono/jsx */
// The mailbox's Settings page (CLIENT.md §2.7 "Settings"): sound, posting style, idle time,
// the message window's return and the notifications' detail. A number out of its range
// keeps the current value; a checkbox is on only when sent as `on`.

import { Hono } from "hono";
import { z } from "zod";
import { SettingsPage } from "../../views/settings.tsx";
import { form } from "../../web/form.ts";
import { page, type Mailbox } from "./context.tsx";

const checkbox = z.unknown().optional().transform((v) => v === "on");
/** An integer in [min, max], or undefined (then the current value stays). */
const between = (min: number, max: number) =>
  z.unknown().optional().transform((v) => {
    const n = Number(v);
    return Number.isInteger(n) && n >= min && n <= max ? n : undefined;
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

  return app;
}
