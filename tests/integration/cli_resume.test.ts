/**
 * `coffer upload` resumes: a CLI killed mid-upload (SIGKILL, nothing saved on
 * exit) and run again with the same file continues from the server's offset
 * instead of starting over, and the file stored is the file on disk.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { collect, randomBytes, tempDir } from "../helpers.ts";
import { startTcpProxy } from "../tcp_proxy.ts";
import { signUp, startTestServer, waitForFile } from "../test_server.ts";

const CLI_MAIN = new URL("../../cli/main.ts", import.meta.url).pathname;
const MIB = 1024 * 1024;

function cli(url: string, configDir: string, cwd: string, args: string[]) {
  return new Deno.Command(Deno.execPath(), {
    signal: AbortSignal.timeout(90_000),
    args: ["run", "-A", CLI_MAIN, ...args],
    cwd,
    env: { COFFER_URL: url, COFFER_CONFIG_DIR: configDir, NO_COLOR: "1" },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  });
}

async function stagedBytes(dir: string): Promise<number> {
  let most = 0;
  for await (const entry of Deno.readDir(dir)) {
    if (entry.isFile) most = Math.max(most, (await Deno.stat(join(dir, entry.name))).size);
  }
  return most;
}

Deno.test("cli: upload killed mid-transfer resumes from the server's offset when run again", async () => {
  await using server = await startTestServer({ worker: true });
  await using work = await tempDir();
  await using proxy = startTcpProxy(Number(new URL(server.url).port), {
    bytesPerSecond: 2 * MIB,
  });
  const configDir = join(work.path, "config");
  const user = await signUp(server);
  const piped = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", CLI_MAIN, "login", user.username, "--password-stdin"],
    cwd: work.path,
    env: { COFFER_URL: proxy.url, COFFER_CONFIG_DIR: configDir, NO_COLOR: "1" },
    stdin: "piped",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const writer = piped.stdin.getWriter();
  await writer.write(new TextEncoder().encode("correct horse battery staple\n"));
  await writer.close();
  assert.equal((await piped.status).code, 0);

  const bytes = randomBytes(8 * MIB);
  await Deno.writeFile(join(work.path, "big.bin"), bytes);
  const first = cli(proxy.url, configDir, work.path, ["upload", "big.bin"]).spawn();
  const staging = join(server.config.dataDir, "staging");
  const deadline = Date.now() + 60_000;
  while (await stagedBytes(staging) < 2 * MIB) {
    assert.ok(Date.now() < deadline, "the first run sent 2 MiB within 60 s");
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  first.kill("SIGKILL");
  await first.output();

  const second = await cli(proxy.url, configDir, work.path, ["upload", "big.bin", "--json"])
    .output();
  const stderr = new TextDecoder().decode(second.stderr);
  assert.equal(second.code, 0, stderr);
  const resumed = /coffer: resuming big\.bin at (\d+) %/.exec(stderr);
  assert.ok(resumed, `the second run resumed: ${stderr}`);
  assert.ok(Number(resumed[1]) >= 20, `resumed at ${resumed[1]} %, not from the start`);
  const [record] = JSON.parse(new TextDecoder().decode(second.stdout));
  assert.equal((await waitForFile(server, user, record.id)).status, "stored");
  const listed = await (await fetch(`${server.url}/api/files`, { headers: user.headers })).json();
  assert.equal(listed.files.length, 1, "one file, not a second upload from the start");
  const content = await fetch(`${server.url}/api/files/${record.id}/content`, {
    headers: user.headers,
  });
  assert.deepEqual(await collect(content.body!), bytes);
});
