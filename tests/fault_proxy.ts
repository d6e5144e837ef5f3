/**
 * A fault-injecting HTTP/1.1 proxy for tests, in the spirit of toxiproxy: it
 * sits between Coffer and an S3 server and, request by request, passes the
 * exchange through or spoils it — a delay, a hang (the request is read, no
 * answer ever comes), an S3 error answer (503 SlowDown, 500 InternalError), a
 * dropped connection, or a response body that stalls or is cut after some
 * bytes. Rules say which requests a fault applies to and how many times.
 *
 * Each client connection carries one request: the proxy sends `Connection:
 * close` both ways, so it never has to find where a response ends, and a
 * released response shows as a closed connection (`openConnections`).
 * Informational answers (`100 Continue`, which the AWS SDK asks for on large
 * bodies) pass through before the final one.
 */

/** A request as the proxy saw it. */
export interface ProxiedRequest {
  method: string;
  /** The path without the query string. */
  path: string;
  query: URLSearchParams;
  headers: Headers;
  /** The fault applied to it, if any. */
  fault?: Fault["kind"];
}

/** What the proxy does to a matching request. */
export type Fault =
  /** Read the request and never answer (the connection stays open). */
  | { kind: "hang" }
  /** Close the connection at once without an answer (a store that died). */
  | { kind: "drop" }
  /** Answer at once with an S3 error document, e.g. 503 `SlowDown`. */
  | { kind: "status"; status: number; code: string }
  /**
   * Wait `ms` milliseconds and/or until `until` settles, then forward the
   * request — or apply `then` to it instead (a store that dies while a request waits).
   */
  | { kind: "delay"; ms?: number; until?: Promise<unknown>; then?: Fault }
  /** Forward the answer's head and `afterBytes` bytes of its body, then nothing more. */
  | { kind: "stall"; afterBytes: number }
  /** Forward the answer's head and `afterBytes` bytes of its body, then close. */
  | { kind: "reset"; afterBytes: number };

/** When and how often a fault applies. */
export interface FaultRule {
  fault: Fault;
  /** Which requests it applies to; every request when absent. */
  match?: (request: ProxiedRequest) => boolean;
  /** How many requests it spoils before it expires; unlimited when absent. */
  times?: number;
}

/** A rule in force. */
export interface ActiveRule {
  /** Requests it has spoiled so far. */
  readonly hits: number;
  /** Takes the rule out of force (requests already spoiled stay so). */
  remove(): void;
}

/** A running proxy; dispose to close it and every connection. */
export interface FaultProxy extends AsyncDisposable {
  /** `http://127.0.0.1:PORT`, to use as the S3 endpoint. */
  endpoint: string;
  /** Every request so far, in arrival order. */
  requests: ProxiedRequest[];
  /** Adds a rule; the first unexpired matching rule applies to each request. */
  add(rule: FaultRule): ActiveRule;
  /** Removes every rule. */
  clear(): void;
  /** Client connections open right now. */
  openConnections(): number;
}

const HEAD_END = new TextEncoder().encode("\r\n\r\n");
const MAX_HEAD_BYTES = 64 * 1024;

/** Reads from `conn` until a blank line; returns the head text and the bytes after it. */
async function readHead(
  conn: Deno.Conn,
  pending: Uint8Array,
): Promise<{ head: string; rest: Uint8Array } | undefined> {
  let data = pending;
  const buffer = new Uint8Array(16 * 1024);
  while (true) {
    const end = indexOf(data, HEAD_END);
    if (end >= 0) {
      return {
        head: new TextDecoder("latin1").decode(data.subarray(0, end)),
        rest: data.slice(end + HEAD_END.length),
      };
    }
    if (data.length > MAX_HEAD_BYTES) throw new Error("Cannot proxy: head too large");
    const read = await conn.read(buffer);
    if (read === null) return undefined;
    data = concat(data, buffer.subarray(0, read));
  }
}

function indexOf(haystack: Uint8Array, needle: Uint8Array): number {
  outer: for (let i = 0; i + needle.length <= haystack.length; i++) {
    for (let j = 0; j < needle.length; j++) if (haystack[i + j] !== needle[j]) continue outer;
    return i;
  }
  return -1;
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const joined = new Uint8Array(a.length + b.length);
  joined.set(a);
  joined.set(b, a.length);
  return joined;
}

function parseHead(head: string): { start: string; headers: Headers } {
  const [start, ...lines] = head.split("\r\n");
  const headers = new Headers();
  for (const line of lines) {
    const colon = line.indexOf(":");
    if (colon > 0) headers.append(line.slice(0, colon).trim(), line.slice(colon + 1).trim());
  }
  return { start, headers };
}

/** The head with `Connection: close`, so each connection carries one exchange. */
function closingHead(start: string, headers: Headers): Uint8Array {
  const lines = [start];
  for (const [name, value] of headers) {
    if (name !== "connection" && name !== "keep-alive") lines.push(`${name}: ${value}`);
  }
  lines.push("connection: close", "", "");
  return new TextEncoder().encode(lines.join("\r\n"));
}

async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  for (let written = 0; written < bytes.length;) {
    written += await conn.write(bytes.subarray(written));
  }
}

/** Reads `conn` until it closes, discarding everything (a server that never answers). */
async function drain(conn: Deno.Conn): Promise<void> {
  const buffer = new Uint8Array(64 * 1024);
  try {
    while (await conn.read(buffer) !== null) { /* discard */ }
  } catch {
    // closed under us
  }
}

/** Copies `from` to `to` until `from` ends; `limit` bytes at most, then stops reading. */
async function pipe(from: Deno.Conn, to: Deno.Conn, limit = Infinity): Promise<number> {
  const buffer = new Uint8Array(64 * 1024);
  let copied = 0;
  while (copied < limit) {
    const read = await from.read(buffer.subarray(0, Math.min(buffer.length, limit - copied)));
    if (read === null) break;
    await writeAll(to, buffer.subarray(0, read));
    copied += read;
  }
  return copied;
}

function errorAnswer(status: number, code: string): Uint8Array {
  const body = `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code>` +
    `<Message>Injected by the fault proxy</Message><RequestId>fault</RequestId></Error>`;
  return new TextEncoder().encode(
    `HTTP/1.1 ${status} Injected\r\ncontent-type: application/xml\r\n` +
      `content-length: ${body.length}\r\nconnection: close\r\n\r\n${body}`,
  );
}

/**
 * Starts a proxy to `target` (an `http://host:port` URL) on a free loopback port.
 *
 * @example
 * ```ts
 * await using proxy = startFaultProxy(s3.endpoint);
 * proxy.add({ fault: { kind: "status", status: 503, code: "SlowDown" }, times: 2 });
 * ```
 */
export function startFaultProxy(target: string): FaultProxy {
  const { hostname, port } = new URL(target);
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const rules: { rule: FaultRule; hits: number; removed: boolean }[] = [];
  const requests: ProxiedRequest[] = [];
  const open = new Set<Deno.Conn>();
  const clients = new Set<Deno.Conn>();
  const tasks = new Set<Promise<void>>();
  const close = (conn: Deno.Conn | undefined) => {
    if (!conn) return;
    open.delete(conn);
    try {
      conn.close();
    } catch {
      // already closed
    }
  };

  const pickFault = (request: ProxiedRequest): Fault | undefined => {
    for (const entry of rules) {
      if (entry.removed || entry.hits >= (entry.rule.times ?? Infinity)) continue;
      if (entry.rule.match && !entry.rule.match(request)) continue;
      entry.hits++;
      return entry.rule.fault;
    }
    return undefined;
  };

  const relay = async (client: Deno.Conn) => {
    open.add(client);
    clients.add(client);
    let upstream: Deno.Conn | undefined;
    try {
      const incoming = await readHead(client, new Uint8Array(0));
      if (!incoming) return;
      const { start, headers } = parseHead(incoming.head);
      const [method, targetPath] = start.split(" ");
      const url = new URL(targetPath, "http://proxy");
      const request: ProxiedRequest = {
        method,
        path: url.pathname,
        query: url.searchParams,
        headers,
      };
      let fault = pickFault(request);
      request.fault = fault?.kind;
      requests.push(request);
      if (fault?.kind === "delay") {
        const { ms, until, then } = fault;
        await Promise.all([
          ms ? new Promise((resolve) => setTimeout(resolve, ms)) : undefined,
          until?.catch(() => {}),
        ]);
        fault = then;
      }
      if (fault?.kind === "drop") return;
      if (fault?.kind === "hang") return await drain(client);
      if (fault?.kind === "status") {
        await discardBody(client, request, incoming.rest);
        return await writeAll(client, errorAnswer(fault.status, fault.code));
      }
      upstream = await Deno.connect({ hostname, port: Number(port) });
      open.add(upstream);
      await writeAll(upstream, closingHead(start, headers));
      await writeAll(upstream, incoming.rest);
      const sending = pipe(client, upstream).catch(() => 0);
      await relayAnswer(upstream, client, fault);
      if (fault?.kind === "stall") await sending; // until the client gives up
    } catch {
      // either side went away: both are closed below
    } finally {
      clients.delete(client);
      close(client);
      close(upstream);
    }
  };

  const accepting = (async () => {
    try {
      for await (const client of listener) {
        const task = relay(client);
        tasks.add(task);
        task.finally(() => tasks.delete(task));
      }
    } catch {
      // listener closed
    }
  })();

  return {
    endpoint: `http://127.0.0.1:${(listener.addr as Deno.NetAddr).port}`,
    requests,
    add(rule) {
      const entry = { rule, hits: 0, removed: false };
      rules.push(entry);
      return {
        get hits() {
          return entry.hits;
        },
        remove: () => {
          entry.removed = true;
        },
      };
    },
    clear() {
      for (const entry of rules) entry.removed = true;
    },
    openConnections: () => clients.size,
    async [Symbol.asyncDispose]() {
      listener.close();
      for (const conn of [...open]) close(conn);
      await accepting;
      await Promise.allSettled([...tasks]);
    },
  };
}

/** Reads and discards a request body, unless the client waits for `100 Continue` first. */
async function discardBody(client: Deno.Conn, request: ProxiedRequest, rest: Uint8Array) {
  if (request.headers.get("expect")?.toLowerCase() === "100-continue") return;
  let left = Number(request.headers.get("content-length") ?? 0) - rest.length;
  const buffer = new Uint8Array(64 * 1024);
  while (left > 0) {
    const read = await client.read(buffer.subarray(0, Math.min(buffer.length, left)));
    if (read === null) return;
    left -= read;
  }
}

/**
 * Forwards the upstream answer: informational heads as they are, then the
 * final head with `Connection: close`, then the body — all of it, or as much
 * as a `stall`/`reset` fault lets through (the caller then holds or closes).
 */
async function relayAnswer(upstream: Deno.Conn, client: Deno.Conn, fault?: Fault): Promise<void> {
  let pending: Uint8Array = new Uint8Array(0);
  while (true) {
    const answer = await readHead(upstream, pending);
    if (!answer) return;
    const { start, headers } = parseHead(answer.head);
    const status = Number(start.split(" ")[1]);
    if (status >= 100 && status < 200) {
      await writeAll(client, new TextEncoder().encode(`${answer.head}\r\n\r\n`));
      pending = answer.rest;
      continue;
    }
    await writeAll(client, closingHead(start, headers));
    const limit = fault?.kind === "stall" || fault?.kind === "reset" ? fault.afterBytes : Infinity;
    const first = answer.rest.subarray(0, Math.min(answer.rest.length, limit));
    await writeAll(client, first);
    if (first.length < limit) await pipe(upstream, client, limit - first.length);
    return;
  }
}
