/**
 * Private to bench/: runs fauxqs (the in-memory S3 server the tests use) in a
 * process of its own, so neither the Coffer server nor the benchmark client
 * shares a thread with it. Prints `{"port":…}` once listening; stops on
 * SIGTERM or when stdin closes (the parent went away).
 *
 *     deno run -A bench/_fauxqs_process.ts BUCKET
 *
 * @module
 */
import { startFauxqs } from "fauxqs";

const bucket = Deno.args[0] ?? "coffer-bench";
const server = await startFauxqs({ port: 0, logger: false, host: "127.0.0.1" });
server.createBucket(bucket);
console.log(JSON.stringify({ port: server.port }));

let stopping = false;
async function stop() {
  if (stopping) return;
  stopping = true;
  await server.stop();
  Deno.exit(0);
}
Deno.addSignalListener("SIGTERM", stop);
Deno.addSignalListener("SIGINT", stop);
// The parent holds our stdin open; EOF means it is gone.
(async () => {
  for await (const _ of Deno.stdin.readable) { /* nothing is sent */ }
  await stop();
})();
