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

  test("tracks at most maxKeys: the fullest bucket is forgotten first, a refilled one before any", () => {
    const l = new FailureLimiter({ burst: 3, perMinute: 1, maxKeys: 3 }); // one token a minute
    l.fail("a", 0); // 2 tokens left
    l.fail("b", 0);
    l.fail("b", 0); // 1 left
    for (let i = 0; i < 3; i++) l.fail("c", 0); // refusing
    l.fail("d", 0); // no room: a, the fullest, is forgotten; d has 2
    expect(l.size).toBe(3);
    expect(l.allowed("c", 0)).toBe(false);
    l.fail("b", 0);
    expect(l.allowed("b", 0)).toBe(false); // b was kept (forgotten, it would have 2 now)
    // A minute on: b and c hold 1 token, d 3 (refilled: no different from no bucket).
    l.fail("e", 60_000); // no room: d goes, not b or c, though it is the most recent
    l.fail("c", 60_000);
    expect(l.allowed("c", 60_000)).toBe(false); // c was kept
    expect(l.allowed("b", 60_000)).toBe(true);
    expect(l.size).toBe(3);
  });

  test("never forgets a refusing bucket: with every tracked key refusing, a new key is refused", () => {
    const l = new FailureLimiter({ burst: 1, perMinute: 1, maxKeys: 3 });
    for (const k of ["a", "b", "c"]) l.fail(k, 0);
    expect(l.allowed("d", 0)).toBe(false); // fail closed rather than drop a, b or c
    l.fail("d", 0);
    expect(l.size).toBe(3);
    for (const k of ["a", "b", "c"]) expect(l.allowed(k, 0)).toBe(false);
    // A minute on they have refilled: room again.
    expect(l.allowed("d", 60_000)).toBe(true);
    l.fail("d", 60_000);
    expect(l.allowed("d", 60_000)).toBe(false);
  });

  test("the 31st guess for one user is refused after a spray of 150,000 throwaway ids", () => {
    // The relay's per-user bucket (SPEC.md §3.3): 30 at once, 30 per hour, 100,000 keys.
    const l = new FailureLimiter({ burst: 30, perMinute: 0.5 });
    let t = 1_000_000;
    for (let i = 0; i < 30; i++) {
      expect(l.allowed("victim", t)).toBe(true);
      l.fail("victim", t);
    }
    expect(l.allowed("victim", t)).toBe(false);
    // One failure each for 150,000 ids, 0.1 ms apart: 15 s, a token would take 2 minutes.
    for (let i = 0; i < 150_000; i++) {
      t += 0.1;
      l.fail(`throwaway${i}`, t);
    }
    expect(l.size).toBeLessThanOrEqual(100_000);
    expect(l.allowed("victim", t)).toBe(false);
    // The bucket still refills as it should: one token two minutes after the 30th guess.
    expect(l.allowed("victim", 1_000_000 + 120_000)).toBe(true);
  });

  test("take() takes a token only when one is there", () => {
    const l = new FailureLimiter({ burst: 2, perMinute: 60 }); // one per second
    expect(l.take("a", 0)).toBe(true);
    expect(l.take("a", 0)).toBe(true);
    expect(l.take("a", 0)).toBe(false);
    expect(l.take("a", 999)).toBe(false);
    expect(l.take("a", 1000)).toBe(true);
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
