// The Host check of every loopback web server of smsg (CLIENT.md §2.3 step 1, SECURITY.md §9
// "DNS rebinding"): the mailbox with its API, and the relay's admin page. A page on
// evil.example that re-points its name to 127.0.0.1 still sends `Host: evil.example:P`.

import type { MiddlewareHandler } from "hono";
import { WebError } from "./web-error.ts";

/** The only Host values a loopback listener on `port` answers. */
export function loopbackHosts(port: number): Set<string> {
  return new Set([`127.0.0.1:${port}`, `localhost:${port}`, `[::1]:${port}`]);
}

/** Refuses (421, before anything else runs) a request whose Host is not one of `hosts()`. */
export function hostCheck(hosts: () => Set<string>): MiddlewareHandler {
  return async (c, next) => {
    if (!hosts().has(c.req.header("host") ?? "")) throw new WebError(421, "foreign Host header refused");
    await next();
  };
}
