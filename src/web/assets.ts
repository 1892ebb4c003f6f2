// Serving a page's own static files (CLIENT.md §2.5–§2.6: no CDN, the pages work offline):
// a fixed table of names, each a file embedded by `bun build --compile` and its type.

import type { Handler } from "hono";

export type AssetTable = Record<string, { path: string; type: string }>;

/** `GET /assets/:name`: a file of the table, `no-cache`, or 404 for any other name. */
export function assetRoute(table: AssetTable): Handler {
  return (c) => {
    const a = table[c.req.param("name") ?? ""];
    if (!a) return c.notFound();
    return new Response(Bun.file(a.path), { headers: { "content-type": a.type, "cache-control": "no-cache" } });
  };
}
