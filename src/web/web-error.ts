// The one error type of the loopback web layer (CLIENT.md §2.3, §8.5-§8.7), in the manner of
// Hono's HTTPException: a status, one sentence, and the form fields it belongs to, so a page
// can show each sentence beside its field without reading the sentence. Each app's onError
// renders it in its own format (the API as JSON, the pages as text or a form shown again).

import { HTTPException } from "hono/http-exception";
import type { ContentfulStatusCode } from "hono/utils/http-status";

/** Field name -> sentence. `form` is the form as a whole (shown above it). */
export type FieldErrors = Record<string, string>;

export class WebError extends HTTPException {
  readonly fields: FieldErrors;

  constructor(status: ContentfulStatusCode, message: string, fields: FieldErrors = {}) {
    super(status, { message });
    this.fields = fields;
  }

  /** One sentence that belongs to one field. */
  static field(status: ContentfulStatusCode, field: string, message: string): WebError {
    return new WebError(status, message, { [field]: message });
  }
}
