/**
 * The object store interface that routes and workers depend on. Two backends
 * implement it: storage/s3_store.ts (any S3-compatible server) and
 * storage/local_store.ts (a directory on local disk). Keys are opaque
 * strings such as `files/<owner>/<id>`; callers never learn which backend
 * they use.
 */

/** Object metadata: small string pairs stored beside the object. */
export type ObjectMetadata = Record<string, string>;

/**
 * The object store did not answer (connection refused, reset or timed out,
 * a server error such as 503 SlowDown, or a body cut mid-way), after the
 * client's own retries: the request may succeed later.
 */
export class ObjectStoreUnavailableError extends Error {
  constructor(cause: unknown) {
    super(`Cannot reach the object store: ${(cause as Error)?.message ?? cause}`, { cause });
    this.name = "ObjectStoreUnavailableError";
  }
}

/** What `head` reports about a stored object. */
export interface ObjectInfo {
  key: string;
  size: number;
  metadata: ObjectMetadata;
  lastModified?: Date;
}

/** Options for {@linkcode ObjectStore.put}. */
export interface PutOptions {
  /** Small metadata stored with the object (ASCII keys and values). */
  metadata?: ObjectMetadata;
  /** The exact body length when known; lets S3 choose a part size under 10,000 parts. */
  contentLength?: number;
  /** Aborts the upload; an unfinished multipart upload is aborted too. */
  signal?: AbortSignal;
}

/** An inclusive byte range. */
export interface ByteRange {
  start: number;
  end: number;
}

/**
 * A place to keep objects. Every implementation passes the shared contract
 * suite in tests/integration/object_store_contract.ts.
 */
export interface ObjectStore {
  /** "s3" or "local", for logs and readiness messages only. */
  readonly kind: string;
  /**
   * True when every piece `get()` streams is a fresh buffer nothing else
   * reads, so the reader may overwrite it (decrypt in place). Stores whose
   * pieces may share memory with their transport leave it unset.
   */
  readonly handsOverPieces?: boolean;
  /**
   * Stores a stream under `key`, replacing any object there. The object becomes
   * visible only once the whole stream has been written (atomic on both backends).
   * @returns The number of bytes stored.
   */
  put(key: string, body: ReadableStream<Uint8Array>, options?: PutOptions): Promise<number>;
  /**
   * Streams an object, or an inclusive byte range of it.
   * @throws {ObjectNotFoundError} if the key does not exist.
   */
  get(key: string, range?: ByteRange): Promise<ReadableStream<Uint8Array>>;
  /** Size and metadata of an object, or `undefined` if it does not exist. */
  head(key: string): Promise<ObjectInfo | undefined>;
  /** Deletes an object; deleting a missing key is not an error. */
  delete(key: string): Promise<void>;
  /** Lists objects whose key starts with `prefix`, in key order, across all pages. */
  list(prefix: string): AsyncIterable<ObjectInfo>;
  /**
   * Aborts unfinished uploads under `prefix` started before `olderThan`,
   * except those whose key `keep` says are still being written (a large
   * upload can take longer than any age limit).
   * @returns How many were aborted.
   */
  abortUnfinishedUploads(
    prefix: string,
    olderThan: Date,
    keep?: (key: string) => Promise<boolean>,
  ): Promise<number>;
  /** Resolves if the backend answers; used by /readyz. */
  ping(): Promise<void>;
  /** Releases connections and handles. */
  close(): Promise<void>;
}

/** Thrown by {@linkcode ObjectStore.get} for a missing key. */
export class ObjectNotFoundError extends Error {
  constructor(readonly key: string) {
    super(`Cannot read object: ${key} does not exist`);
    this.name = "ObjectNotFoundError";
  }
}
