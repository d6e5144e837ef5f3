/**
 * The client address used for per-address rate limits: the peer of the TCP
 * connection, as Deno reports it to `Deno.serve` handlers (Hono's `c.env`).
 * `X-Forwarded-For` is ignored, since any client can send it — unless the
 * peer is one of the operator's own proxies (`COFFER_TRUSTED_PROXIES`): then
 * the client is the nearest address in `X-Forwarded-For` that is not a
 * trusted proxy. Without that, every client behind a load balancer would
 * share one address and one attacker's failed logins would lock out all.
 *
 * IPv6 addresses are reduced to their /64 network, because one host usually
 * owns a whole /64 and could otherwise rotate addresses to escape the limit.
 *
 * @module
 */
import proxyaddr from "@fastify/proxy-addr";
import type { IncomingMessage } from "node:http";
import type { Context } from "hono";

/** Finds the client address of a request. */
export type ClientAddressFn = (c: Context) => string;

function ipv6Network(address: string): string {
  const [head, tail = ""] = address.split("::");
  const left = head ? head.split(":") : [];
  const right = address.includes("::") && tail ? tail.split(":") : [];
  const fill = address.includes("::") ? 8 - left.length - right.length : 0;
  const groups = [...left, ...Array(Math.max(0, fill)).fill("0"), ...right];
  return groups.slice(0, 4).map((g) => g.toLowerCase().replace(/^0+(?=.)/, "")).join(":") + "::/64";
}

/**
 * Normalises an address for rate limiting: IPv4 as is (also when IPv4-mapped),
 * IPv6 as its /64 network.
 *
 * @example
 * ```ts
 * rateLimitAddress("2001:db8:1:2:3:4:5:6"); // "2001:db8:1:2::/64"
 * rateLimitAddress("::ffff:192.0.2.1"); // "192.0.2.1"
 * ```
 */
export function rateLimitAddress(address: string): string {
  const host = address.replace(/^\[|\]$/g, "").replace(/%.*$/, "");
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(host);
  if (mapped) return mapped[1];
  return host.includes(":") ? ipv6Network(host) : host;
}

/**
 * The default {@linkcode ClientAddressFn}: the connection's remote address.
 *
 * @returns The normalised address, or `"unknown"` when the request did not
 *   come through `Deno.serve` (e.g. `app.request()` in tests).
 */
export function clientAddress(c: Context): string {
  const peer = peerAddress(c);
  return peer === undefined ? "unknown" : rateLimitAddress(peer);
}

/**
 * The TCP peer of a request as Deno reports it, unnormalised.
 *
 * @returns The peer's IP address, or `undefined` when the request did not
 *   come through `Deno.serve` (e.g. `app.request()` in tests).
 */
export function peerAddress(c: Context): string | undefined {
  const info = c.env as Partial<Deno.ServeHandlerInfo> | undefined;
  const remote = info?.remoteAddr;
  return remote && "hostname" in remote ? remote.hostname : undefined;
}

/**
 * A {@linkcode ClientAddressFn} for a deployment behind its own proxies:
 * when the TCP peer is one of `proxies`, the client is the nearest
 * `X-Forwarded-For` entry that is not; any other peer is the client itself.
 *
 * @param proxies IP addresses, CIDR ranges, or `loopback`, `linklocal`, `uniquelocal`.
 * @throws {TypeError} naming the first entry that is none of these.
 * @example
 * ```ts
 * const addressOf = proxiedClientAddress(["10.0.0.0/8"]);
 * ```
 */
export function proxiedClientAddress(proxies: string[]): ClientAddressFn {
  const trust = proxyaddr.compile(proxies);
  return (c) => {
    const peer = peerAddress(c);
    if (peer === undefined) return "unknown";
    const forwardedFor = c.req.header("X-Forwarded-For");
    const request = {
      headers: forwardedFor === undefined ? {} : { "x-forwarded-for": forwardedFor },
      socket: { remoteAddress: peer },
    };
    return rateLimitAddress(proxyaddr(request as unknown as IncomingMessage, trust));
  };
}
