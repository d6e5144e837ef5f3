/**
 * Private to bench/: a minimal HTTP/1.1 client that streams a request body
 * of known length with `Content-Length`, as browsers and curl send a file.
 *
 * Why not `fetch`: Deno's fetch sends a `ReadableStream` body chunked, one
 * chunk frame per stream piece, and Deno 2.9's server spends its time in
 * memmove on such bodies when the handler reads slower than they arrive
 * (128 MiB in 64 KiB frames: 5–13 s, against 0.2 s with Content-Length; see
 * bench/chunked_upload_repro.ts). Measuring uploads through fetch would
 * measure that, not Coffer's ingest.
 *
 * @module
 */

const CRLF_CRLF = new Uint8Array([13, 10, 13, 10]);

/** A response: status, headers (lowercase names) and body text. */
export interface RawResponse {
  status: number;
  headers: Map<string, string>;
  text: string;
}

function indexOf(haystack: Uint8Array, needle: Uint8Array): number {
  outer: for (let i = 0; i + needle.length <= haystack.length; i++) {
    for (let j = 0; j < needle.length; j++) if (haystack[i + j] !== needle[j]) continue outer;
    return i;
  }
  return -1;
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  for (let written = 0; written < bytes.length;) {
    written += await conn.write(bytes.subarray(written));
  }
}

/** Reads one response (head, then Content-Length bytes or until the server closes). */
async function readResponse(conn: Deno.Conn): Promise<RawResponse> {
  let received: Uint8Array = new Uint8Array(0);
  let headEnd = -1;
  let expected = Infinity;
  const buffer = new Uint8Array(64 * 1024);
  while (received.length - (headEnd + 4) < expected || headEnd < 0) {
    const n = await conn.read(buffer);
    if (n === null) break;
    received = concat(received, buffer.subarray(0, n));
    if (headEnd < 0 && (headEnd = indexOf(received, CRLF_CRLF)) >= 0) {
      const length = new TextDecoder().decode(received.subarray(0, headEnd))
        .match(/^content-length:\s*(\d+)/im);
      expected = length ? Number(length[1]) : Infinity;
    }
  }
  if (headEnd < 0) throw new Error("Cannot read the response: the connection closed early");
  const [statusLine, ...lines] = new TextDecoder().decode(received.subarray(0, headEnd))
    .split("\r\n");
  const headers = new Map(lines.map((line) => {
    const colon = line.indexOf(":");
    return [line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim()];
  }));
  return {
    status: Number(statusLine.split(" ")[1]),
    headers,
    text: new TextDecoder().decode(received.subarray(headEnd + 4)),
  };
}

/**
 * POSTs `body` (exactly `length` bytes) on a new connection and reads the answer.
 *
 * @param url The request URL (http only).
 * @param headers Extra request headers.
 * @param body The body; it is read to the end unless the server answers first.
 * @param length The body's length, sent as Content-Length.
 * @param timeoutMs The connection is closed (and the call fails) after this long.
 * @returns The response.
 */
export async function postStream(
  url: string,
  headers: Record<string, string>,
  body: ReadableStream<Uint8Array>,
  length: number,
  timeoutMs: number,
): Promise<RawResponse> {
  const target = new URL(url);
  const conn = await Deno.connect({ hostname: target.hostname, port: Number(target.port) });
  let closed = false;
  const close = () => {
    if (!closed) conn.close();
    closed = true;
  };
  const timer = setTimeout(close, timeoutMs);
  try {
    const head = [
      `POST ${target.pathname}${target.search} HTTP/1.1`,
      `Host: ${target.host}`,
      `Content-Length: ${length}`,
      "Connection: close",
      ...Object.entries(headers).map(([name, value]) => `${name}: ${value}`),
      "",
      "",
    ].join("\r\n");
    const sending = (async () => {
      await writeAll(conn, new TextEncoder().encode(head));
      for await (const piece of body) await writeAll(conn, piece);
    })();
    // The server may answer (and close) before taking the whole body, e.g. 413.
    const response = readResponse(conn);
    const sent = await sending.then(() => undefined, (error) => error);
    const answer = await response;
    if (sent && answer.status < 400) throw sent;
    return answer;
  } finally {
    clearTimeout(timer);
    close();
  }
}
