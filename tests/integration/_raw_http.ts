/**
 * A bare HTTP/1.1 client over TCP for tests that need control `fetch` does
 * not give: trickling header lines, pausing a body, hanging up mid-body.
 * The requests it builds say `Connection: close`, so a response is
 * everything read until the server closes.
 */
import type { TestServer, TestUser } from "../test_server.ts";

/** An open connection to a test server. */
export interface RawConnection extends Disposable {
  conn: Deno.TcpConn;
  /** Writes text or bytes; false once the server has closed its side. */
  send(data: string | Uint8Array): Promise<boolean>;
  /** Resolves with the status and body once the server closes the connection. */
  response: Promise<RawResponse>;
  /** True once the server closed (or reset) the connection. */
  closed(): boolean;
}

/** What the server answered. */
export interface RawResponse {
  /** 0 if the connection ended without an answer. */
  status: number;
  head: string;
  body: string;
}

/** Opens a connection to the server. */
export async function connectRaw(server: TestServer): Promise<RawConnection> {
  const port = Number(new URL(server.url).port);
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  let ended = false;
  const response = (async () => {
    const chunks: Uint8Array<ArrayBuffer>[] = [];
    const buffer = new Uint8Array(16 * 1024);
    try {
      while (true) {
        const read = await conn.read(buffer);
        if (read === null) break;
        chunks.push(buffer.slice(0, read));
      }
    } catch {
      // reset: keep what arrived
    }
    ended = true;
    const text = new TextDecoder().decode(await new Blob(chunks).bytes());
    const split = text.indexOf("\r\n\r\n");
    const head = split < 0 ? text : text.slice(0, split);
    const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(head)?.[1] ?? 0);
    return { status, head, body: split < 0 ? "" : text.slice(split + 4) };
  })();
  return {
    conn,
    response,
    closed: () => ended,
    async send(data) {
      const bytes = typeof data === "string" ? new TextEncoder().encode(data) : data;
      try {
        for (let written = 0; written < bytes.length;) {
          written += await conn.write(bytes.subarray(written));
        }
        return true;
      } catch {
        return false;
      }
    },
    [Symbol.dispose]() {
      try {
        conn.close();
      } catch {
        // already closed
      }
    },
  };
}

/** The head of a raw-body upload of `length` bytes (`POST /api/files?name=`). */
export function rawUploadHead(user: TestUser, length: number, name = "slow.bin"): string {
  return `POST /api/files?name=${encodeURIComponent(name)} HTTP/1.1\r\n` +
    `Host: 127.0.0.1\r\nConnection: close\r\nAuthorization: Bearer ${user.token}\r\n` +
    `Content-Type: application/octet-stream\r\nContent-Length: ${length}\r\n\r\n`;
}

/** A multipart/form-data body with one file of `bytes` in field `file`, and its head. */
export function multipartUpload(
  user: TestUser,
  bytes: Uint8Array,
  name = "slow.bin",
): { head: string; body: Uint8Array } {
  const boundary = `----coffer-${crypto.randomUUID()}`;
  const encoder = new TextEncoder();
  const before = encoder.encode(
    `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="${name}"\r\n` +
      `Content-Type: application/octet-stream\r\n\r\n`,
  );
  const after = encoder.encode(`\r\n--${boundary}--\r\n`);
  const body = new Uint8Array(before.length + bytes.length + after.length);
  body.set(before);
  body.set(bytes, before.length);
  body.set(after, before.length + bytes.length);
  const head = `POST /api/files HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n` +
    `Authorization: Bearer ${user.token}\r\n` +
    `Content-Type: multipart/form-data; boundary=${boundary}\r\nContent-Length: ${body.length}\r\n\r\n`;
  return { head, body };
}
