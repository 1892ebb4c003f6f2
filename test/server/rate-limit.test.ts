// Failed-login limiting (SPEC.md §3.3): the token bucket under an injected clock, and the
// address key that groups IPv6 clients by /64 so one host cannot rotate around the limit.

import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { FailureLimiter } from "../../src/server/rate-limit.ts";
import { addressKey } from "../../src/server/relay-core.ts";

const MIN = 60_000;

describe("FailureLimiter", () => {
  test("allows exactly `burst` failures at once, then refuses", () => {
    const l = new FailureLimiter({ burst: 3, perMinute: 6 });
    const t = 1_000_000;
    for (let i = 0; i < 3; i++) {
      expect(l.allowed("a", t)).toBe(true);
      l.fail("a", t);
    }
    expect(l.allowed("a", t)).toBe(false);
    l.fail("a", t); // failing while empty stays empty
    expect(l.allowed("a", t)).toBe(false);
  });

  test("refills perMinute tokens per minute, capped at burst", () => {
    const l = new FailureLimiter({ burst: 3, perMinute: 6 }); // one token per 10 s
    let t = 0;
    for (let i = 0; i < 3; i++) l.fail("a", t);
    expect(l.allowed("a", t + 9_999)).toBe(false);
    expect(l.allowed("a", t + 10_000)).toBe(true);
    t += 10_000;
    l.fail("a", t);
    expect(l.allowed("a", t)).toBe(false);
    // An hour later the bucket is full again but no fuller than burst.
    t += 60 * MIN;
    for (let i = 0; i < 3; i++) {
      expect(l.allowed("a", t)).toBe(true);
      l.fail("a", t);
    }
    expect(l.allowed("a", t)).toBe(false);
  });

  test("keys are independent", () => {
    const l = new FailureLimiter({ burst: 1, perMinute: 1 });
    l.fail("192.0.2.1", 0);
    expect(l.allowed("192.0.2.1", 0)).toBe(false);
    expect(l.allowed("192.0.2.2", 0)).toBe(true);
    l.fail("192.0.2.2", 0);
    expect(l.allowed("192.0.2.2", 0)).toBe(false);
    expect(l.allowed("192.0.2.3", 0)).toBe(true);
  });

  test("tracks at most maxKeys, dropping the least recently failed", () => {
    const l = new FailureLimiter({ burst: 1, perMinute: 1, maxKeys: 2 });
    l.fail("a", 0);
    l.fail("b", 0);
    l.fail("a", 0); // a is now the most recent
    l.fail("c", 0); // evicts b
    expect(l.allowed("a", 0)).toBe(false);
    expect(l.allowed("b", 0)).toBe(true);
    expect(l.allowed("c", 0)).toBe(false);
  });

  test("matches a reference token bucket for any failure schedule", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 5 }),
        fc.integer({ min: 1, max: 30 }),
        fc.array(fc.tuple(fc.constantFrom("a", "b"), fc.integer({ min: 0, max: 20_000 })), { maxLength: 40 }),
        (burst, perMinute, events) => {
          const l = new FailureLimiter({ burst, perMinute });
          const model = new Map<string, { tokens: number; at: number }>();
          let now = 0;
          for (const [key, dt] of events) {
            now += dt;
            const m = model.get(key) ?? { tokens: burst, at: now };
            const tokens = Math.min(burst, m.tokens + ((now - m.at) / MIN) * perMinute);
            expect(l.allowed(key, now)).toBe(tokens >= 1);
            l.fail(key, now);
            model.set(key, { tokens: Math.max(0, tokens - 1), at: now });
          }
        },
      ),
      { numRuns: 200 },
    );
  });
});

describe("addressKey", () => {
  test("IPv4 is its own key, and IPv4-mapped IPv6 is the same key", () => {
    expect(addressKey("192.0.2.1")).toBe("192.0.2.1");
    expect(addressKey("::ffff:192.0.2.1")).toBe("192.0.2.1");
    expect(addressKey("192.0.2.2")).not.toBe(addressKey("192.0.2.1"));
    // Only a dotted-quad tail makes an address IPv4-mapped.
    expect(addressKey("::ffff:0:0:0:0:0")).toBe("0:0:ffff:0::/64");
  });

  test("IPv6 groups by /64", () => {
    expect(addressKey("::1")).toBe("0:0:0:0::/64");
    expect(addressKey("::")).toBe("0:0:0:0::/64");
    expect(addressKey("2001:db8::1")).toBe("2001:db8:0:0::/64");
    expect(addressKey("2001:db8::")).toBe("2001:db8:0:0::/64");
    expect(addressKey("2001:db8:1:2:3:4:5:6")).toBe("2001:db8:1:2::/64");
    expect(addressKey("2001:db8:1:2::9")).toBe("2001:db8:1:2::/64");
    expect(addressKey("2001:db8:1::")).toBe("2001:db8:1:0::/64");
    expect(addressKey("fe80::1:2:3:4")).toBe("fe80:0:0:0::/64");
    expect(addressKey("1:2:3:4:5:6:7::")).toBe("1:2:3:4::/64");
    expect(addressKey("2001:db8:1:3::1")).not.toBe(addressKey("2001:db8:1:2::1"));
  });

  test("a leading :: before five or more groups expands to the right /64", () => {
    // 0:0:1:2:3:4:5:6 and 0:0:1:2::5 share a /64; both spellings are RFC 5952 canonical.
    expect(addressKey("::1:2:3:4:5:6")).toBe("0:0:1:2::/64");
    expect(addressKey("0:0:1:2::5")).toBe("0:0:1:2::/64");
    expect(addressKey("::2:3:4:5:6:7:8")).toBe("0:2:3:4::/64");
    // An embedded IPv4 tail counts as two groups.
    expect(addressKey("1::2:3:4:5:192.0.2.1")).toBe("1:0:2:3::/64");
    expect(addressKey("64:ff9b::192.0.2.1")).toBe("64:ff9b:0:0::/64");
  });

  test("every address in a /64 maps to one key, whatever the :: compression", () => {
    const group = fc.oneof(
      { weight: 1, arbitrary: fc.constant("0") },
      { weight: 1, arbitrary: fc.integer({ min: 0, max: 0xffff }).map((n) => n.toString(16)) },
    );
    fc.assert(
      fc.property(fc.array(group, { minLength: 8, maxLength: 8 }), fc.array(group, { minLength: 4, maxLength: 4 }), (g, host) => {
        const full = g.join(":");
        const expected = `${g.slice(0, 4).join(":")}::/64`;
        expect(addressKey(full)).toBe(expected);
        expect(addressKey([...g.slice(0, 4), ...host].join(":"))).toBe(expected);
        // Every way of compressing one run of zero groups with "::".
        const zeros = g.map((x) => x === "0");
        for (let i = 0; i < 8; i++) {
          for (let j = i + 1; j <= 8 && zeros[j - 1]; j++) {
            const compressed = `${g.slice(0, i).join(":")}::${g.slice(j).join(":")}`;
            expect(addressKey(compressed)).toBe(expected);
          }
        }
      }),
      { numRuns: 300 },
    );
  });
});
