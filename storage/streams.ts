/**
 * Bounded reads of small objects into memory: a ranged read of a few chunks,
 * a key sidecar or a user backup of a few hundred bytes — never a whole file.
 * The bound is enforced, so an object swollen in the bucket cannot swell the
 * process.
 */

/** Largest sidecar or user backup read from the bucket (they are under 1 KiB). */
export const SMALL_OBJECT_MAX_BYTES = 64 * 1024;

/**
 * Reads a stream into one array, refusing more than `maxBytes`.
 *
 * @throws {RangeError} as soon as more than `maxBytes` arrive (the stream is cancelled).
 */
export async function collectBytes(
  stream: ReadableStream<Uint8Array>,
  maxBytes: number,
): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  let length = 0;
  for await (const part of stream) {
    length += part.length;
    if (length > maxBytes) {
      throw new RangeError(`Cannot read the object: it is larger than ${maxBytes} bytes`);
    }
    parts.push(part);
  }
  if (parts.length === 1) return parts[0];
  const bytes = new Uint8Array(length);
  let offset = 0;
  for (const part of parts) {
    bytes.set(part, offset);
    offset += part.length;
  }
  return bytes;
}
