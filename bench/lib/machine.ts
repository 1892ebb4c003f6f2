// What machine a run was on: a ratio travels between machines, an absolute time does not,
// so every table says where its numbers came from and how busy the machine was.

import { cpus, freemem, loadavg, totalmem } from "node:os";
import { readFileSync } from "node:fs";

export interface Machine {
  nproc: number;
  cpu: string;
  memoryGiB: number;
  freeGiB: number;
  loadavg: number[];
  bun: string;
  kernel: string;
}

export function describeMachine(): Machine {
  let cpu = cpus()[0]?.model ?? "unknown";
  try {
    cpu = /model name\s*:\s*(.*)/.exec(readFileSync("/proc/cpuinfo", "utf8"))?.[1]?.trim() ?? cpu;
  } catch {
    // not Linux: the os module's name will do
  }
  let kernel = "";
  try {
    kernel = readFileSync("/proc/sys/kernel/osrelease", "utf8").trim();
  } catch {
    kernel = process.platform;
  }
  return {
    nproc: navigator.hardwareConcurrency,
    cpu,
    memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    freeGiB: Math.round((freemem() / 2 ** 30) * 10) / 10,
    loadavg: loadavg().map((l) => Math.round(l * 100) / 100),
    bun: Bun.version,
    kernel,
  };
}

export function machineLine(m: Machine): string {
  return `machine: ${m.nproc} cores (${m.cpu}), ${m.memoryGiB} GiB memory (${m.freeGiB} free), load ${m.loadavg.join(" ")}, bun ${m.bun}, linux ${m.kernel}`;
}
