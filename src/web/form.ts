// Form posts of the loopback pages (CLIENT.md §2.6–§2.7), read the Hono way: a zod schema per
// form through zValidator("form"). A field that fails becomes a WebError carrying that field,
// so the page shows the sentence beside it. Repeated fields (`att`) arrive as an array, a
// single one as a string: `repeated` reads both as an array.

import type { Context } from "hono";
import { zValidator } from "@hono/zod-validator";
import { z } from "zod";
import { WebError, type FieldErrors } from "./web-error.ts";

/** A form field that may appear any number of times, as a list (absent: empty). */
export const repeated = z
  .union([z.string(), z.array(z.string())])
  .optional()
  .transform((v) => (v === undefined ? [] : typeof v === "string" ? [v] : v));

/** A form field read as text: absent (or repeated, which no page of ours sends) is "". */
export const text = z.string().catch("");

/**
 * zValidator("form", schema). A failure is a 400 WebError naming each failed field (its first
 * sentence), thrown to the app's onError, or answered by `invalid` (a form shown again).
 */
export function form<T extends z.ZodType>(schema: T, invalid?: (err: WebError, c: Context) => Response | Promise<Response>) {
  return zValidator("form", schema, (result, c) => {
    if (result.success) return undefined;
    const fields: FieldErrors = {};
    for (const i of result.error.issues) fields[i.path.length > 0 ? String(i.path[0]) : "form"] ??= i.message;
    const err = new WebError(400, Object.values(fields).join(" "), fields);
    if (invalid) return invalid(err, c);
    throw err;
  });
}
