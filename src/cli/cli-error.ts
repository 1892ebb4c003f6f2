// The error of the command line (STYLE.md "Errors"): an expected failure a user of the CLI
// is told in one sentence, exit 1, no stack trace. Command code in ctrl/ and client/ throws
// it; the entry points (main.ts, relay-command.ts, ctrl-command.ts) catch it. It imports
// nothing, so any layer that speaks to a person can throw it without tying itself to another.

export class CliError extends Error {}
