/**
 * The CLI end to end, run as a subprocess (`deno run -A cli/main.ts …`)
 * against a real server with its worker: login, upload, ls, status, get
 * (plaintext and ciphertext), key export and offline decrypt, rm, logout —
 * and decrypt refusing tampered files and wrong keys without leaving output.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { randomBytes, tempDir } from "../helpers.ts";
import { signUp, startTestServer } from "../test_server.ts";

const CLI_MAIN = new URL("../../cli/main.ts", import.meta.url).pathname;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

interface CliEnv {
  url: string;
  configDir: string;
  cwd: string;
}

/** Runs the CLI to completion; the child is killed if anything throws. */
async function runCli(env: CliEnv, args: string[], stdin?: string): Promise<CliResult> {
  const child = new Deno.Command(Deno.execPath(), {
    // A CLI that hangs is killed (and fails its test) rather than hanging the suite.
    signal: AbortSignal.timeout(60_000),
    args: ["run", "-A", CLI_MAIN, ...args],
    cwd: env.cwd,
    env: { COFFER_URL: env.url, COFFER_CONFIG_DIR: env.configDir, NO_COLOR: "1" },
    stdin: stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  try {
    if (stdin !== undefined) {
      const writer = child.stdin.getWriter();
      await writer.write(encoder.encode(stdin));
      await writer.close();
    }
    const output = await child.output();
    return {
      code: output.code,
      stdout: decoder.decode(output.stdout),
      stderr: decoder.decode(output.stderr),
    };
  } catch (error) {
    try {
      child.kill();
    } catch {
      // Already exited.
    }
    await child.status;
    throw error;
  }
}

async function assertCli(env: CliEnv, args: string[], stdin?: string): Promise<CliResult> {
  const result = await runCli(env, args, stdin);
  assert.equal(result.code, 0, `${args.join(" ")}: ${result.stderr}`);
  return result;
}

async function exists(path: string): Promise<boolean> {
  return await Deno.stat(path).then(() => true, () => false);
}

/** Names in a directory that look like leftover temp files. */
async function partFiles(dir: string): Promise<string[]> {
  const names: string[] = [];
  for await (const entry of Deno.readDir(dir)) {
    if (entry.name.endsWith(".part")) names.push(entry.name);
  }
  return names;
}

Deno.test("cli: login, upload, ls, get, key, decrypt, rm, logout", async (t) => {
  await using server = await startTestServer({ worker: true });
  await using work = await tempDir();
  const env: CliEnv = { url: server.url, configDir: join(work.path, "config"), cwd: work.path };
  const user = await signUp(server);
  const text = encoder.encode("Quarterly report — ünïcödé\n".repeat(50));
  const binary = randomBytes(3 * 16384 + 1000);
  await Deno.writeFile(join(work.path, "report 2024.txt"), text);
  await Deno.writeFile(join(work.path, "photo.bin"), binary);
  let ids: Record<string, string> = {};

  await t.step("commands that need a session refuse without one", async () => {
    const result = await runCli(env, ["ls"]);
    assert.equal(result.code, 1);
    assert.match(result.stderr, /Not signed in to http:\/\/127\.0\.0\.1:\d+/);
  });

  await t.step("login --password-stdin saves a private token", async () => {
    const wrong = await runCli(env, ["login", user.username, "--password-stdin"], "nope nope\n");
    assert.equal(wrong.code, 1);
    assert.match(wrong.stderr, /^coffer: Cannot sign in as .*: Invalid username or password\n$/);
    const ok = await assertCli(
      env,
      ["login", user.username, "--password-stdin"],
      "correct horse battery staple\n",
    );
    assert.match(ok.stdout, new RegExp(`as ${user.username}`));
    const info = await Deno.stat(join(env.configDir, "credentials.json"));
    assert.equal(info.mode! & 0o777, 0o600);
  });

  await t.step("upload streams both files and waits until stored", async () => {
    const result = await assertCli(env, ["upload", "report 2024.txt", "photo.bin", "--json"]);
    const records = JSON.parse(result.stdout) as { id: string; name: string; status: string }[];
    assert.deepEqual(records.map((r) => [r.name, r.status]), [
      ["report 2024.txt", "stored"],
      ["photo.bin", "stored"],
    ]);
    ids = Object.fromEntries(records.map((r) => [r.name, r.id]));
  });

  await t.step("ls shows both files", async () => {
    const json = JSON.parse((await assertCli(env, ["ls", "--json"])).stdout);
    assert.deepEqual(json.map((r: { name: string }) => r.name).sort(), [
      "photo.bin",
      "report 2024.txt",
    ]);
    const table = (await assertCli(env, ["ls"])).stdout;
    assert.match(table, /^ID\s+SIZE\s+STATUS\s+CREATED\s+NAME$/m);
    assert.match(table, /stored\s+\S+ \S+\s+report 2024\.txt$/m);
  });

  await t.step("status reports stored", async () => {
    const result = await assertCli(env, ["status", ids["photo.bin"], "--json"]);
    assert.equal(JSON.parse(result.stdout).status, "stored");
  });

  await t.step("get downloads the plaintext under its name and refuses to overwrite", async () => {
    await Deno.remove(join(work.path, "report 2024.txt"));
    await assertCli(env, ["get", ids["report 2024.txt"]]);
    assert.deepEqual(await Deno.readFile(join(work.path, "report 2024.txt")), text);
    const again = await runCli(env, ["get", ids["report 2024.txt"]]);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /already exists \(use --force to overwrite\)/);
    await assertCli(env, ["get", ids["report 2024.txt"], "--force"]);
    await assertCli(env, ["get", ids["photo.bin"], "-o", "photo.out"]);
    assert.deepEqual(await Deno.readFile(join(work.path, "photo.out")), binary);
  });

  await t.step("get --encrypted + key + offline decrypt equals the original", async () => {
    for (const [name, original] of [["photo.bin", binary], ["report 2024.txt", text]] as const) {
      const id = ids[name];
      await assertCli(env, ["get", id, "--encrypted", "-o", `${id}.cbl`]);
      await assertCli(env, ["key", id, "-o", `${id}.key.json`]);
      const offline = { ...env, url: "http://127.0.0.1:9" }; // no server needed
      await assertCli(offline, ["decrypt", `${id}.cbl`, "--key", `${id}.key.json`]);
      assert.deepEqual(await Deno.readFile(join(work.path, id)), original);
    }
    const keyInfo = await Deno.stat(join(work.path, `${ids["photo.bin"]}.key.json`));
    assert.equal(keyInfo.mode! & 0o777, 0o600);
    const printed = JSON.parse((await assertCli(env, ["key", ids["photo.bin"]])).stdout);
    assert.equal(printed.format, "c2sp.org/chunked-encryption@v1+AEAD_AES_256_GCM");
  });

  await t.step(
    "decrypt of a tampered, truncated or wrongly keyed file exits 1, no output",
    async () => {
      const id = ids["photo.bin"];
      const ciphertext = await Deno.readFile(join(work.path, `${id}.cbl`));
      const flipped = ciphertext.slice();
      flipped[56 + 16400 + 100] ^= 1;
      await Deno.writeFile(join(work.path, "flipped.cbl"), flipped);
      await Deno.writeFile(join(work.path, "short.cbl"), ciphertext.slice(0, 56 + 2 * 16400));
      const otherKey = `${ids["report 2024.txt"]}.key.json`;
      await Deno.writeTextFile(join(work.path, "bad.key.json"), '{"format":"x"}');
      const cases = [
        ["flipped.cbl", `${id}.key.json`, /authentication failed/],
        ["short.cbl", `${id}.key.json`, /authentication failed/],
        [`${id}.cbl`, otherKey, /authentication failed/],
        [`${id}.cbl`, "bad.key.json", /Cannot read key file bad\.key\.json: .*format/],
      ] as const;
      for (const [file, key, message] of cases) {
        const result = await runCli(env, ["decrypt", file, "--key", key, "-o", "out.bin"]);
        assert.equal(result.code, 1, `${file} with ${key}`);
        assert.match(result.stderr, message);
        assert.equal(await exists(join(work.path, "out.bin")), false);
        assert.deepEqual(await partFiles(work.path), []);
      }
    },
  );

  await t.step("rm deletes both files and ls is empty", async () => {
    const result = await assertCli(env, ["rm", ids["photo.bin"], ids["report 2024.txt"]]);
    assert.equal(result.stdout.trim().split("\n").length, 2);
    assert.deepEqual(JSON.parse((await assertCli(env, ["ls", "--json"])).stdout), []);
    const gone = await runCli(env, ["get", ids["photo.bin"]]);
    assert.equal(gone.code, 1);
    assert.match(gone.stderr, /^coffer: Cannot download .*: no file has the id or name/);
  });

  await t.step("logout revokes the token and forgets it", async () => {
    const { access_token } = JSON.parse(
      await Deno.readTextFile(join(env.configDir, "credentials.json")),
    ).servers[server.url];
    await assertCli(env, ["logout"]);
    const revoked = await fetch(`${server.url}/api/files`, {
      headers: { Authorization: `Bearer ${access_token}` },
    });
    await revoked.body?.cancel();
    assert.equal(revoked.status, 401);
    assert.equal((await runCli(env, ["ls"])).code, 1);
  });
});

Deno.test("cli: usage errors exit 2 and --help exits 0", async () => {
  await using work = await tempDir();
  const env: CliEnv = { url: "http://127.0.0.1:9", configDir: work.path, cwd: work.path };
  const usage = [
    [],
    ["bogus"],
    ["get"],
    ["ls", "extra"],
    ["ls", "--bogus"],
    ["get", "-o"],
    ["decrypt", "file.cbl"],
    ["--server", "ftp://x", "ls"],
  ];
  for (const args of usage) {
    const result = await runCli(env, args);
    assert.equal(result.code, 2, `${JSON.stringify(args)}: ${result.stderr}`);
    assert.notEqual(result.stderr, "");
  }
  for (const args of [["--help"], ["help", "get"], ["get", "--help"], ["decrypt", "-h"]]) {
    const result = await runCli(env, args);
    assert.equal(result.code, 0, JSON.stringify(args));
    assert.match(result.stdout, /^Usage: coffer/);
  }
});

Deno.test("cli: an upload over the quota reports it and exits 1 without hanging", async () => {
  await using server = await startTestServer({ config: { quotaBytes: 256 * 1024 } });
  await using work = await tempDir();
  const env: CliEnv = { url: server.url, configDir: join(work.path, "config"), cwd: work.path };
  const user = await signUp(server);
  await assertCli(
    env,
    ["login", user.username, "--password-stdin"],
    "correct horse battery staple\n",
  );
  await Deno.writeFile(join(work.path, "big.bin"), randomBytes(8 * 1024 * 1024));
  const result = await runCli(env, ["upload", "big.bin"]);
  assert.equal(result.code, 1, result.stderr);
  assert.match(result.stderr, /Cannot upload big\.bin: .*quota/);
  assert.deepEqual(JSON.parse((await assertCli(env, ["ls", "--json"])).stdout), []);
});
