/**
 * Reproducer (no Coffer code involved) for a Deno 2.9 server problem the
 * benchmarks ran into: a request body sent `Transfer-Encoding: chunked` in
 * small frames is read far slower than the same bytes sent with
 * `Content-Length`, when the handler writes each piece to a file (so it reads
 * slower than the client sends). The server's time goes to memmove (perf),
 * it grows superlinearly with the body size, and the server's RSS grows.
 * Deno's `fetch` sends every `ReadableStream` body this way — one frame per
 * piece (64 KiB from `FsFile.readable`) — so `deno task cli upload` does too.
 *
 *     deno run -A bench/chunked_upload_repro.ts [mib]
 *
 * @module
 */

const mib = Number(Deno.args[0] ?? 64);
const total = mib * 1024 * 1024;
const dir = await Deno.makeTempDir({ prefix: "chunked-repro-" });

const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (request) => {
  const started = performance.now();
  using file = await Deno.open(`${dir}/${crypto.randomUUID()}`, { write: true, createNew: true });
  let bytes = 0;
  for await (const piece of request.body!) {
    bytes += piece.length;
    for (let written = 0; written < piece.length;) {
      written += await file.write(piece.subarray(written));
    }
  }
  const ms = performance.now() - started;
  const rss = Math.round(Deno.memoryUsage().rss / 1e6);
  return new Response(`${bytes} bytes in ${ms.toFixed(0)} ms, server RSS ${rss} MB`);
});

async function send(framing: "length" | "chunked", frame: number): Promise<string> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: server.addr.port });
  const encoder = new TextEncoder();
  const writeAll = async (bytes: Uint8Array) => {
    for (let written = 0; written < bytes.length;) {
      written += await conn.write(bytes.subarray(written));
    }
  };
  const header = framing === "chunked" ? "Transfer-Encoding: chunked" : `Content-Length: ${total}`;
  await writeAll(
    encoder.encode(`POST / HTTP/1.1\r\nHost: x\r\n${header}\r\nConnection: close\r\n\r\n`),
  );
  const piece = crypto.getRandomValues(new Uint8Array(Math.min(frame, 65536)));
  const block = new Uint8Array(frame);
  for (let at = 0; at < frame; at += piece.length) block.set(piece.subarray(0, frame - at), at);
  for (let sent = 0; sent < total; sent += frame) {
    if (framing === "chunked") await writeAll(encoder.encode(`${frame.toString(16)}\r\n`));
    await writeAll(block);
    if (framing === "chunked") await writeAll(encoder.encode("\r\n"));
  }
  if (framing === "chunked") await writeAll(encoder.encode("0\r\n\r\n"));
  const response = await new Response(conn.readable).text();
  return response.slice(response.indexOf("\r\n\r\n") + 4);
}

try {
  for (
    const [framing, frame] of [["length", 65536], ["chunked", 1 << 20], ["chunked", 65536]] as const
  ) {
    console.log(
      `${mib} MiB, ${framing} in ${frame / 1024} KiB writes: ${await send(framing, frame)}`,
    );
  }
} finally {
  await server.shutdown();
  await Deno.remove(dir, { recursive: true });
}
