// Where the client looks for its relay (relay-addresses.ts): every address of a list and of
// a name with several records, in random order, the one that just failed last.

import { describe, expect, test } from "bun:test";
import { candidates } from "../../src/client/relay-addresses.ts";

const lookup = async (name: string): Promise<string[]> => {
  if (name === "relays.example") return ["192.0.2.1", "192.0.2.2", "2001:db8::3"];
  if (name === "one.example") return ["192.0.2.9"];
  throw new Error("ENOTFOUND");
};

describe("relay addresses", () => {
  test("a name with several A/AAAA records means each; a list means each entry; a name with one record stays a name", async () => {
    const c = await candidates([{ host: "relays.example", port: 7443 }, { host: "one.example", port: 7000 }, { host: "198.51.100.7", port: 7443 }], undefined, Math.random, lookup);
    expect(c.map((x) => x.label).sort()).toEqual(["192.0.2.1:7443", "192.0.2.2:7443", "198.51.100.7:7443", "[2001:db8::3]:7443", "one.example:7000"].sort());
    expect(c.find((x) => x.label === "[2001:db8::3]:7443")!.host).toBe("2001:db8::3");
  });

  test("random order: every address comes first sometimes", async () => {
    const firsts = new Set<string>();
    for (let i = 0; i < 200; i++) firsts.add((await candidates([{ host: "relays.example", port: 1 }], undefined, Math.random, lookup))[0]!.label);
    expect(firsts.size).toBe(3);
  });

  test("the address that just failed goes last", async () => {
    for (let i = 0; i < 50; i++) {
      const c = await candidates([{ host: "relays.example", port: 1 }], "192.0.2.2:1", Math.random, lookup);
      expect(c.at(-1)!.label).toBe("192.0.2.2:1");
    }
  });

  test("a name that does not resolve is kept, so that connecting says why", async () => {
    expect(await candidates([{ host: "nowhere.invalid", port: 5 }], undefined, Math.random, lookup)).toEqual([{ host: "nowhere.invalid", port: 5, label: "nowhere.invalid:5" }]);
  });
});
