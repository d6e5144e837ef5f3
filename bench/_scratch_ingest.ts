import { signUp, uploadRaw } from "./_client.ts";
import { randomStream } from "./_data.ts";
import { startServer } from "./_processes.ts";
import { MIB } from "./_stats.ts";
await using server = await startServer({ profileDir: Deno.env.get("PROF") });
const user = await signUp(server.url);
for (const mib of Deno.args.map(Number)) {
  const { ms } = await uploadRaw(server.url, user, randomStream(mib * MIB));
  console.log(mib, "MiB", ms.toFixed(0), "ms", (mib / ms * 1000).toFixed(0), "MiB/s", "rss", ((await server.rss()) / 1e6).toFixed(0));
}
