/**
 * Which address rate limits count: Deno's peer address (never a forwarded
 * header a client can forge), with IPv6 reduced to its /64 — or, behind the
 * operator's trusted proxies, the nearest X-Forwarded-For entry they did not
 * write themselves.
 */
import assert from "node:assert/strict";
import type { Context } from "hono";
import {
  clientAddress,
  proxiedClientAddress,
  rateLimitAddress,
} from "../../../auth/client_address.ts";

Deno.test("rateLimitAddress() keeps IPv4 and reduces IPv6 to its /64", async (t) => {
  const cases: [string, string][] = [
    ["127.0.0.1", "127.0.0.1"],
    ["::ffff:192.0.2.1", "192.0.2.1"],
    ["::1", "0:0:0:0::/64"],
    ["2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"],
    ["2001:DB8:1:2::9", "2001:db8:1:2::/64"],
    ["2001:db8::", "2001:db8:0:0::/64"],
    ["2001:0db8:0001:0002::1", "2001:db8:1:2::/64"],
    ["[2001:db8:1:2::1]", "2001:db8:1:2::/64"],
    ["fe80::1%eth0", "fe80:0:0:0::/64"],
  ];
  for (const [input, expected] of cases) {
    await t.step(`${input} → ${expected}`, () => assert.equal(rateLimitAddress(input), expected));
  }
});

Deno.test("clientAddress() reads Deno's remote address and ignores X-Forwarded-For", () => {
  const context = (env: unknown) =>
    ({ env, req: { header: () => "203.0.113.9" } }) as unknown as Context;
  const info = { remoteAddr: { transport: "tcp", hostname: "198.51.100.7", port: 5555 } };
  assert.equal(clientAddress(context(info)), "198.51.100.7");
  assert.equal(clientAddress(context(undefined)), "unknown");
});

Deno.test("proxiedClientAddress() takes the nearest untrusted X-Forwarded-For entry behind a trusted proxy", async (t) => {
  const addressOf = proxiedClientAddress(["loopback", "10.0.0.0/8"]);
  const context = (peer: string, forwardedFor?: string) =>
    ({
      env: { remoteAddr: { transport: "tcp", hostname: peer, port: 5555 } },
      req: { header: (name: string) => name === "X-Forwarded-For" ? forwardedFor : undefined },
    }) as unknown as Context;
  const cases: [string, string | undefined, string][] = [
    ["127.0.0.1", "203.0.113.9", "203.0.113.9"],
    // The client wrote the leftmost entries itself: only the proxy-appended one counts.
    ["127.0.0.1", "198.51.100.1, 203.0.113.9", "203.0.113.9"],
    ["127.0.0.1", "198.51.100.1, 203.0.113.9, 10.1.2.3", "203.0.113.9"],
    ["127.0.0.1", undefined, "127.0.0.1"],
    ["127.0.0.1", "not an address, 203.0.113.9", "203.0.113.9"],
    ["::1", "2001:db8:1:2::7", "2001:db8:1:2::/64"],
    // A peer that is not a trusted proxy is the client, whatever it claims.
    ["198.51.100.7", "203.0.113.9", "198.51.100.7"],
  ];
  for (const [peer, forwardedFor, expected] of cases) {
    await t.step(`${peer} with ${forwardedFor ?? "no header"} → ${expected}`, () => {
      assert.equal(addressOf(context(peer, forwardedFor)), expected);
    });
  }
});
