/**
 * Private to bench/: benchmark payloads as streams, never as giant buffers.
 * One random 1 MiB block is drawn per stream and repeated, with the block
 * counter written into every 4 KiB page, so no two mebibytes of a file are
 * alike and generating costs about one memory copy per byte.
 *
 * @module
 */

import { MIB } from "./_stats.ts";

const PAGE = 4096;

function randomBlock(): Uint8Array {
  const block = new Uint8Array(MIB);
  for (let at = 0; at < MIB; at += 65536) crypto.getRandomValues(block.subarray(at, at + 65536));
  return block;
}

/**
 * A stream of `length` pseudo-random bytes in fresh pieces (consumers may
 * keep the pieces they receive).
 *
 * @param length Bytes to produce.
 * @param pieceSize Bytes per piece: 1 MiB, or a power of two below it.
 * @returns The stream; nothing is generated until it is read.
 */
export function randomStream(
  length: number,
  pieceSize = MIB,
): ReadableStream<Uint8Array<ArrayBuffer>> {
  const block = randomBlock();
  let offset = 0;
  let counter = 0;
  return new ReadableStream({
    pull(controller) {
      if (offset >= length) return controller.close();
      const at = offset % MIB;
      const piece = block.slice(at, at + Math.min(pieceSize, length - offset));
      const view = new DataView(piece.buffer);
      counter++;
      for (let page = 0; page + 4 <= piece.length; page += PAGE) view.setUint32(page, counter);
      offset += piece.length;
      controller.enqueue(piece);
    },
  }, { highWaterMark: 0 });
}

/**
 * Writes a stream into a new file the way the staging area does (create,
 * write every piece, `fdatasync`, close): the "direct file write" baseline.
 *
 * @param path A file that must not exist yet.
 * @param body The bytes to write.
 * @returns The number of bytes written.
 */
export async function writeFileDirect(path: string, body: ReadableStream<Uint8Array>) {
  using file = await Deno.open(path, { write: true, createNew: true, mode: 0o600 });
  let size = 0;
  for await (const piece of body) {
    for (let written = 0; written < piece.length;) {
      written += await file.write(piece.subarray(written));
    }
    size += piece.length;
  }
  await file.syncData();
  return size;
}

/**
 * A multipart/form-data body with one file part (field `file`) around `data`.
 *
 * @param data The file content.
 * @param size Its length in bytes.
 * @param boundary The boundary (also put it in the Content-Type header).
 * @param filename The part's file name.
 * @returns The body and its exact length.
 */
export function multipartBody(
  data: ReadableStream<Uint8Array>,
  size: number,
  boundary: string,
  filename: string,
): { body: ReadableStream<Uint8Array>; length: number } {
  const encoder = new TextEncoder();
  const head = encoder.encode(
    `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="${filename}"\r\n` +
      "Content-Type: application/octet-stream\r\n\r\n",
  );
  const tail = encoder.encode(`\r\n--${boundary}--\r\n`);
  const reader = data.getReader();
  let stage: "head" | "body" | "done" = "head";
  const body = new ReadableStream<Uint8Array>({
    async pull(controller) {
      if (stage === "head") {
        stage = "body";
        return controller.enqueue(head);
      }
      if (stage === "done") return controller.close();
      const { done, value } = await reader.read();
      if (!done) return controller.enqueue(value);
      stage = "done";
      controller.enqueue(tail);
    },
    cancel: (reason) => reader.cancel(reason),
  }, { highWaterMark: 0 });
  return { body, length: head.length + size + tail.length };
}
