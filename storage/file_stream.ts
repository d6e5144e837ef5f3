/**
 * Streams a file in 1 MiB pieces: staged uploads, local objects and the files
 * `coffer decrypt` reads.
 * `FsFile.readable` reads 64 KiB at a time; the crypto engines seal or open
 * a whole piece's chunks in one call, and every piece costs an async read, an
 * allocation and a hop through each stream of the pipeline, so fewer, larger
 * pieces make encryption and decrypted downloads cheaper per byte. The file
 * is closed at the end, on error and on cancel.
 */

/** Bytes asked of each read: 64 Cobblestone chunks of plaintext. */
export const READ_PIECE = 1024 * 1024;

/**
 * Streams `length` bytes (default: to the end of the file) from the file's
 * current position.
 *
 * @param file An open file; the stream owns it from now on.
 * @param length How many bytes to read; the stream errors if the file ends first.
 * @returns A stream of pieces of at most {@linkcode READ_PIECE} bytes.
 */
export function streamFile(file: Deno.FsFile, length = Infinity): ReadableStream<Uint8Array> {
  let remaining = length;
  return new ReadableStream({
    async pull(controller) {
      try {
        if (remaining === 0) {
          file.close();
          controller.close();
          return;
        }
        const piece = new Uint8Array(Math.min(READ_PIECE, remaining));
        const read = await file.read(piece);
        if (read === null) {
          if (remaining !== Infinity) throw new Error("Cannot read file: it ended early");
          file.close();
          controller.close();
          return;
        }
        remaining -= read;
        controller.enqueue(read === piece.length ? piece : piece.subarray(0, read));
      } catch (error) {
        file.close();
        controller.error(error);
      }
    },
    cancel() {
      file.close();
    },
  }, { highWaterMark: 0 });
}
