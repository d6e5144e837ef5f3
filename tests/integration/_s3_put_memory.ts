/**
 * Subprocess for the S3 memory test: uploads a generated stream of MIB mebibytes
 * to the bucket and prints `{"bytes":…, "peakRss":…}`, the peak sampled while
 * uploading. Run as: deno run -A _s3_put_memory.ts ENDPOINT BUCKET MIB KEY
 */
import { silentLogger } from "../../log.ts";
import { createS3ObjectStore } from "../../storage/s3_store.ts";

/** The byte at offset `i` of every generated object: a prime-period pattern. */
export const PATTERN_PERIOD = 65521;
export function patternBlock(): Uint8Array {
  const block = new Uint8Array(PATTERN_PERIOD);
  let state = 12345;
  for (let i = 0; i < block.length; i++) {
    state = (state * 1103515245 + 12345) >>> 0;
    block[i] = state >>> 24;
  }
  return block;
}

/** A stream of `length` pattern bytes in fresh 64 KiB chunks, as a file or socket delivers. */
export function patternStream(length: number): ReadableStream<Uint8Array> {
  const block = patternBlock();
  let offset = 0;
  return new ReadableStream({
    pull(controller) {
      if (offset >= length) return controller.close();
      const chunk = new Uint8Array(Math.min(65536, length - offset));
      for (let i = 0; i < chunk.length; i++) chunk[i] = block[(offset + i) % PATTERN_PERIOD];
      offset += chunk.length;
      controller.enqueue(chunk);
    },
  });
}

if (import.meta.main) {
  const [endpoint, bucket, mib, key] = Deno.args;
  const store = await createS3ObjectStore(
    { endpoint, bucket, region: "us-east-1", accessKeyId: "test", secretAccessKey: "test" },
    silentLogger,
  );
  let peakRss = Deno.memoryUsage().rss;
  const sampler = setInterval(() => peakRss = Math.max(peakRss, Deno.memoryUsage().rss), 10);
  try {
    const length = Number(mib) * 1024 * 1024;
    const bytes = await store.put(key, patternStream(length), { contentLength: length });
    peakRss = Math.max(peakRss, Deno.memoryUsage().rss);
    console.log(JSON.stringify({ bytes, peakRss }));
  } finally {
    clearInterval(sampler);
    await store.close();
  }
}
