/**
 * Small stream utilities for bounded reads. Use only where the size is
 * bounded by the caller (a ranged read of a few chunks, a sidecar of a few
 * hundred bytes) — never for a whole file.
 */

/** Reads a bounded stream into one array. */
export async function collectBytes(stream: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  let length = 0;
  for await (const part of stream) {
    parts.push(part);
    length += part.length;
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
