/** @jsxImportSource hono/jsx */
// The message list's flags (CLIENT.md §2.1): each carries its meaning on hover, and sent lists
// have a legend under them, W ("waiting at the relay", SPEC.md §12) among them.

import { describe, expect, test } from "bun:test";
import { MessageList, type ListItem } from "../../src/views/message-list.tsx";

const item = (flags: string): ListItem => ({ id: "ab".repeat(16), from: "alice", to: ["bob"], subject: "s", date: 0, flags, attachments: 0 });
const render = (folder: "inbox" | "outbox", flags: string): string => String(<MessageList folder={folder} items={[item(flags)]} page={0} more={false} q="" />);

describe("message list flags", () => {
  test("W shows its meaning on hover and in the Outbox's legend", () => {
    const html = render("outbox", "W");
    expect(html).toContain('<span class="flag flag-W" title="waiting at the relay">W</span>');
    const legend = html.slice(html.indexOf('<p class="legend">'));
    expect(legend).toContain("waiting at the relay");
    for (const f of ["S", "Q", "W", "H", "F"]) expect(legend).toContain(`<span class="flag flag-${f}">${f}</span>`);
  });

  test("the Inbox has no legend of sent flags", () => {
    expect(render("inbox", "U")).not.toContain('class="legend"');
  });
});
