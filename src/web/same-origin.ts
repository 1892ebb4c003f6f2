// Writes come only from the page's own origin (CLIENT.md §2.5 steps 3-4, SECURITY.md §9
// "CSRF"): Hono's csrf() for form and text bodies, then an exact Origin check for every
// unsafe method whatever its content type (csrf() leaves the raw upload alone). A page on
// another port of 127.0.0.1 is the same site, so SameSite cookies alone do not stop it.

import type { MiddlewareHandler } from "hono";
import { csrf } from "hono/csrf";
import { WebError } from "./web-error.ts";

const SAFE_METHODS = new Set(["GET", "HEAD", "OPTIONS"]);

/** `Origin` must be exactly `http://` + Host (scheme, host and port) on anything that can change something. */
export function exactOrigin(): MiddlewareHandler {
  return async (c, next) => {
    if (!SAFE_METHODS.has(c.req.method) && c.req.header("origin") !== `http://${c.req.header("host")}`) throw new WebError(403, "Forbidden");
    await next();
  };
}

/** Both checks, in their order. */
export const sameOriginWrites = (): MiddlewareHandler[] => [csrf(), exactOrigin()];
