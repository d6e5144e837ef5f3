/**
 * Cuts a request body that stops sending. A client that trickles a byte now
 * and then (or none at all) would otherwise hold a connection, an upload slot
 * and a half-staged file for as long as it likes. Only the time spent waiting
 * for the client counts: while the consumer is busy (writing to disk, asking
 * Redis for quota) no read is pending and the clock does not run.
 */
import { CofferError } from "../errors.ts";

/**
 * Wraps `body` so that a read waiting longer than `idleMs` for the next
 * chunk fails with `REQUEST_TIMEOUT` and cancels the source (Deno then stops
 * reading the connection).
 *
 * @param body The request body.
 * @param idleMs Longest wait for one chunk.
 * @returns A stream of the same bytes.
 * @example
 * ```ts
 * const body = cutWhenIdle(request.body!, config.bodyIdleSeconds * 1000);
 * ```
 */
export function cutWhenIdle(
  body: ReadableStream<Uint8Array>,
  idleMs: number,
): ReadableStream<Uint8Array> {
  const reader = body.getReader();
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const idle = new Promise<"idle">((resolve) => {
        timer = setTimeout(() => resolve("idle"), idleMs);
      });
      try {
        const next = await Promise.race([reader.read(), idle]);
        if (next === "idle") {
          const seconds = Math.round(idleMs / 100) / 10;
          const error = new CofferError(
            "REQUEST_TIMEOUT",
            `The upload sent nothing for ${seconds} s`,
          );
          reader.cancel(error).catch(() => {});
          controller.error(error);
        } else if (next.done) {
          controller.close();
        } else {
          controller.enqueue(next.value);
        }
      } catch (error) {
        controller.error(error);
      } finally {
        clearTimeout(timer);
      }
    },
    cancel(reason) {
      return reader.cancel(reason);
    },
  }, { highWaterMark: 0 });
}
