// The mailbox's static files, imported as files so that `bun build --compile` embeds them
// (their values are paths: real ones from source, embedded ones in a binary). TypeScript
// cannot type an import of a non-module file, hence the ts-ignore on each.

// @ts-ignore -- a Bun file import: the value is the file's path
import htmxJs from "htmx.org/dist/htmx.min.js" with { type: "file" };
// @ts-ignore -- a Bun file import: the value is the file's path
import appJs from "./assets/app.js" with { type: "file" };
// @ts-ignore -- a Bun file import: the value is the file's path
import sessionJs from "./assets/session.js" with { type: "file" };
// @ts-ignore -- a Bun file import: the value is the file's path
import appCss from "./assets/app.css" with { type: "file" };
// @ts-ignore -- a Bun file import: the value is the file's path
import sound from "./assets/new-message.wav" with { type: "file" };

export const ASSETS: Record<string, { path: string; type: string }> = {
  "htmx.min.js": { path: htmxJs as string, type: "text/javascript; charset=utf-8" },
  "app.js": { path: appJs as string, type: "text/javascript; charset=utf-8" },
  "session.js": { path: sessionJs as string, type: "text/javascript; charset=utf-8" },
  "app.css": { path: appCss as string, type: "text/css; charset=utf-8" },
  "new-message.wav": { path: sound as string, type: "audio/wav" },
};
