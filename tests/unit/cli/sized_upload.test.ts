/**
 * postSized() against a loopback Deno.serve: the body goes out with its
 * Content-Length (never chunked) and arrives intact, an early refusal is
 * returned (and its connection closed) instead of hanging, and a body that is not the announced length
 * or an aborted upload is an error.
 */
import assert from "node:assert/strict";
import { postSized } from "../../../cli/sized_upload.ts";

const MIB = 1024 * 1024;

/** `length` bytes of a repeating pattern, in `piece`-sized chunks, generated lazily. */
function patternStream(length: number, piece = 64 * 1024): ReadableStream<Uint8Array> {
  let sent = 0;
  return new ReadableStream({
    pull(controller) {
      if (sent >= length) return controller.close();
      const size = Math.min(piece, length - sent);
      const chunk = new Uint8Array(size);
      for (let i = 0; i < size; i++) chunk[i] = (sent + i) % 251;
      sent += size;
      controller.enqueue(chunk);
    },
  });
}

interface Seen {
  contentLength: string | null;
  transferEncoding: string | null;
  authorization: string | null;
  received: number;
  intact: boolean;
}

/**
 * A server that checks the pattern of every body it reads, or — given
 * `refuseAfter` — reads that many bytes and refuses, as Coffer does at a limit.
 */
function startServer(refuseAfter?: number) {
  const seen: Seen[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
    const entry: Seen = {
      contentLength: req.headers.get("content-length"),
      transferEncoding: req.headers.get("transfer-encoding"),
      authorization: req.headers.get("authorization"),
      received: 0,
      intact: true,
    };
    seen.push(entry);
    if (refuseAfter !== undefined) {
      const reader = req.body!.getReader();
      while (entry.received < refuseAfter) {
        const { done, value } = await reader.read();
        if (done) break;
        entry.received += value.length;
      }
      await reader.cancel();
      return Response.json({ title: "Payload too large" }, {
        status: 413,
        // No `Connection: close`, as Coffer answers: the client must close the
        // half-sent request itself.
        headers: { "Content-Type": "application/problem+json" },
      });
    }
    for await (const chunk of req.body!) {
      for (let i = 0; i < chunk.length; i++) {
        if (chunk[i] !== (entry.received + i) % 251) entry.intact = false;
      }
      entry.received += chunk.length;
    }
    return Response.json({ received: entry.received }, { status: 202 });
  });
  return { seen, url: `http://127.0.0.1:${server.addr.port}/api/files?name=x`, server };
}

/** Fails (rather than hangs) if a client still holds a connection open. */
async function shutdownWithin(server: Deno.HttpServer, ms: number): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`a connection was still open after ${ms} ms`)), ms);
  });
  try {
    await Promise.race([server.shutdown(), late]);
  } finally {
    clearTimeout(timer);
  }
}

Deno.test("postSized() sends the body with Content-Length, not chunked, and returns the answer", async () => {
  const { seen, url, server } = startServer();
  try {
    const length = 5 * MIB + 17;
    const response = await postSized(
      url,
      new Headers({ Authorization: "Bearer t0k3n" }),
      { stream: patternStream(length), length },
      new AbortController().signal,
    );
    assert.equal(response.status, 202);
    assert.equal(response.headers.get("content-type"), "application/json");
    assert.deepEqual(await response.json(), { received: length });
    assert.deepEqual(seen, [{
      contentLength: String(length),
      transferEncoding: null,
      authorization: "Bearer t0k3n",
      received: length,
      intact: true,
    }]);
  } finally {
    await server.shutdown();
  }
});

Deno.test("postSized() sends an empty file with Content-Length: 0", async () => {
  const { seen, url, server } = startServer();
  try {
    const response = await postSized(
      url,
      new Headers(),
      { stream: patternStream(0), length: 0 },
      new AbortController().signal,
    );
    assert.equal(response.status, 202);
    await response.body?.cancel();
    assert.equal(seen[0].contentLength, "0");
  } finally {
    await server.shutdown();
  }
});

for (const refuseAfter of [0, 256 * 1024]) {
  Deno.test(`postSized() returns a refusal sent after ${refuseAfter} bytes, stops sending and closes the connection`, async () => {
    const { url, server } = startServer(refuseAfter);
    try {
      let pulled = 0;
      const length = 256 * MIB;
      const counted = patternStream(length, MIB).pipeThrough(
        new TransformStream({
          transform(chunk, controller) {
            pulled += chunk.length;
            controller.enqueue(chunk);
          },
        }),
      );
      const response = await postSized(
        url,
        new Headers(),
        { stream: counted, length },
        new AbortController().signal,
      );
      assert.equal(response.status, 413);
      assert.deepEqual(await response.json(), { title: "Payload too large" });
      assert.ok(pulled < length, `read ${pulled} of ${length} bytes after the refusal`);
    } finally {
      await shutdownWithin(server, 10_000);
    }
  });
}

Deno.test("postSized() rejects a body shorter or longer than announced (the file changed)", async () => {
  const { url, server } = startServer();
  try {
    for (const [actual, announced] of [[1000, 2000], [3000, 2000]]) {
      await assert.rejects(
        postSized(
          url,
          new Headers(),
          { stream: patternStream(actual), length: announced },
          new AbortController().signal,
        ),
        /the file changed while it was sent/,
      );
    }
  } finally {
    await server.shutdown();
  }
});

Deno.test("postSized() stops when its signal aborts", async () => {
  const { url, server } = startServer();
  try {
    const controller = new AbortController();
    const stalled = new ReadableStream<Uint8Array>({
      start(stream) {
        stream.enqueue(new Uint8Array(10));
        controller.abort();
      },
    });
    await assert.rejects(
      postSized(url, new Headers(), { stream: stalled, length: 100 }, controller.signal),
    );
  } finally {
    await server.shutdown();
  }
});
