// The security headers of the pages smsg serves on loopback: the mailbox (CLIENT.md §2.5) and
// the relay's admin page. One policy for both: nothing from elsewhere, no inline script, no
// framing; each page names only what it adds (the mailbox's data: icons and its sound).

import { secureHeaders } from "hono/secure-headers";

export function pageHeaders(extra: { imgSrc?: string[]; mediaSrc?: string[] } = {}) {
  return secureHeaders({
    contentSecurityPolicy: {
      defaultSrc: ["'none'"],
      scriptSrc: ["'self'"],
      styleSrc: ["'self'"],
      imgSrc: ["'self'", ...(extra.imgSrc ?? [])],
      ...(extra.mediaSrc ? { mediaSrc: extra.mediaSrc } : {}),
      connectSrc: ["'self'"],
      formAction: ["'self'"],
      frameAncestors: ["'none'"],
      baseUri: ["'none'"],
    },
    // Not no-referrer: under it a browser sends `Origin: null` on the page's own form posts,
    // and the Origin check needs the exact origin (port included). Nothing goes elsewhere.
    referrerPolicy: "same-origin",
    crossOriginResourcePolicy: "same-origin",
  });
}
