/**
 * Downloads, streamed from the object store: the decrypted plaintext
 * (`/content`, through decryptStream, or only the covering chunks for a
 * `Range`) and the stored Cobblestone ciphertext as is (`/ciphertext`).
 *
 * Every response gets its headers from file_headers.ts (passive types only,
 * CORP, a sandbox CSP). A plaintext range states a total in `Content-Range`
 * only once the final chunk has authenticated it.
 *
 * A file that fails authentication before the first byte is a 502 problem;
 * once bytes have gone out the stream errors, so the response is aborted and
 * never ends cleanly. Either way the failure is logged with the file id.
 */
import type { Context } from "hono";
import { DecryptionError, decryptStream, fileContext, type RangeDecryptor } from "../crypto/mod.ts";
import { CofferError } from "../errors.ts";
import type { Services } from "../services.ts";
import { unwrapDataKey } from "../storage/data_keys.ts";
import { openStoredCiphertext } from "../storage/stored_ciphertext.ts";
import type { FileRecord } from "../storage/file_store.ts";
import { ciphertextKey } from "../storage/object_keys.ts";
import type { AppEnv } from "./env.ts";
import { fileHeaders } from "./file_headers.ts";
import { parseRange, type ResolvedRange } from "./range.ts";

function integrityFailure(services: Services, record: FileRecord, phase: string) {
  services.log.error("download.integrity_failure", { file_id: record.id, phase });
  services.metrics.integrityFailures.inc();
}

/** Logs a failure after the first byte: an integrity failure, or another error (e.g. the store). */
function midStreamFailure(services: Services, record: FileRecord) {
  return (error: unknown) => {
    if (error instanceof DecryptionError) integrityFailure(services, record, "mid-stream");
    else {
      services.log.error("download.failed", {
        file_id: record.id,
        phase: "mid-stream",
        error: error instanceof Error ? error.name : typeof error,
      });
    }
  };
}

/**
 * What a response stream fails with once the real cause is logged. Deno's
 * server prints it to stderr as it cuts the connection, so it is one line
 * without a stack trace.
 */
class DownloadAbortedError extends Error {
  constructor() {
    super("Download aborted after the first byte; see the download.* log line");
    this.name = "DownloadAbortedError";
    this.stack = `${this.name}: ${this.message}`;
  }
}

/**
 * Plaintext leaves in pieces of about this size rather than one per 16 KiB
 * chunk: every piece costs Deno's server a write, and fewer, larger writes
 * made decrypted downloads measurably faster (see BENCHMARKS.md).
 */
const RESPONSE_PIECE_BYTES = 256 * 1024;

function concatPieces(pieces: Uint8Array[], size: number): Uint8Array {
  if (pieces.length === 1) return pieces[0];
  const joined = new Uint8Array(size);
  let offset = 0;
  for (const piece of pieces) {
    joined.set(piece, offset);
    offset += piece.length;
  }
  return joined;
}

/**
 * What a caller of {@linkcode servePlaintext} learns about a download's bytes
 * (share links count them) and how it can stop one (a revoked link).
 */
export interface DownloadObserver {
  /** Called with the size of each piece handed to the response. */
  onBytes?(n: number): void;
  /** Called once when the response ends: everything sent, failed, or cancelled. */
  onEnd?(): void;
  /** Once aborted, the response fails at its next piece (never ends cleanly). */
  signal?: AbortSignal;
}

/** Options of {@linkcode servePlaintext}. */
export interface PlaintextOptions {
  /**
   * Called for a GET once its extent is known (after the range is resolved
   * and authenticated) and before a byte is read; throws to refuse the
   * download. `range` is absent for the whole file; `bytes` is what the
   * response will send.
   */
  admit?(extent: { range?: ResolvedRange; bytes: number }): Promise<DownloadObserver>;
}

/**
 * Re-emits `first` at once, then the rest of `reader` with small pieces
 * joined into pieces of about {@linkcode RESPONSE_PIECE_BYTES} (a large
 * piece goes out as it is), logging a failure mid-stream.
 * Once the consumer cancels (the client left, or Deno's server has sent all
 * Content-Length bytes while a read was pending) the outcome of that read is
 * dropped: closing a cancelled stream would throw and log a false failure.
 * The observer hears of every piece and, once, of the end.
 */
function resumeStream(
  first: Uint8Array | undefined,
  reader: ReadableStreamDefaultReader<Uint8Array>,
  onError: (error: unknown) => void,
  observer: DownloadObserver,
): ReadableStream<Uint8Array> {
  let pending = first;
  let cancelled = false;
  let ended = false;
  const end = () => {
    if (!ended) observer.onEnd?.();
    ended = true;
  };
  return new ReadableStream({
    async pull(controller) {
      if (observer.signal?.aborted) {
        cancelled = true;
        await reader.cancel().catch(() => {});
        controller.error(new DownloadAbortedError());
        end();
        return;
      }
      if (pending) {
        observer.onBytes?.(pending.length);
        controller.enqueue(pending);
        pending = undefined;
        return;
      }
      const pieces: Uint8Array[] = [];
      let size = 0;
      let done = false;
      while (size < RESPONSE_PIECE_BYTES && !done) {
        let result: ReadableStreamReadResult<Uint8Array>;
        try {
          result = await reader.read();
        } catch (error) {
          if (cancelled) return;
          onError(error);
          controller.error(new DownloadAbortedError());
          end();
          return;
        }
        if (cancelled) return;
        if (result.done) done = true;
        else if (pieces.length > 0 && result.value.length >= RESPONSE_PIECE_BYTES) {
          pending = result.value; // large enough alone: joining would only copy it
          break;
        } else {
          pieces.push(result.value);
          size += result.value.length;
        }
      }
      if (size > 0) {
        observer.onBytes?.(size);
        controller.enqueue(concatPieces(pieces, size));
      }
      if (done) {
        controller.close();
        end();
      }
    },
    cancel: (reason) => {
      cancelled = true;
      end();
      return reader.cancel(reason);
    },
  });
}

/** The observer of a download: the decrypted-bytes metric, then the caller's. */
function observed(services: Services, observer: DownloadObserver): DownloadObserver {
  return {
    ...observer,
    onBytes: (n) => {
      services.metrics.bytesDecrypted.inc(n);
      observer.onBytes?.(n);
    },
  };
}

/** Runs `build` for an admitted download; if it fails before streaming, the download ends. */
async function admitted<T>(observer: DownloadObserver, build: () => Promise<T>): Promise<T> {
  try {
    return await build();
  } catch (error) {
    observer.onEnd?.();
    throw error;
  }
}

function rangeHeaders(headers: Headers, range: ResolvedRange, size: number) {
  headers.set("Content-Range", `bytes ${range.start}-${range.end}/${size}`);
  headers.set("Content-Length", String(range.end - range.start + 1));
}

function unsatisfiable(size: number): never {
  throw new CofferError("RANGE_NOT_SATISFIABLE", `The file is ${size} bytes long`, {
    headers: { "Content-Range": `bytes */${size}` },
  });
}

async function fullPlaintext(
  services: Services,
  record: FileRecord,
  dek: Uint8Array,
  observer: DownloadObserver,
) {
  const ciphertext = await services.store.get(ciphertextKey(record.owner, record.id));
  const decrypt = decryptStream(dek, fileContext(record.owner, record.id), {
    engine: services.engine,
    ownsInput: services.store.handsOverPieces === true,
  });
  const reader = ciphertext.pipeThrough(decrypt).getReader();
  let first: ReadableStreamReadResult<Uint8Array>;
  try {
    first = await reader.read();
  } catch (error) {
    if (!(error instanceof DecryptionError)) throw error;
    integrityFailure(services, record, "before-first-byte");
    throw new CofferError("INTEGRITY_FAILURE", undefined, { cause: error });
  }
  return resumeStream(
    first.done ? undefined : first.value,
    reader,
    midStreamFailure(services, record),
    observed(services, observer),
  );
}

/**
 * Authenticates the plaintext length before a ranged answer states it
 * (`Content-Range: bytes a-b/TOTAL`, or `bytes *\/TOTAL` on a 416): the final
 * chunk is decrypted (and cached, so a range reaching the end reads it once),
 * which proves the length implied by the ciphertext size; a record whose size
 * disagrees with it is as untrustworthy as a bad chunk.
 */
async function authenticateTotal(decryptor: RangeDecryptor, record: FileRecord): Promise<void> {
  const size = await decryptor.authenticateSize();
  if (size !== record.size) {
    throw new DecryptionError(
      `Cannot serve range: the record says ${record.size} bytes, the ciphertext ${size}`,
    );
  }
}

async function rangedPlaintext(
  services: Services,
  record: FileRecord,
  dek: Uint8Array,
  header: string,
  options: PlaintextOptions,
): Promise<{ range: ResolvedRange; body: ReadableStream<Uint8Array> } | undefined> {
  const request = parseRange(header, record.size);
  if (request.kind === "none") return undefined;
  try {
    const decryptor = await openStoredCiphertext(services.store, record, dek, {
      engine: services.engine,
    });
    await authenticateTotal(decryptor, record);
    if (request.kind === "unsatisfiable") unsatisfiable(record.size);
    const { range } = request;
    const observer = await options.admit?.({ range, bytes: range.end - range.start + 1 }) ?? {};
    const body = await admitted(observer, async () => {
      const reader = decryptor.stream(range.start, range.end).getReader();
      const first = await reader.read();
      return resumeStream(
        first.done ? undefined : first.value,
        reader,
        midStreamFailure(services, record),
        observed(services, observer),
      );
    });
    return { range, body };
  } catch (error) {
    if (!(error instanceof DecryptionError)) throw error;
    integrityFailure(services, record, "before-first-byte");
    throw new CofferError("INTEGRITY_FAILURE", undefined, { cause: error });
  }
}

/**
 * Serves `GET|HEAD /api/files/:id/content` (and a share's `/s/:id/content`)
 * for a stored record. HEAD reads nothing and admits nothing.
 */
export async function servePlaintext(
  c: Context<AppEnv>,
  services: Services,
  record: FileRecord,
  options: PlaintextOptions = {},
): Promise<Response> {
  const headers = fileHeaders(record.name, record.content_type);
  headers.set("ETag", `"${record.sha256}"`);
  headers.set("Content-Length", String(record.size));
  const rangeHeader = c.req.header("Range");
  if (c.req.method === "HEAD") return new Response(null, { status: 200, headers });
  const dek = await unwrapDataKey(services.keyRing, record);
  const ranged = rangeHeader
    ? await rangedPlaintext(services, record, dek, rangeHeader, options)
    : undefined;
  if (ranged) {
    rangeHeaders(headers, ranged.range, record.size);
    return new Response(ranged.body, { status: 206, headers });
  }
  const observer = await options.admit?.({ bytes: record.size }) ?? {};
  const body = await admitted(observer, () => fullPlaintext(services, record, dek, observer));
  return new Response(body, { status: 200, headers });
}

/**
 * The stored bytes as they are. The first piece is read before answering, so
 * a store that fails at once is a 503 rather than a 200 cut short; a failure
 * after it is logged with the file id and aborts the response.
 */
async function storedBytes(
  services: Services,
  record: FileRecord,
  stored: ReadableStream<Uint8Array>,
): Promise<ReadableStream<Uint8Array>> {
  const reader = stored.getReader();
  const first = await reader.read();
  return resumeStream(
    first.done ? undefined : first.value,
    reader,
    midStreamFailure(services, record),
    {},
  );
}

/** Serves `GET|HEAD /api/files/:id/ciphertext` for a stored record. */
export async function serveCiphertext(
  c: Context<AppEnv>,
  services: Services,
  record: FileRecord,
): Promise<Response> {
  const size = record.ciphertext_size ?? 0;
  const headers = fileHeaders(`${record.name}.cbl`, "application/octet-stream");
  headers.set("ETag", `"cbl-${record.sha256}"`);
  headers.set("Content-Length", String(size));
  const request = parseRange(c.req.header("Range"), size);
  if (request.kind === "unsatisfiable") unsatisfiable(size);
  if (c.req.method === "HEAD") return new Response(null, { status: 200, headers });
  const key = ciphertextKey(record.owner, record.id);
  if (request.kind === "range") {
    rangeHeaders(headers, request.range, size);
    const body = await storedBytes(services, record, await services.store.get(key, request.range));
    return new Response(body, { status: 206, headers });
  }
  const body = await storedBytes(services, record, await services.store.get(key));
  return new Response(body, { status: 200, headers });
}
