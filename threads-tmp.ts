import { readdirSync, readFileSync, mkdtempSync } from "node:fs";
import { resolve, join } from "node:path";
import { tmpdir } from "node:os";
import { driveWorkers } from "./bench/lib/drive.ts";
import { freePort } from "./bench/lib/procs.ts";
import { startRelayProcess } from "./bench/lib/relay-process.ts";
import { makeUsers, registerUsers } from "./bench/lib/users.ts";
function threads(pid: number): Map<string, number> {
  const m = new Map<string, number>();
  for (const t of readdirSync(`/proc/${pid}/task`)) {
    try {
      const stat = readFileSync(`/proc/${pid}/task/${t}/stat`, "utf8");
      const comm = stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")"));
      const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      const ticks = Number(f[11]) + Number(f[12]);
      const key = t === String(pid) ? "main" : comm;
      m.set(key, (m.get(key) ?? 0) + ticks);
    } catch {}
  }
  return m;
}
const data = mkdtempSync(join(tmpdir(), "hs-thr-"));
const users = makeUsers("h", 200);
registerUsers(data, users);
const relay = await startRelayProcess({ dataDir: data, port: freePort() });
const cfg = Array.from({ length: 2 }, (_, i) => ({ t: "config", mode: "smsg", host: "127.0.0.1", port: relay.port, users: users.filter((_, j) => j % 2 === i), concurrency: 16 }));
const t0 = threads(relay.child.pid);
const r = await driveWorkers("x", resolve(import.meta.dir, "bench/workers/login-churn.ts"), cfg, { warmupMs: 500, measureMs: 5000 }, relay.child.pid);
const t1 = threads(relay.child.pid);
const logins = r.rate * 5.5;
console.log(`rate ${r.rate.toFixed(0)}/s relay ${r.serverCpuUs.toFixed(0)} us (user ${r.serverUserUs.toFixed(0)}) gen ${r.generatorCpuUs.toFixed(0)}`);
for (const [k, v] of t1) { const d = v - (t0.get(k) ?? 0); if (d > 0) console.log(`  ${k.padEnd(20)} ${((d * 10000) / logins).toFixed(1)} us/login (approx)`); }
await relay.stop();
