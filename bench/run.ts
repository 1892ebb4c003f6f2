// `npm run bench`: every figure with its baselines, measured in this one run on
// this machine, printed as a table; `--json FILE` writes the rows, `--quick` is a
// seconds-long smoke run of the same harness (CI uses it; its numbers mean nothing),
// `--only relay,seal,...` runs some figures. See bench/README.md.

import { writeFileSync } from "node:fs";
import { attachmentRows } from "./figures/attachment.ts";
import { clusterRows } from "./figures/cluster.ts";
import { connectionsRows } from "./figures/connections.ts";
import { handshakeRows } from "./figures/handshake.ts";
import { longPathRows } from "./figures/long-path.ts";
import { mailboxRows } from "./figures/mailbox.ts";
import { offlineRows } from "./figures/offline.ts";
import { relayRateRows } from "./figures/relay-rate.ts";
import { sealRows } from "./figures/seal.ts";
import { BenchContext } from "./lib/context.ts";
import { describeMachine, machineLine } from "./lib/machine.ts";
import type { Row } from "./lib/row.ts";
import { formatTable } from "./lib/table.ts";

const FIGURES = ["relay", "seal", "connections", "handshake", "attachment", "long-path", "mailbox", "offline", "cluster"] as const;
type Figure = (typeof FIGURES)[number];

function parseArgs(argv: string[]): { quick: boolean; json?: string; only: Figure[] } {
  let quick = false;
  let json: string | undefined;
  let only: Figure[] = [...FIGURES];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === "--quick") quick = true;
    else if (a === "--json") {
      json = argv[++i];
      if (!json) throw new Error("--json needs a file name");
    } else if (a === "--only") {
      const list = (argv[++i] ?? "").split(",");
      const bad = list.filter((f) => !(FIGURES as readonly string[]).includes(f));
      if (bad.length || list.length === 0) throw new Error(`--only takes a list of ${FIGURES.join(",")}`);
      only = list as Figure[];
    } else if (a === "--help" || a === "-h") {
      console.log("usage: bun bench/run.ts [--quick] [--json FILE] [--only relay,seal,connections,handshake,attachment,long-path,mailbox,offline,cluster]");
      process.exit(0);
    } else throw new Error(`unknown argument ${a}`);
  }
  return { quick, json, only };
}

const args = parseArgs(process.argv.slice(2));
const machine = describeMachine();
const ctx = new BenchContext(args.quick);
const rows: Row[] = [];
const started = performance.now();
ctx.log(`${args.quick ? "quick" : "full"} run: ${args.only.join(", ")}`);
ctx.log(machineLine(machine));
try {
  let relayRate: number | null = null;
  for (const f of args.only) {
    switch (f) {
      case "relay": {
        const r = await relayRateRows(ctx);
        relayRate = r.relayRate;
        rows.push(...r.rows);
        break;
      }
      case "seal":
        rows.push(...(await sealRows(ctx, relayRate)));
        break;
      case "connections":
        rows.push(...(await connectionsRows(ctx)));
        break;
      case "handshake":
        rows.push(...(await handshakeRows(ctx)));
        break;
      case "attachment":
        rows.push(...(await attachmentRows(ctx)));
        break;
      case "long-path":
        rows.push(...(await longPathRows(ctx)));
        break;
      case "mailbox":
        rows.push(...(await mailboxRows(ctx)));
        break;
      case "offline":
        rows.push(...(await offlineRows(ctx)));
        break;
      case "cluster":
        rows.push(...(await clusterRows(ctx)));
        break;
    }
  }
} finally {
  ctx.cleanup();
}

const seconds = (performance.now() - started) / 1000;
console.log(machineLine({ ...machine, loadavg: describeMachine().loadavg }));
console.log(`${args.quick ? "quick" : "full"} run, ${seconds.toFixed(0)} s${args.quick ? " (smoke test only: these numbers mean nothing)" : ""}\n`);
console.log(formatTable(rows));
const missed = rows.filter((r) => r.met === false);
console.log(`\n${rows.filter((r) => r.met === true).length} targets met, ${missed.length} missed${missed.length ? ": " + missed.map((r) => r.name).join("; ") : ""}`);
if (args.json) writeFileSync(args.json, JSON.stringify(rows, null, 2) + "\n");
// Children are stopped; an IPC channel or timer left open must not keep the runner alive.
process.exit(0);
