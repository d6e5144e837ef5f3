/**
 * Private to storage/: streams a body into a new file (mode 0600), shared by the
 * staging area and the local object store.
 */
import { CofferError } from "../errors.ts";

/** Options for {@linkcode writeStreamToFile}. */
export interface WriteStreamOptions {
  /** Fails with `PAYLOAD_TOO_LARGE` as soon as more bytes than this arrive. */
  maxBytes?: number;
  /** Aborts the write; the promise rejects with the signal's reason. */
  signal?: AbortSignal;
}

/**
 * Writes a stream into a file that must not exist yet, created with mode 0600,
 * and flushes it to disk. On any failure (stream error, abort, limit, disk) the
 * file is removed, the source is cancelled and the error rethrown; a file that
 * already existed is never touched.
 *
 * @param path Where to write; the parent directory must exist.
 * @param body The bytes to write.
 * @param options A byte limit and an abort signal.
 * @returns The number of bytes written.
 * @throws {CofferError} `PAYLOAD_TOO_LARGE` when `maxBytes` is passed.
 * @throws {Deno.errors.AlreadyExists} if `path` exists.
 */
export async function writeStreamToFile(
  path: string,
  body: ReadableStream<Uint8Array>,
  options: WriteStreamOptions = {},
): Promise<number> {
  const { maxBytes = Infinity, signal } = options;
  const reader = body.getReader();
  const onAbort = () => reader.cancel(signal?.reason).catch(() => {});
  let file: Deno.FsFile | undefined;
  try {
    signal?.throwIfAborted();
    signal?.addEventListener("abort", onAbort, { once: true });
    file = await Deno.open(path, { write: true, createNew: true, mode: 0o600 });
    let size = 0;
    while (true) {
      const { done, value } = await reader.read();
      signal?.throwIfAborted(); // a read cancelled by the abort reports done
      if (done) break;
      size += value.length;
      if (size > maxBytes) {
        throw new CofferError("PAYLOAD_TOO_LARGE", `the limit is ${maxBytes} bytes`);
      }
      for (let written = 0; written < value.length;) {
        written += await file.write(value.subarray(written));
      }
    }
    await file.syncData();
    file.close();
    file = undefined;
    return size;
  } catch (error) {
    await reader.cancel(error).catch(() => {});
    if (file) {
      file.close();
      await Deno.remove(path).catch(() => {});
    }
    throw signal?.aborted ? signal.reason : error;
  } finally {
    signal?.removeEventListener("abort", onAbort);
  }
}
