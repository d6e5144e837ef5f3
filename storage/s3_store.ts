/**
 * The S3 object store: any S3-compatible server (AWS, MinIO, LocalStack, R2,
 * fauxqs) through @aws-sdk/client-s3. Uploads are multipart from a stream in
 * equal-size parts with a few parts in flight, so memory stays bounded by
 * (parts in flight + 1) × part size whatever the object size.
 */
import {
  AbortMultipartUploadCommand,
  CreateBucketCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  type MultipartUpload,
  PutObjectCommand,
  S3Client,
} from "@aws-sdk/client-s3";
import { type Config, S3_TIMEOUT_DEFAULT_MS } from "../config.ts";
import { type Logger, silentLogger } from "../log.ts";
import { checkedBody } from "./_s3_body.ts";
import { MAX_PARTS, PartReader, uploadMultipart } from "./_s3_multipart.ts";
import {
  type ByteRange,
  type ObjectInfo,
  ObjectNotFoundError,
  type ObjectStore,
  ObjectStoreUnavailableError,
  type PutOptions,
} from "./object_store.ts";

const MIB = 1024 * 1024;
/** S3's smallest part (all parts but the last). */
const MIN_PART_SIZE = 5 * MIB;

/** S3 settings as validated by config.ts. */
export type S3Settings = NonNullable<Config["s3"]>;

/**
 * Attempts of one S3 request (the SDK's standard retry mode: exponential
 * backoff from 100 ms with full jitter, capped at 20 s, and a retry budget
 * that stops retrying while most requests fail). Failures that outlast them
 * are left to the caller: an upload job retries with its own backoff.
 */
export const S3_MAX_ATTEMPTS = 3;

/** What the client reports besides errors. */
export interface S3ClientOptions {
  /** Called after every request that needed retries, with the operation (`GetObject`) and count. */
  onRetries?: (operation: string, retries: number) => void;
}

/** Tuning knobs of {@linkcode S3ObjectStore}; the defaults suit production. */
export interface S3StoreOptions {
  /** Bytes per part (all parts but the last); default 8 MiB, at least 5 MiB. */
  partSize?: number;
  /** Parts uploaded concurrently while the stream keeps being read; default 3. */
  partsInFlight?: number;
  /** Page size of object and upload listings (MaxKeys/MaxUploads); default 1000. */
  listPageSize?: number;
  /** Where stale-upload cleanups are reported. */
  log?: Logger;
}

/** Options of {@linkcode createS3ObjectStore}: the store's and its client's. */
export type S3OpenOptions = S3StoreOptions & S3ClientOptions;

/**
 * Creates an S3 client for S3-compatible servers: path-style addressing when an
 * endpoint is set, checksums only when required (otherwise streamed bodies go
 * out aws-chunked, which some servers store verbatim), credentials from config
 * when given (else the SDK's default chain).
 *
 * Every request is cut once no byte has moved for `timeoutMs` (connecting,
 * waiting for the answer, or mid-body): the socket inactivity timeout of
 * @smithy/node-http-handler, which, unlike its `requestTimeout` (a warning
 * unless told to throw) or a per-command abort signal (which would also cut
 * a long download that is still moving), measures silence only. Timed-out,
 * refused and reset requests and 5xx answers are retried
 * ({@linkcode S3_MAX_ATTEMPTS}); what still fails is an
 * {@linkcode ObjectStoreUnavailableError}.
 *
 * @param settings The `s3` section of the config.
 * @param options Where retries are reported.
 * @returns A client; destroy it with `client.destroy()`.
 */
export function createS3Client(settings: S3Settings, options: S3ClientOptions = {}): S3Client {
  const { endpoint, region, accessKeyId, secretAccessKey } = settings;
  const timeoutMs = settings.timeoutMs ?? S3_TIMEOUT_DEFAULT_MS;
  const client = new S3Client({
    region,
    endpoint,
    forcePathStyle: endpoint !== undefined,
    credentials: accessKeyId && secretAccessKey ? { accessKeyId, secretAccessKey } : undefined,
    requestChecksumCalculation: "WHEN_REQUIRED",
    responseChecksumValidation: "WHEN_REQUIRED",
    maxAttempts: S3_MAX_ATTEMPTS,
    requestHandler: { connectionTimeout: timeoutMs, socketTimeout: timeoutMs },
  });
  // Outermost, so it sees what is left after the SDK's own retries.
  client.middlewareStack.add((next, context) => async (args) => {
    const operation = String(context.commandName ?? "unknown").replace(/Command$/, "");
    try {
      const result = await next(args);
      reportRetries(options, operation, result.output);
      return result;
    } catch (error) {
      reportRetries(options, operation, error);
      if (isUnavailable(error)) throw new ObjectStoreUnavailableError(error);
      throw error;
    }
  }, { step: "initialize", name: "cofferUnreachableStore" });
  return client;
}

function reportRetries(options: S3ClientOptions, operation: string, outcome: unknown) {
  const attempts = (outcome as { $metadata?: { attempts?: number } })?.$metadata?.attempts ?? 1;
  if (attempts > 1) options.onRetries?.(operation, attempts - 1);
}

/** The store did not answer in time, refused, reset, or answered a server error. */
function isUnavailable(error: unknown): boolean {
  const { code, name } = (error ?? {}) as { code?: string; name?: string };
  if (UNREACHABLE.has(code ?? "") || name === "TimeoutError") return true;
  return SERVER_ERRORS.has(statusOf(error) ?? 0);
}

/** Answers that mean the store is failing or overloaded (501 means unsupported: not these). */
const SERVER_ERRORS = new Set([500, 502, 503, 504]);

/** Socket errors that mean the endpoint did not answer at all. */
const UNREACHABLE = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ETIMEDOUT",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "ENOTFOUND",
  "EAI_AGAIN",
  "EPIPE",
]);

/**
 * Opens the S3 object store, creating the bucket if it does not exist.
 *
 * @param settings The `s3` section of the config.
 * @param log Receives a line when the bucket is created (never credentials).
 * @param options Tuning knobs (tests pass a small part size).
 * @returns A store that owns its client; `close()` destroys it.
 * @throws {Error} if the bucket can neither be found nor created.
 * @example
 * ```ts
 * const store = await createS3ObjectStore(config.s3!, log);
 * await store.put("files/u1/f1", stream, { metadata: { kid: "k1" } });
 * ```
 */
export async function createS3ObjectStore(
  settings: S3Settings,
  log: Logger,
  options: S3OpenOptions = {},
): Promise<S3ObjectStore> {
  const client = createS3Client(settings, options);
  const store = new S3ObjectStore(client, settings.bucket, { log, ...options });
  try {
    if (!await store.bucketExists()) {
      await client.send(
        new CreateBucketCommand({
          Bucket: settings.bucket,
          CreateBucketConfiguration: settings.region === "us-east-1"
            ? undefined
            : { LocationConstraint: settings.region as never },
        }),
      ).catch((error) => {
        if (!["BucketAlreadyOwnedByYou", "BucketAlreadyExists"].includes(error?.name)) throw error;
      });
      log.info("object_store.bucket_created", { bucket: settings.bucket });
    }
  } catch (error) {
    client.destroy();
    const where = settings.endpoint ?? `AWS ${settings.region}`;
    throw new Error(
      `Cannot open S3 bucket ${settings.bucket} at ${where}: ${(error as Error).message}`,
      { cause: error },
    );
  }
  return store;
}

/**
 * An {@linkcode ObjectStore} on an S3 bucket.
 *
 * `put` always streams: a body shorter than one part goes out as one PutObject,
 * anything longer as a multipart upload whose parts are sent while the stream is
 * still being read. On any failure or abort the multipart upload is aborted.
 * Before a put starts, unfinished uploads left at the same key (a crashed earlier
 * attempt) are aborted. `get` streams as the bytes arrive; a body cut or stalled
 * mid-way errors with {@linkcode ObjectStoreUnavailableError}, never ends short.
 * `list` reports no metadata (S3 listings carry none): use `head`. Metadata keys
 * come back lowercased, as S3 stores them.
 */
export class S3ObjectStore implements ObjectStore {
  readonly kind = "s3";
  readonly #partSize: number;
  readonly #partsInFlight: number;
  readonly #pageSize: number;
  readonly #log: Logger;

  /**
   * @param client The S3 client; owned by the store from now on.
   * @param bucket The bucket every key lives in.
   * @param options Tuning knobs.
   * @throws {RangeError} on a part size under 5 MiB or fewer than 1 part in flight.
   */
  constructor(readonly client: S3Client, readonly bucket: string, options: S3StoreOptions = {}) {
    this.#partSize = options.partSize ?? 8 * MIB;
    this.#partsInFlight = options.partsInFlight ?? 3;
    this.#pageSize = options.listPageSize ?? 1000;
    this.#log = options.log ?? silentLogger;
    if (!(this.#partSize >= MIN_PART_SIZE) || !(this.#partsInFlight >= 1)) {
      throw new RangeError("Cannot create S3 store: part size below 5 MiB or no part in flight");
    }
  }

  async put(
    key: string,
    body: ReadableStream<Uint8Array>,
    options: PutOptions = {},
  ): Promise<number> {
    const { metadata, signal } = options;
    const parts = new PartReader(body, this.#partSizeFor(options.contentLength), signal);
    try {
      signal?.throwIfAborted();
      await this.#abortUploadsAt(key);
      const first = await parts.next() ?? new Uint8Array(0);
      if (first.length < parts.partSize) {
        await this.client.send(
          new PutObjectCommand({
            Bucket: this.bucket,
            Key: key,
            Body: first,
            ContentLength: first.length,
            Metadata: metadata,
          }),
          { abortSignal: signal },
        );
        return first.length;
      }
      return await uploadMultipart(
        { client: this.client, bucket: this.bucket, key, metadata, signal },
        first,
        parts,
        this.#partsInFlight,
        (uploadId) => this.#abortUpload(key, uploadId),
      );
    } catch (error) {
      await parts.cancel(error);
      throw signal?.aborted ? signal.reason : error;
    }
  }

  async get(key: string, range?: ByteRange): Promise<ReadableStream<Uint8Array>> {
    try {
      const { Body, ContentLength } = await this.client.send(
        new GetObjectCommand({
          Bucket: this.bucket,
          Key: key,
          Range: range ? `bytes=${range.start}-${range.end}` : undefined,
        }),
      );
      if (!Body) return new ReadableStream({ start: (controller) => controller.close() });
      const body = Body.transformToWebStream() as ReadableStream<Uint8Array>;
      return checkedBody(key, body, ContentLength);
    } catch (error) {
      if (isNotFound(error)) throw new ObjectNotFoundError(key);
      if (statusOf(error) === 416) {
        throw new RangeError(`Cannot read ${key}: range ${range?.start}-${range?.end} is invalid`);
      }
      throw error;
    }
  }

  async head(key: string): Promise<ObjectInfo | undefined> {
    try {
      const out = await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: key }));
      const metadata = Object.fromEntries(
        Object.entries(out.Metadata ?? {}).map(([name, value]) => [name.toLowerCase(), value]),
      );
      return { key, size: out.ContentLength ?? 0, metadata, lastModified: out.LastModified };
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw error;
    }
  }

  async delete(key: string): Promise<void> {
    await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: key }));
  }

  async *list(prefix: string): AsyncIterable<ObjectInfo> {
    let token: string | undefined;
    do {
      const page = await this.client.send(
        new ListObjectsV2Command({
          Bucket: this.bucket,
          Prefix: prefix,
          MaxKeys: this.#pageSize,
          ContinuationToken: token,
        }),
      );
      for (const object of page.Contents ?? []) {
        yield {
          key: object.Key!,
          size: object.Size ?? 0,
          metadata: {},
          lastModified: object.LastModified,
        };
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
  }

  async abortUnfinishedUploads(
    prefix: string,
    olderThan: Date,
    keep?: (key: string) => Promise<boolean>,
  ): Promise<number> {
    let aborted = 0;
    for await (const upload of this.#listUploads(prefix)) {
      if (upload.Initiated && upload.Initiated < olderThan && !await keep?.(upload.Key!)) {
        if (await this.#abortUpload(upload.Key!, upload.UploadId!)) aborted++;
      }
    }
    return aborted;
  }

  async ping(): Promise<void> {
    await this.client.send(new HeadBucketCommand({ Bucket: this.bucket }));
  }

  close(): Promise<void> {
    this.client.destroy();
    return Promise.resolve();
  }

  /** Whether the bucket exists (false on 404; other failures throw). */
  async bucketExists(): Promise<boolean> {
    try {
      await this.ping();
      return true;
    } catch (error) {
      if (statusOf(error) === 404 || (error as Error)?.name === "NoSuchBucket") return false;
      throw error;
    }
  }

  /** The part size for a body: grows (in whole MiB) to keep a known length under 10,000 parts. */
  #partSizeFor(contentLength?: number): number {
    if (contentLength === undefined || contentLength <= this.#partSize * MAX_PARTS) {
      return this.#partSize;
    }
    return Math.ceil(contentLength / MAX_PARTS / MIB) * MIB;
  }

  /**
   * Aborts unfinished uploads at exactly `key`, e.g. left by a crashed earlier attempt.
   * Best effort: a server or policy that refuses the listing must not fail the put.
   */
  async #abortUploadsAt(key: string): Promise<void> {
    try {
      for await (const upload of this.#listUploads(key)) {
        if (upload.Key === key && await this.#abortUpload(key, upload.UploadId!)) {
          this.#log.warn("object_store.stale_upload_aborted", { key });
        }
      }
    } catch (error) {
      this.#log.warn("object_store.stale_upload_check_failed", { key, error: String(error) });
    }
  }

  /** Aborts one multipart upload; false if it was already gone. */
  async #abortUpload(key: string, uploadId: string): Promise<boolean> {
    try {
      await this.client.send(
        new AbortMultipartUploadCommand({ Bucket: this.bucket, Key: key, UploadId: uploadId }),
      );
      return true;
    } catch (error) {
      if (isNotFound(error)) return false;
      this.#log.error("object_store.abort_upload_failed", { key, error: String(error) });
      throw error;
    }
  }

  async *#listUploads(prefix: string): AsyncIterable<MultipartUpload> {
    let keyMarker: string | undefined;
    let uploadIdMarker: string | undefined;
    do {
      const page = await this.client.send(
        new ListMultipartUploadsCommand({
          Bucket: this.bucket,
          Prefix: prefix,
          MaxUploads: this.#pageSize,
          KeyMarker: keyMarker,
          UploadIdMarker: uploadIdMarker,
        }),
      );
      yield* page.Uploads ?? [];
      keyMarker = page.IsTruncated ? page.NextKeyMarker : undefined;
      uploadIdMarker = page.NextUploadIdMarker;
    } while (keyMarker);
  }
}

function statusOf(error: unknown): number | undefined {
  return (error as { $metadata?: { httpStatusCode?: number } })?.$metadata?.httpStatusCode;
}

/** A missing key or upload (a missing bucket is a configuration error, not this). */
function isNotFound(error: unknown): boolean {
  const name = (error as Error)?.name;
  if (name === "NoSuchBucket") return false;
  return ["NoSuchKey", "NotFound", "NoSuchUpload"].includes(name) || statusOf(error) === 404;
}
