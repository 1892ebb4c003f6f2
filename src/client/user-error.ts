// A request the daemon refuses for a reason the person can act on (CLIENT.md §2.3): the local
// API and the mailbox answer with its message and HTTP status, the CLI prints the message.

export class UserError extends Error {
  readonly status: 400 | 403 | 404 | 409 | 423 | 503;
  constructor(message: string, status: 400 | 403 | 404 | 409 | 423 | 503 = 400) {
    super(message);
    this.status = status;
  }
}
