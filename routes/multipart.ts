/**
 * Streams the files of a multipart/form-data body one at a time, with busboy
 * (a maintained streaming parser), so no file is ever held in memory — unlike
 * `c.req.parseBody()`. Each file part is handed to a callback as a web
 * `ReadableStream` and the parser waits until the callback has consumed it.
 */
// @ts-types="@types/busboy"
import busboy from "busboy";
import { Readable } from "node:stream";
import { CofferError } from "../errors.ts";

/**
 * A busboy file stream as a web stream, with byte-counted backpressure.
 * Deno's `Readable.toWeb` can still deliver a buffered chunk after the web
 * stream was cancelled (e.g. an upload over the quota), and enqueueing into
 * the closed stream throws out of an event handler, which kills the
 * process. Here chunks after a cancel are dropped, and the part keeps
 * draining so the parser can move on to the next part.
 */
function partBody(stream: Readable): ReadableStream<Uint8Array> {
  let open = true;
  return new ReadableStream<Uint8Array>({
    start(controller) {
      stream.on("data", (chunk: Uint8Array) => {
        if (!open) return;
        // A copy, as Node's own adapter makes: a Buffer may be a view of a shared pool.
        controller.enqueue(new Uint8Array(chunk));
        if ((controller.desiredSize ?? 0) <= 0) stream.pause();
      });
      stream.on("end", () => {
        if (open) controller.close();
        open = false;
      });
      stream.on("error", (error) => {
        if (open) controller.error(error);
        open = false;
      });
      stream.pause();
    },
    pull() {
      stream.resume();
    },
    cancel() {
      open = false;
      stream.resume();
    },
  }, { highWaterMark: 64 * 1024, size: (chunk) => chunk.byteLength });
}

/** One file part as the client described it. */
export interface FilePart {
  field: string;
  filename: string | undefined;
  contentType: string | undefined;
  body: ReadableStream<Uint8Array>;
}

/** Limits on the non-file structure of a form. */
export interface MultipartLimits {
  /** Most file parts accepted in one request. */
  maxFiles: number;
}

/**
 * Calls `onFile` for every file part, in order, and resolves when the whole
 * body has been read and every callback has finished.
 *
 * @param contentType The request's Content-Type (with the boundary).
 * @param body The request body (consumed).
 * @throws {CofferError} BAD_REQUEST for a malformed body or too many parts;
 *   whatever `onFile` throws.
 */
export async function forEachFilePart(
  contentType: string,
  body: ReadableStream<Uint8Array>,
  limits: MultipartLimits,
  onFile: (part: FilePart) => Promise<void>,
): Promise<void> {
  let parser: busboy.Busboy;
  try {
    parser = busboy({
      headers: { "content-type": contentType },
      preservePath: true,
      // Browsers send file names as raw UTF-8; busboy's default (latin1) mangles them.
      defParamCharset: "utf8",
      limits: { files: limits.maxFiles, fields: 20, parts: limits.maxFiles + 20, fieldSize: 4096 },
    });
  } catch {
    throw new CofferError("BAD_REQUEST", "Malformed multipart/form-data content type");
  }
  const source = Readable.fromWeb(body as import("node:stream/web").ReadableStream);
  let chain = Promise.resolve();
  const done = new Promise<void>((resolve, reject) => {
    let failure: { error: unknown } | undefined;
    // Stops reading and errors the part being consumed (its consumer then
    // cleans up, e.g. removes a half-staged file), and rejects once that
    // consumer has finished — so nothing is still writing when we return.
    const fail = (error: unknown) => {
      if (failure) return;
      failure = { error };
      source.unpipe(parser);
      source.destroy();
      parser.destroy(error instanceof Error ? error : new Error(String(error)));
      const settle = () => reject(error);
      chain.then(settle, settle);
    };
    parser.on("file", (field, stream, info) => {
      const body = partBody(stream);
      chain = chain.then(() =>
        onFile({ field, filename: info.filename, contentType: info.mimeType, body })
      );
      chain.catch((error) => {
        stream.resume();
        fail(error);
      });
    });
    parser.on(
      "filesLimit",
      () => fail(new CofferError("BAD_REQUEST", "Too many files in one request")),
    );
    parser.on(
      "partsLimit",
      () => fail(new CofferError("BAD_REQUEST", "Too many parts in one request")),
    );
    parser.on(
      "error",
      () => fail(new CofferError("BAD_REQUEST", "Malformed multipart/form-data body")),
    );
    source.on("error", (error) => fail(error));
    parser.on("close", () => {
      if (!failure) chain.then(resolve, reject);
    });
  });
  source.pipe(parser);
  await done;
}
