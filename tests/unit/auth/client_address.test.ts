/**
 * Which address rate limits count: Deno's peer address (never a forwarded
 * header a client can forge), with IPv6 reduced to its /64.
 */
import assert from "node:assert/strict";
import type { Context } from "hono";
import { clientAddress, rateLimitAddress } from "../../../auth/client_address.ts";

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
