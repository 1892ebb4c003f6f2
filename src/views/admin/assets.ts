// The admin page's static files, imported as files so that `bun build --compile`
// embeds them: the value is a real path from source and an embedded one in a binary.

// @ts-ignore -- a Bun file import: the value is the file's path
import htmxJs from "htmx.org/dist/htmx.min.js" with { type: "file" };
// @ts-ignore -- a Bun file import: the value is the file's path
import sessionJs from "../assets/session.js" with { type: "file" };
// @ts-ignore -- a Bun file import: the value is the file's path
import adminCss from "./admin.css" with { type: "file" };

export const ADMIN_ASSETS: Record<string, { path: string; type: string }> = {
  "htmx.min.js": { path: htmxJs as string, type: "text/javascript; charset=utf-8" },
  "session.js": { path: sessionJs as string, type: "text/javascript; charset=utf-8" },
  "admin.css": { path: adminCss as string, type: "text/css; charset=utf-8" },
};
