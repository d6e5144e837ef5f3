/**
 * Chooses the object store from the config: S3 when `config.s3` is set, else
 * the local-disk store under the data dir (announced in the log, so an operator
 * who meant to use S3 notices).
 */
import { resolve } from "node:path";
import type { Config } from "../config.ts";
import type { Logger } from "../log.ts";
import { LocalObjectStore } from "./local_store.ts";
import type { ObjectStore } from "./object_store.ts";
import { createS3ObjectStore, type S3ClientOptions } from "./s3_store.ts";

/**
 * Opens the configured object store.
 *
 * @param config The validated configuration.
 * @param log Receives one line naming the backend (endpoint and bucket, never credentials).
 * @param s3Options Where an S3 client reports its retries.
 * @returns The store; the caller closes it.
 * @throws {Error} if the S3 bucket can neither be found nor created.
 * @example
 * ```ts
 * await using stack = new AsyncDisposableStack();
 * const store = await openObjectStore(config, log);
 * stack.defer(() => store.close());
 * ```
 */
export async function openObjectStore(
  config: Config,
  log: Logger,
  s3Options: S3ClientOptions = {},
): Promise<ObjectStore> {
  if (config.s3) {
    const { endpoint, bucket, region } = config.s3;
    const store = await createS3ObjectStore(config.s3, log, s3Options);
    log.info("object_store.s3", { endpoint: endpoint ?? "aws", bucket, region });
    return store;
  }
  const root = resolve(config.dataDir, "objects");
  const store = await LocalObjectStore.create(root);
  log.info("object_store.local", {
    message: `no S3 configured: storing objects on local disk at ${root}`,
    root,
  });
  return store;
}
