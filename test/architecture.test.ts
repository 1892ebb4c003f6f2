// The shape of src/ (STYLE.md "Layout"): no import cycles, and each folder imports only
// inward. Reads the import and re-export statements of every file under src/, type-only
// ones included: a type import still ties two files' designs together. Every rule is strict:
// a test names the offending edges, so its failure says which import to move.

import { describe, expect, test } from "bun:test";
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";

const ROOT = resolve(import.meta.dir, "..");
const SRC = join(ROOT, "src");

type Edge = `${string} -> ${string}`;

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = join(dir, e.name);
    if (e.isDirectory()) return sourceFiles(p);
    return /\.tsx?$/.test(e.name) ? [p] : [];
  });
}

/** The module specifiers a file names: `import ... from`, `export ... from`, `import "x"`, `import("x")`. */
export function specifiers(text: string): string[] {
  const code = text.replace(/\/\*[\s\S]*?\*\//g, "").replace(/^\s*\/\/.*$/gm, "");
  const out: string[] = [];
  const patterns = [
    /(?:^|[;\n])\s*(?:import|export)\s+(?:type\s+)?[\w*{}\s,$]*?\s*from\s*["']([^"']+)["']/g,
    /(?:^|[;\n])\s*import\s*["']([^"']+)["']/g,
    /\bimport\s*\(\s*["']([^"']+)["']\s*\)/g,
  ];
  for (const re of patterns) for (const m of code.matchAll(re)) out.push(m[1]!);
  return out;
}

/** Edges between files of src/, as paths relative to src/ ("server/admin.ts"). */
function importGraph(): Map<string, Set<string>> {
  const graph = new Map<string, Set<string>>();
  for (const file of sourceFiles(SRC)) {
    const from = relative(SRC, file);
    const to = new Set<string>();
    for (const spec of specifiers(readFileSync(file, "utf8"))) {
      if (!spec.startsWith(".")) continue; // packages and bun: modules
      const target = relative(SRC, resolve(dirname(file), spec));
      if (!target.startsWith("..")) to.add(target);
    }
    graph.set(from, to);
  }
  return graph;
}

/** Tarjan's strongly connected components with more than one file (or a file importing itself). */
function cycles(graph: Map<string, Set<string>>): string[][] {
  let next = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  const visit = (v: string): void => {
    index.set(v, next);
    low.set(v, next++);
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) !== index.get(v)) return;
    const scc: string[] = [];
    let w: string;
    do {
      w = stack.pop()!;
      onStack.delete(w);
      scc.push(w);
    } while (w !== v);
    if (scc.length > 1 || graph.get(v)?.has(v)) found.push(scc.sort());
  };
  for (const v of [...graph.keys()].sort()) if (!index.has(v)) visit(v);
  return found.sort((a, b) => a[0]!.localeCompare(b[0]!));
}

/** Every edge from a file under `from` to a file under one of `forbidden`. */
function offending(graph: Map<string, Set<string>>, from: string, forbidden: string[]): Edge[] {
  const out: Edge[] = [];
  for (const [a, targets] of graph) {
    if (!a.startsWith(`${from}/`)) continue;
    for (const b of targets) if (forbidden.some((f) => b.startsWith(`${f}/`))) out.push(`${a} -> ${b}`);
  }
  return out.sort();
}

const graph = importGraph();
const sccs = cycles(graph);

describe("the import checker itself", () => {
  test("reads every form of import and re-export a file of ours uses", () => {
    const text = [
      'import { a, type B } from "./one.ts";',
      "import type {\n  C,\n  D,\n} from './two.ts';",
      'import * as e from "../three.ts";',
      'export { f } from "./four.ts";',
      'export * from "./five.ts";',
      'import "./six.ts";',
      'const g = await import("./seven.ts");',
      '// import { h } from "./commented.ts";',
      '/* import { i } from "./blocked.ts"; */',
      'const s = "from \\"./not-an-import.ts\\"";',
    ].join("\n");
    expect(specifiers(text).sort()).toEqual(["../three.ts", "./five.ts", "./four.ts", "./one.ts", "./seven.ts", "./six.ts", "./two.ts"]);
  });

  test("finds a cycle, and only the files on it", () => {
    const g = new Map<string, Set<string>>([
      ["a.ts", new Set(["b.ts"])],
      ["b.ts", new Set(["c.ts", "d.ts"])],
      ["c.ts", new Set(["a.ts"])],
      ["d.ts", new Set<string>()],
      ["e.ts", new Set(["e.ts"])],
    ]);
    expect(cycles(g)).toEqual([["a.ts", "b.ts", "c.ts"], ["e.ts"]]);
  });

  test("names every edge from a folder into a forbidden one", () => {
    const g = new Map<string, Set<string>>([
      ["views/x.tsx", new Set(["client/y.ts", "views/z.ts"])],
      ["client/y.ts", new Set(["views/z.ts"])],
    ]);
    expect(offending(g, "views", ["client", "server"])).toEqual(["views/x.tsx -> client/y.ts"]);
  });

  test("finds the files and edges of src/", () => {
    expect(graph.get("server/relay.ts")).toContain("server/relay-core.ts");
    expect(graph.size).toBeGreaterThan(50);
  });
});

describe("no import cycles in src/", () => {
  test("no file of src/ is on an import cycle", () => {
    expect(sccs).toEqual([]);
  });
});

describe("each folder imports only inward", () => {
  test("src/protocol imports nothing from src/server, src/client or src/net", () => {
    expect(offending(graph, "protocol", ["server", "client", "net"])).toEqual([]);
  });

  test("src/server imports nothing from src/client or src/ctrl", () => {
    expect(offending(graph, "server", ["client", "ctrl"])).toEqual([]);
  });

  test("src/web (the loopback pages' shared layer) imports nothing from src/client, src/server, src/ctrl or src/views", () => {
    expect(offending(graph, "web", ["client", "server", "ctrl", "views"])).toEqual([]);
  });

  test("src/ctrl imports nothing from src/client", () => {
    expect(offending(graph, "ctrl", ["client"])).toEqual([]);
  });

  test("src/views imports nothing from src/client or src/server", () => {
    // Views receive data as props (STYLE.md "Views"): the shapes they show live in src/views.
    expect(offending(graph, "views", ["client", "server"])).toEqual([]);
  });
});
