// This module is browser compatible.

/**
 * An ordered window of chunk operations in flight.
 *
 * Each operation is one engine call on a batch of consecutive chunks (see
 * `engine.ts`), weighted by its chunk count. WebCrypto completes each chunk
 * asynchronously, so keeping several in flight multiplies throughput; a
 * synchronous engine's operations are done when pushed. The window emits
 * results strictly in submission order, as soon as an operation and every
 * earlier one have succeeded. When an operation fails nothing
 * after it is ever emitted: the window waits for the operations still in
 * flight to settle (so none outlives the stream), then reports the failure.
 *
 * A window stopped by {@linkcode ChunkWindow.settle} (the stream was
 * cancelled) takes no more work and rejects nothing: Deno's TransformStream
 * loses a transform() rejection that arrives after its readable side was
 * cancelled — the rejection goes unhandled, which ends the process, and the
 * pending write never settles — so the transforms check
 * {@linkcode ChunkWindow.stopped} and return quietly instead.
 *
 * @module
 */

import { ignore } from "./_bytes.ts";

const RESOLVED = Promise.resolve();

/** Receives the result of the batch starting at chunk `index`, in order. */
export type Emit = (bytes: Uint8Array, index: number) => void;

/** How the window reports results and failures. */
export interface WindowCallbacks {
  /** Called with each result, in order. */
  emit: Emit;
  /** Maps a rejected operation (first chunk index, cause) to the error to report. */
  failure: (index: number, cause: unknown) => Error;
  /** Called once with that error, after every operation in flight settled. */
  failed: (error: Error) => void;
}

interface Operation {
  index: number;
  weight: number;
  done: boolean;
  value?: Uint8Array;
  cause?: unknown;
  rejected: boolean;
  settled: Promise<void>;
}

/** Ordered, bounded set of pending chunk operations. */
export class ChunkWindow {
  #queue: Operation[] = [];
  #weight = 0; // chunks in the queue
  #limit: number;
  #callbacks: WindowCallbacks;
  #failure?: Promise<never>;
  #stopped = false;
  #progress?: PromiseWithResolvers<void>;

  /**
   * @param limit Most chunks in flight at once (a bigger batch runs alone).
   * @param callbacks Where results and the failure go.
   */
  constructor(limit: number, callbacks: WindowCallbacks) {
    this.#limit = limit;
    this.#callbacks = callbacks;
  }

  /** Whether {@linkcode ChunkWindow.settle} stopped the window (the stream was cancelled). */
  get stopped(): boolean {
    return this.#stopped;
  }

  /**
   * Adds the operation on `weight` chunks starting at chunk `index`.
   * Resolves at once while the window has room, else once enough earlier
   * operations were emitted; rejects with the failure once an operation
   * failed. A stopped window drops the operation: the promise resolves once
   * it settled, and nothing is emitted.
   */
  push(index: number, result: Promise<Uint8Array>, weight = 1): Promise<void> {
    if (this.#failure) {
      const failure = this.#failure;
      return result.then(() => failure, () => failure); // let it settle, then report
    }
    if (this.#stopped) return result.then(ignore, ignore);
    const operation = { index, weight, done: false, rejected: false } as Operation;
    operation.settled = result.then(
      (value) => {
        operation.value = value;
        operation.done = true;
        this.#advance();
      },
      (cause) => {
        operation.rejected = true;
        operation.cause = cause;
        operation.done = true;
        this.#advance();
      },
    );
    this.#queue.push(operation);
    this.#weight += weight;
    if (this.#weight < this.#limit) return RESOLVED;
    return this.#until(() => this.#weight < this.#limit);
  }

  /**
   * Resolves once every operation was emitted (or the window was stopped by
   * {@linkcode ChunkWindow.settle}); rejects with the failure.
   */
  drain(): Promise<void> {
    return this.#until(() => this.#queue.length === 0);
  }

  /**
   * Stops emitting and waits for every operation in flight to settle
   * (on cancel, or before reporting an error found outside the window).
   */
  async settle(): Promise<void> {
    this.#stopped = true;
    this.#wake(); // waiters return: nothing more will be emitted
    await Promise.allSettled(this.#queue.map((operation) => operation.settled));
  }

  async #until(condition: () => boolean): Promise<void> {
    while (!this.#failure && !this.#stopped && !condition()) {
      this.#progress ??= Promise.withResolvers<void>();
      await this.#progress.promise;
    }
    if (this.#failure) return this.#failure;
  }

  #advance(): void {
    if (this.#failure || this.#stopped) return this.#wake();
    while (this.#queue.length > 0 && this.#queue[0].done) {
      const operation = this.#queue[0];
      if (operation.rejected) {
        this.#fail(this.#callbacks.failure(operation.index, operation.cause));
        break;
      }
      this.#queue.shift();
      this.#weight -= operation.weight;
      try {
        this.#callbacks.emit(operation.value!, operation.index);
      } catch (error) {
        // The consumer went away (e.g. the stream was cancelled).
        this.#fail(error instanceof Error ? error : new Error(String(error)));
        break;
      }
    }
    this.#wake();
  }

  #wake(): void {
    const progress = this.#progress;
    this.#progress = undefined;
    progress?.resolve();
  }

  #fail(error: Error): void {
    const pending = this.#queue.map((operation) => operation.settled);
    this.#queue = [];
    this.#weight = 0;
    this.#failure = Promise.allSettled(pending).then(() => {
      try {
        this.#callbacks.failed(error);
      } catch {
        // Already errored or closed: nothing left to tell.
      }
      throw error;
    });
    this.#failure.catch(ignore);
  }
}
