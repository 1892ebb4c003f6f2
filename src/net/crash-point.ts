// Test hook for the password change's crash tests (CLIENT.md §1.6): SMSG_TEST_CRASH_AT=STEP
// makes the process kill itself with SIGKILL when it reaches STEP, exactly as `kill -9`
// would at that instant: no handler runs, nothing is flushed beyond what is already on disk.

export function crashPoint(step: string): void {
  if (process.env.SMSG_TEST_CRASH_AT === step) process.kill(process.pid, "SIGKILL");
}
