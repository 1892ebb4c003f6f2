// The Unlock page's guard against guessing (CLIENT.md §2.5 "Unlock", SECURITY.md §9): one
// attempt at a time (parallel guesses would all run), and a wrong one costs an argon2id and
// then a wait of min(30 s, 250 ms x 2^min(n, 7)) after the n-th failure in a row.

export class UnlockThrottle {
  #failures = 0;
  #until = 0;
  busy = false;

  allowed(now: number): boolean {
    return now >= this.#until;
  }

  failed(now: number): void {
    this.#failures++;
    this.#until = now + Math.min(30_000, 250 * 2 ** Math.min(this.#failures, 7));
  }

  ok(): void {
    this.#failures = 0;
    this.#until = 0;
  }
}
