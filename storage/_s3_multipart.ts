/**
 * Private to storage/: the streaming multipart upload behind S3ObjectStore.put.
 * The body is cut into equal parts; up to `partsInFlight` parts upload while the
 * next one is read, so at most partsInFlight + 1 part buffers exist at a time.
 */
import {
  type CompletedPart,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  type S3Client,
  UploadPartCommand,
} from "@aws-sdk/client-s3";
import type { ObjectMetadata } from "./object_store.ts";

/** S3's limit on parts per upload. */
export const MAX_PARTS = 10_000;

/** Where a multipart upload goes. */
export interface MultipartTarget {
  client: S3Client;
  bucket: string;
  key: string;
  metadata?: ObjectMetadata;
  signal?: AbortSignal;
}

/**
 * Uploads `first` and every further part of `parts` as one multipart upload.
 * On any failure or abort the in-flight parts are cancelled, the upload is
 * aborted with `abortUpload`, and the original error is rethrown.
 *
 * @returns The number of bytes stored.
 */
export async function uploadMultipart(
  target: MultipartTarget,
  first: Uint8Array,
  parts: PartReader,
  partsInFlight: number,
  abortUpload: (uploadId: string) => Promise<unknown>,
): Promise<number> {
  const { client, bucket, key, metadata, signal } = target;
  const { UploadId } = await client.send(
    new CreateMultipartUploadCommand({ Bucket: bucket, Key: key, Metadata: metadata }),
    { abortSignal: signal },
  );
  const stop = new AbortController();
  const partSignal = signal ? AbortSignal.any([signal, stop.signal]) : stop.signal;
  const inFlight = new Set<Promise<void>>();
  const completed: CompletedPart[] = [];
  let total = 0;
  try {
    let part: Uint8Array | undefined = first;
    for (let number = 1; part; number++) {
      if (number > MAX_PARTS) {
        throw new Error(`Cannot upload ${key}: more than ${MAX_PARTS} parts (pass contentLength)`);
      }
      total += part.length;
      if (inFlight.size >= partsInFlight) await Promise.race(inFlight);
      const sent = part;
      const command = new UploadPartCommand({
        Bucket: bucket,
        Key: key,
        UploadId,
        PartNumber: number,
        Body: sent,
        ContentLength: sent.length,
      });
      const task = client.send(command, { abortSignal: partSignal }).then(({ ETag }) => {
        completed[number - 1] = { ETag, PartNumber: number };
        parts.recycle(sent);
      });
      const tracked: Promise<void> = task.finally(() => inFlight.delete(tracked));
      tracked.catch(() => {}); // observed by race/all; never an unhandled rejection
      inFlight.add(tracked);
      part = part.length === parts.partSize ? await parts.next() : undefined;
    }
    await Promise.all(inFlight);
    await client.send(
      new CompleteMultipartUploadCommand({
        Bucket: bucket,
        Key: key,
        UploadId,
        MultipartUpload: { Parts: completed },
      }),
      { abortSignal: signal },
    );
    return total;
  } catch (error) {
    stop.abort();
    await Promise.allSettled(inFlight);
    await abortUpload(UploadId!).catch(() => {}); // logged by the caller; keep the first error
    throw error;
  }
}

/**
 * Reads a byte stream into part buffers of exactly `partSize` bytes (the last one
 * shorter). Buffers of uploaded parts are recycled rather than left to the garbage
 * collector, which reclaims large buffers late: without reuse, peak memory grew
 * with the object size (measured: 122 MiB of buffers for a 200 MiB upload).
 */
export class PartReader {
  readonly #reader: ReadableStreamDefaultReader<Uint8Array>;
  readonly #signal?: AbortSignal;
  readonly #onAbort = () => this.#reader.cancel(this.#signal?.reason).catch(() => {});
  readonly #free: Uint8Array[] = [];
  #leftover?: Uint8Array;
  #done = false;

  constructor(stream: ReadableStream<Uint8Array>, readonly partSize: number, signal?: AbortSignal) {
    this.#reader = stream.getReader();
    this.#signal = signal;
    signal?.addEventListener("abort", this.#onAbort, { once: true });
  }

  /** The next part, or undefined at the end of the stream. */
  async next(): Promise<Uint8Array | undefined> {
    const part = this.#free.pop() ?? new Uint8Array(this.partSize);
    let filled = 0;
    while (filled < this.partSize && !(this.#done && !this.#leftover)) {
      let chunk = this.#leftover;
      this.#leftover = undefined;
      if (!chunk) {
        const { done, value } = await this.#reader.read();
        this.#signal?.throwIfAborted(); // a cancelled read reports done
        if (done) {
          this.#done = true;
          this.#signal?.removeEventListener("abort", this.#onAbort);
          break;
        }
        chunk = value;
      }
      const taken = Math.min(chunk.length, this.partSize - filled);
      part.set(chunk.subarray(0, taken), filled);
      filled += taken;
      if (taken < chunk.length) this.#leftover = chunk.subarray(taken);
    }
    if (filled === 0) this.#free.push(part);
    return filled === 0 ? undefined : part.subarray(0, filled);
  }

  /** Hands back the buffer of a part the server has fully received. */
  recycle(part: Uint8Array): void {
    this.#free.push(new Uint8Array(part.buffer, 0, this.partSize));
  }

  /** Releases the source after a failure. */
  async cancel(reason: unknown): Promise<void> {
    this.#signal?.removeEventListener("abort", this.#onAbort);
    if (!this.#done) await this.#reader.cancel(reason).catch(() => {});
  }
}
