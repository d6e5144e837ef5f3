/**
 * Private to storage/: the body of an S3 GetObject as Coffer reads it. The
 * SDK hands out the socket's bytes as they come; a connection cut or timed
 * out mid-body surfaces as a socket error (or, behind some proxies, as an
 * early clean end). Either way the reader must see that the store failed —
 * never a short object that looks whole, and never a socket error that an
 * error handler would take for a bug.
 */
import { ObjectStoreUnavailableError } from "./object_store.ts";

/**
 * Wraps a GetObject body: an error from the connection becomes an
 * {@linkcode ObjectStoreUnavailableError}, and so does an end before
 * `expectedBytes`. Cancelling the result cancels the body, which releases
 * the connection.
 *
 * @param key The object key, for the message.
 * @param body The SDK's body as a web stream.
 * @param expectedBytes The answer's Content-Length, when it had one.
 * @returns A stream of the same bytes.
 */
export function checkedBody(
  key: string,
  body: ReadableStream<Uint8Array>,
  expectedBytes?: number,
): ReadableStream<Uint8Array> {
  const reader = body.getReader();
  let received = 0;
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      let result: ReadableStreamReadResult<Uint8Array>;
      try {
        result = await reader.read();
      } catch (error) {
        controller.error(new ObjectStoreUnavailableError(error));
        return;
      }
      if (!result.done) {
        received += result.value.length;
        controller.enqueue(result.value);
      } else if (expectedBytes !== undefined && received < expectedBytes) {
        controller.error(
          new ObjectStoreUnavailableError(
            new Error(`${key} ended after ${received} of ${expectedBytes} bytes`),
          ),
        );
      } else {
        controller.close();
      }
    },
    cancel: (reason) => reader.cancel(reason),
  }, { highWaterMark: 0 });
}
