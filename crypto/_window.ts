// This module is browser compatible.

/**
 * An ordered window of WebCrypto chunk operations in flight.
 *
 * WebCrypto does one AES-GCM call per chunk and runs calls on worker threads,
 * so keeping several in flight multiplies throughput. The window emits
 * results strictly in submission order, and only after every earlier
 * operation succeeded: a failed chunk stops the window before anything after
 * it is emitted.
 *
 * @module
 */

import { ignore } from "./_bytes.ts";

/** Receives the result of chunk `index`, in order. */
export type Emit = (bytes: Uint8Array<ArrayBuffer>, index: number) => void;

interface Operation {
  index: number;
  result: Promise<ArrayBuffer>;
}

/** Ordered, bounded set of pending chunk operations. */
export class ChunkWindow {
  #operations: Operation[] = [];
  #limit: number;
  #failure: (index: number, error: unknown) => Error;

  /**
   * @param limit Most operations in flight at once.
   * @param failure Maps a rejected operation (chunk index, cause) to the error to throw.
   */
  constructor(limit: number, failure: (index: number, error: unknown) => Error) {
    this.#limit = limit;
    this.#failure = failure;
  }

  /** Operations submitted and not yet emitted. */
  get size(): number {
    return this.#operations.length;
  }

  /**
   * Adds the operation of chunk `index`. When the window is full, waits for
   * the oldest operation and emits its result, so callers that await this
   * never have more than `limit` operations outstanding.
   */
  async push(
    index: number,
    result: Promise<ArrayBuffer>,
    emit: Emit,
  ): Promise<void> {
    result.catch(ignore); // rejections are handled in order by #shift
    this.#operations.push({ index, result });
    if (this.#operations.length >= this.#limit) await this.#shift(emit);
  }

  /** Waits for and emits every remaining operation, in order. */
  async drain(emit: Emit): Promise<void> {
    while (this.#operations.length > 0) await this.#shift(emit);
  }

  /** Forgets every pending operation after waiting for it to settle (on error or cancel). */
  async settle(): Promise<void> {
    const pending = this.#operations;
    this.#operations = [];
    await Promise.allSettled(pending.map((operation) => operation.result));
  }

  async #shift(emit: Emit): Promise<void> {
    const operation = this.#operations.shift()!;
    let bytes: Uint8Array<ArrayBuffer>;
    try {
      bytes = new Uint8Array(await operation.result);
    } catch (error) {
      await this.settle();
      throw this.#failure(operation.index, error);
    }
    emit(bytes, operation.index);
  }
}
