// This module is browser compatible.

/**
 * The decryptor behind `openRangeDecryptor()`: maps plaintext ranges to
 * covering chunks, reads them in batches with one batch read ahead, and
 * decrypts each batch in one engine call through the ordered in-flight
 * window.
 *
 * @module
 */

import { ignore } from "./_bytes.ts";
import type { MessageKeys } from "./_derive.ts";
import { CHUNK_SIZE, ENCRYPTED_CHUNK_SIZE, HEADER_SIZE } from "./_params.ts";
import { ChunkWindow } from "./_window.ts";
import { DecryptionError } from "./errors.ts";
import type { CiphertextSource, RangeDecryptor } from "./random_access.ts";

interface Batch {
  first: number;
  last: number;
  bytes: Uint8Array;
}

/** Calls `source.readRange` and checks that it returned exactly the bytes asked for. */
export async function readExactly(
  source: CiphertextSource,
  start: number,
  endInclusive: number,
): Promise<Uint8Array> {
  const bytes = await source.readRange(start, endInclusive);
  const expected = endInclusive - start + 1;
  if (!(bytes instanceof Uint8Array) || bytes.length !== expected) {
    // The object is not the length it claimed: treat it like truncation.
    throw new DecryptionError(
      `Cannot read ciphertext bytes ${start}-${endInclusive}: expected ${expected} bytes`,
    );
  }
  return bytes;
}

const chunkOffset = (index: number) => HEADER_SIZE + index * ENCRYPTED_CHUNK_SIZE;

/** A {@linkcode RangeDecryptor} over a ciphertext whose commitment was checked. */
export class Decryptor implements RangeDecryptor {
  readonly size: number;
  #keys: MessageKeys;
  #source: CiphertextSource;
  #finalIndex: number;
  #chunksPerRead: number;
  #concurrency: number;
  #final?: Promise<Uint8Array>;
  #finalPlaintext?: Uint8Array;

  constructor(
    keys: MessageKeys,
    source: CiphertextSource,
    size: number,
    chunksPerRead: number,
    concurrency: number,
  ) {
    this.#keys = keys;
    this.#source = source;
    this.size = size;
    this.#finalIndex = Math.floor(size / CHUNK_SIZE);
    this.#chunksPerRead = chunksPerRead;
    this.#concurrency = concurrency;
  }

  authenticateSize(): Promise<number> {
    this.#final ??= (async () => {
      const start = chunkOffset(this.#finalIndex);
      const bytes = await readExactly(this.#source, start, this.#source.ciphertextSize - 1);
      const plaintext = await this.#decrypt(this.#finalIndex, bytes);
      this.#finalPlaintext = plaintext;
      return plaintext;
    })();
    const final = this.#final;
    final.catch((error) => {
      // Authenticity failures stick; a failed read may be retried.
      if (!(error instanceof DecryptionError) && this.#final === final) this.#final = undefined;
    });
    return final.then(() => this.size);
  }

  async read(start = 0, endInclusive = this.size - 1): Promise<Uint8Array> {
    const stream = this.stream(start, endInclusive); // validates the range
    const out = new Uint8Array(endInclusive - start + 1);
    let offset = 0;
    for await (const piece of stream) {
      out.set(piece, offset);
      offset += piece.length;
    }
    return out;
  }

  stream(start = 0, endInclusive = this.size - 1): ReadableStream<Uint8Array> {
    const span = this.#span(start, endInclusive);
    let next = span?.[0] ?? 1;
    const last = span?.[1] ?? 0;
    let inFlight: ChunkWindow;
    let ahead: Promise<Batch> | undefined; // the next batch, read while this one decrypts
    const settle = async () => {
      await Promise.allSettled([ahead, inFlight.settle()]);
    };

    return new ReadableStream<Uint8Array>({
      start: (controller) => {
        inFlight = new ChunkWindow(this.#concurrency, {
          emit: (plaintext, index) => {
            const base = index * CHUNK_SIZE;
            const from = Math.max(start - base, 0);
            const to = Math.min(endInclusive - base + 1, plaintext.length);
            if (to > from) controller.enqueue(plaintext.subarray(from, to));
          },
          failure: (index, cause) =>
            cause instanceof DecryptionError
              ? cause
              : new DecryptionError(`Cannot decrypt chunk ${index}: authentication failed`, {
                cause,
              }),
          failed: (error) => controller.error(error),
        });
      },
      pull: async (controller) => {
        if (next > last) return controller.close();
        try {
          const batch = await (ahead ?? this.#readBatch(next, last));
          next = batch.last + 1;
          ahead = next <= last ? this.#readBatch(next, last) : undefined;
          ahead?.catch(ignore);
          await this.#push(inFlight, batch);
          await inFlight.drain();
        } catch (error) {
          await settle();
          throw error;
        }
        if (inFlight.stopped) return; // cancelled while this batch decrypted
        if (next > last) controller.close();
      },
      cancel: settle,
    }, { highWaterMark: 0 });
  }

  /**
   * Decrypts the chunks read for `batch` in one engine call, then adds the
   * cached final chunk when the batch ends with it but did not read it.
   */
  async #push(inFlight: ChunkWindow, batch: Batch): Promise<void> {
    const read = batch.bytes.length === 0
      ? 0
      : Math.ceil(batch.bytes.length / ENCRYPTED_CHUNK_SIZE);
    if (read > 0) {
      const { aeadKey, baseNonce } = this.#keys;
      let result = aeadKey.openChunks(baseNonce, batch.first, batch.bytes);
      if (batch.first + read - 1 === this.#finalIndex) {
        result = result.then((plaintext) => {
          this.#finalPlaintext ??= plaintext.slice((this.#finalIndex - batch.first) * CHUNK_SIZE);
          return plaintext;
        });
      }
      await inFlight.push(batch.first, result, read);
    }
    if (batch.first + read <= batch.last) {
      await inFlight.push(batch.last, Promise.resolve(this.#finalPlaintext!.slice()));
    }
  }

  /** Chunk indices covering [start, endInclusive], or undefined for an empty range. */
  #span(start: number, endInclusive: number): [number, number] | undefined {
    if (
      !Number.isSafeInteger(start) || !Number.isSafeInteger(endInclusive) || start < 0 ||
      endInclusive >= this.size || start > endInclusive + 1
    ) {
      throw new RangeError(
        `Cannot read plaintext range ${start}-${endInclusive}: outside 0-${this.size - 1}`,
      );
    }
    if (endInclusive === this.size - 1) {
      return [Math.min(Math.floor(start / CHUNK_SIZE), this.#finalIndex), this.#finalIndex];
    }
    if (start > endInclusive) return undefined;
    return [Math.floor(start / CHUNK_SIZE), Math.floor(endInclusive / CHUNK_SIZE)];
  }

  /** Reads chunks first..min(last, first + chunksPerRead - 1) in one call. */
  async #readBatch(first: number, last: number): Promise<Batch> {
    const batchLast = Math.min(last, first + this.#chunksPerRead - 1);
    // A final chunk already authenticated is served from memory.
    const readLast = batchLast === this.#finalIndex && this.#finalPlaintext !== undefined
      ? batchLast - 1
      : batchLast;
    if (readLast < first) return { first, last: batchLast, bytes: new Uint8Array(0) };
    const end = readLast === this.#finalIndex
      ? this.#source.ciphertextSize - 1
      : chunkOffset(readLast + 1) - 1;
    const bytes = await readExactly(this.#source, chunkOffset(first), end);
    return { first, last: batchLast, bytes };
  }

  #decrypt(index: number, ciphertext: Uint8Array): Promise<Uint8Array> {
    return this.#keys.aeadKey.openChunks(this.#keys.baseNonce, index, ciphertext);
  }
}
