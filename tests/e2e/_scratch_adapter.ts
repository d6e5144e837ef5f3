import { forEachFilePart } from "./_scratch_mp.ts";
import { writeStreamToFile } from "../../storage/_write_stream.ts";
const server = Deno.serve({ port: 0, onListen() {} }, async (req) => {
  try {
    await forEachFilePart(req, { maxFiles: 20 }, async (part) => {
      await new Promise((r) => setTimeout(r, 20));
    await writeStreamToFile(await Deno.makeTempFile() + "x", part.body, { maxBytes: 2 * 1024 * 1024 });
    });
    return new Response("ok");
  } catch (e) { return new Response(String(e), { status: 413 }); }
});
const form = new FormData();
form.append("file", new File([new Uint8Array(3 * 1024 * 1024)], "big.bin"));
const r = await fetch(`http://127.0.0.1:${server.addr.port}/`, { method: "POST", body: form });
console.log(r.status, await r.text());
await new Promise((r) => setTimeout(r, 200));
console.log("alive");
await server.shutdown();
