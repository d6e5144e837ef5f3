/**
 * Sends a request body of known length with a `Content-Length` header, as
 * browsers and curl send a file.
 *
 * Deno's `fetch` sends every stream body with `Transfer-Encoding: chunked`
 * (it ignores a Content-Length header), and Deno 2.9's server handles large
 * chunked bodies pathologically: 64 MiB arrives at ~31 MiB/s with the server's
 * memory growing, against 300+ MiB/s with a length (BENCHMARKS.md, "Finding:
 * chunked uploads"). `node:http` sends the length, so the CLI uploads through
 * it and hands back an ordinary `Response` for the rest of the client to read.
 *
 * @module
 */
import { type IncomingMessage, request as httpRequest } from "node:http";
import { request as httpsRequest } from "node:https";

/** A body whose length is known before it is sent (a file on disk). */
export interface SizedBody {
  stream: ReadableStream<Uint8Array>;
  length: number;
}

/** JSON answers are small; a larger one is not from a Coffer server. */
const MAX_ANSWER_BYTES = 1024 * 1024;

/** Reads a (small) answer into a `Response`. */
async function toResponse(answer: IncomingMessage): Promise<Response> {
  const pieces: Uint8Array<ArrayBuffer>[] = [];
  let size = 0;
  for await (const piece of answer as AsyncIterable<Uint8Array<ArrayBuffer>>) {
    size += piece.length;
    if (size > MAX_ANSWER_BYTES) {
      answer.destroy();
      throw new Error(`the answer is larger than ${MAX_ANSWER_BYTES} bytes`);
    }
    pieces.push(piece);
  }
  const headers = new Headers();
  for (const [name, value] of Object.entries(answer.headers)) {
    for (const one of [value ?? []].flat()) headers.append(name, one);
  }
  const status = answer.statusCode ?? 502;
  const body = status === 204 || status === 304 ? null : new Blob(pieces);
  return new Response(body, { status, statusText: answer.statusMessage, headers });
}

/** Resolves when the socket takes more data, or is closed. */
function drained(request: ReturnType<typeof httpRequest>): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      request.off("drain", done);
      request.off("close", done);
      resolve();
    };
    request.on("drain", done);
    request.on("close", done);
  });
}

/**
 * Writes `body` with back-pressure, stopping early once the server has
 * answered (a 413 or 401 arrives before the whole body is sent).
 *
 * @throws {Error} if the stream does not hold exactly `body.length` bytes
 *   (the file changed while it was being sent).
 */
async function writeBody(
  body: SizedBody,
  request: ReturnType<typeof httpRequest>,
  answered: () => boolean,
): Promise<void> {
  let sent = 0;
  for await (const piece of body.stream) {
    if (answered() || request.destroyed) return;
    sent += piece.length;
    if (sent > body.length) break;
    if (!request.write(piece)) await drained(request);
  }
  if (sent !== body.length) {
    throw new Error(`the file changed while it was sent (${body.length} bytes expected)`);
  }
  request.end();
}

/**
 * POSTs `body` to `url` with its length in `Content-Length`.
 *
 * @param url The full request URL (http or https).
 * @param headers Request headers; Content-Length is set here.
 * @param body The stream and its exact length.
 * @param signal Aborts the request (Ctrl-C).
 * @returns The server's answer, read in full.
 * @throws {Error} if the server cannot be reached, the connection fails
 *   before an answer, or the body is not `body.length` bytes long.
 */
export function postSized(
  url: string,
  headers: Headers,
  body: SizedBody,
  signal: AbortSignal,
): Promise<Response> {
  const target = new URL(url);
  const send = target.protocol === "https:" ? httpsRequest : httpRequest;
  const outgoing: Record<string, string> = Object.fromEntries(headers);
  outgoing["content-length"] = String(body.length);
  return new Promise((resolve, reject) => {
    let answered = false;
    const request = send(target, { method: "POST", headers: outgoing, signal }, (answer) => {
      answered = true;
      // An answer that came before the whole body was sent (a 413) leaves the
      // connection mid-request: close it, or the socket holds the process open.
      toResponse(answer).then(resolve, reject).finally(() => request.destroy());
    });
    request.on("error", (error) => {
      if (!answered) reject(error);
    });
    writeBody(body, request, () => answered).catch((error) => {
      request.destroy(error);
      reject(error);
    });
  });
}
