// What every figure gets from the runner: the run's size (full or quick), a scratch folder
// removed at the end, and a progress log on stderr (the table goes to stdout).

import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export class BenchContext {
  readonly quick: boolean;
  readonly root: string;
  #n = 0;

  constructor(quick: boolean) {
    this.quick = quick;
    this.root = mkdtempSync(join(tmpdir(), "smsg-bench-"));
  }

  /** A fresh folder under the scratch root. */
  dir(name: string): string {
    const d = join(this.root, `${++this.#n}-${name}`);
    mkdirSync(d, { recursive: true, mode: 0o700 });
    return d;
  }

  log(line: string): void {
    process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${line}\n`);
  }

  cleanup(): void {
    rmSync(this.root, { recursive: true, force: true });
  }
}
