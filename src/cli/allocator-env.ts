// The allocator settings of the relay (README "Memory allocator"): Bun's allocator, mimalloc,
// reads its options from the environment once, at start, so `smsg relay` starts itself again
// (execve, same pid) with the setting added when the environment lacks it. A value the person
// set, even empty, is kept as it is.

/**
 * mimalloc gives freed pages back to the system 10 ms after they empty by default; an
 * attachment's 60 KiB buffers then cost page faults each time they come back (bench/README.md,
 * "Attachments: ... the allocator"): about 20 per chunk in each process. One second halves
 * them; five seconds did a little better but held enough freed memory to lift a daemon past
 * its 150 MB target during a 1 GiB transfer. Idle, the pages still go after a second.
 */
export const ALLOCATOR_ENV: Readonly<Record<string, string>> = { MIMALLOC_PURGE_DELAY: "1000" };

/**
 * The commands worth a second start. Not `client`: a second start loads and compiles the
 * program twice, which took a client's start from 3.4 to 5.4-6.0 s on a loaded machine and
 * pushed integration tests that start several clients past their limits; a client is given
 * the setting by its environment (README "Memory allocator").
 */
export const LONG_LIVED_COMMANDS: ReadonlySet<string> = new Set(["relay"]);

/**
 * The program, arguments and environment to start this process again with, or undefined when
 * the environment has the settings already. argv is process.argv; a compiled binary's argv[1] is its embedded entry (/$bunfs/...),
 * which the binary supplies itself.
 */
export function allocatorRestart(
  argv: readonly string[],
  execArgv: readonly string[],
  execPath: string,
  env: Readonly<Record<string, string | undefined>>,
): { file: string; args: string[]; env: Record<string, string> } | undefined {
  const compiled = argv[1]?.startsWith("/$bunfs/") === true;
  const missing = Object.keys(ALLOCATOR_ENV).filter((k) => env[k] === undefined);
  if (missing.length === 0) return undefined;
  const next: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) if (v !== undefined) next[k] = v;
  for (const k of missing) next[k] = ALLOCATOR_ENV[k]!;
  const args = compiled ? [execPath, ...argv.slice(2)] : [execPath, ...execArgv, ...argv.slice(1)];
  return { file: execPath, args, env: next };
}

/** Start again with ALLOCATOR_ENV when it is missing; returns only if no restart was needed or execve failed. */
export function restartWithAllocatorEnv(): void {
  const again = allocatorRestart(process.argv, process.execArgv, process.execPath, process.env);
  if (!again) return;
  try {
    process.execve!(again.file, again.args, again.env);
  } catch {
    // No execve here: this start goes on with the allocator's defaults.
  }
}
