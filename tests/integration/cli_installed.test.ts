/**
 * The CLI as users get it (SPEC section 11): installed with the one-line
 * `deno install -g …` from README.md into a temp root, then run as `coffer`
 * from a directory unrelated to the repository — `register`, uploads and
 * downloads with relative paths, names instead of ids (`get`, `status`,
 * `share`, `rm`, `key`; an ambiguous name is
 * an error listing the ids), and a session that renews its access token
 * itself, keeping credentials.json at mode 0600.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { randomBytes, tempDir } from "../helpers.ts";
import { startTestServer } from "../test_server.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
const PASSWORD = "correct horse battery staple\n";
const decoder = new TextDecoder();

/** The install line of a README (the only `deno install -g` line in it). */
async function installLine(readme: string): Promise<string> {
  const lines = (await Deno.readTextFile(join(ROOT, readme))).split("\n")
    .map((line) => line.trim())
    .filter((line) => line.startsWith("deno install -g "));
  assert.equal(lines.length, 1, `${readme} has one install line: ${lines}`);
  return lines[0];
}

/** Runs the README's install line in the repository, into `root` instead of ~/.deno. */
async function install(root: string): Promise<string> {
  const line = await installLine("README.md");
  assert.equal(await installLine("cli/README.md"), line, "both READMEs give the same line");
  assert.doesNotMatch(line, /\s(-A|--allow-all|--allow-run|--allow-sys)\b/, "narrow permissions");
  const [program, ...args] = line.split(/\s+/);
  assert.equal(program, "deno");
  const output = await new Deno.Command(Deno.execPath(), {
    args: [...args.slice(0, 2), "--root", root, ...args.slice(2)],
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(output.code, 0, decoder.decode(output.stderr));
  return join(root, "bin", "coffer");
}

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

Deno.test("cli installed as coffer: any directory, register, names, ambiguous names, renewal", async (t) => {
  await using server = await startTestServer({ worker: true, config: { tokenTtlSeconds: 2 } });
  await using root = await tempDir("coffer-install-");
  await using home = await tempDir("coffer-home-");
  const coffer = await install(root.path);
  const configDir = join(home.path, ".config", "coffer");
  const credentials = join(configDir, "credentials.json");
  const work = join(home.path, "projects", "q3");
  await Deno.mkdir(join(work, "a"), { recursive: true });
  await Deno.mkdir(join(work, "b"), { recursive: true });

  const run = async (args: string[], stdin?: string, cwd = work): Promise<Run> => {
    const child = new Deno.Command(coffer, {
      args,
      cwd,
      // Only what a user's shell would have: HOME decides where credentials live.
      clearEnv: true,
      env: {
        PATH: Deno.env.get("PATH") ?? "",
        HOME: home.path,
        COFFER_URL: server.url,
        NO_COLOR: "1",
        ...(Deno.env.get("DENO_DIR") ? { DENO_DIR: Deno.env.get("DENO_DIR")! } : {}),
      },
      stdin: stdin === undefined ? "null" : "piped",
      stdout: "piped",
      stderr: "piped",
      signal: AbortSignal.timeout(60_000),
    }).spawn();
    if (stdin !== undefined) {
      const writer = child.stdin.getWriter();
      await writer.write(new TextEncoder().encode(stdin));
      await writer.close();
    }
    const output = await child.output();
    return {
      code: output.code,
      stdout: decoder.decode(output.stdout),
      stderr: decoder.decode(output.stderr),
    };
  };
  const ok = async (args: string[], stdin?: string, cwd?: string) => {
    const result = await run(args, stdin, cwd);
    assert.equal(result.code, 0, `coffer ${args.join(" ")}: ${result.stderr}`);
    return result;
  };
  const saved = async () => JSON.parse(await Deno.readTextFile(credentials)).servers[server.url];
  const mode = async () => (await Deno.stat(credentials)).mode! & 0o777;

  await t.step("register creates the account and signs in (credentials 0600)", async () => {
    const result = await ok(["register", "carol", "--password-stdin"], PASSWORD);
    assert.match(result.stdout, /^Registered carol on http:\/\/127\.0\.0\.1:\d+ and signed in/);
    assert.equal(await mode(), 0o600);
    assert.equal((await Deno.stat(configDir)).mode! & 0o777, 0o700);
    assert.match((await saved()).refresh_token, /^crt_/);
    const taken = await run(["register", "carol", "--password-stdin"], PASSWORD);
    assert.equal(taken.code, 1);
    assert.match(taken.stderr, /Cannot register carol: Username already taken/);
  });

  const report = randomBytes(40_000);
  let reportId = "";
  await t.step("upload and get with paths relative to the caller's directory", async () => {
    await Deno.writeFile(join(work, "a", "report.bin"), report);
    const uploaded = await ok(["upload", "a/report.bin", "--json"]);
    reportId = JSON.parse(uploaded.stdout)[0].id;
    await ok(["get", "report.bin", "-o", "b/"], undefined, work);
    assert.deepEqual(await Deno.readFile(join(work, "b", "report.bin")), report);
    // With no -o, the file lands in the caller's directory, not the repository's.
    await ok(["get", "report.bin"], undefined, join(work, "a", ".."));
    assert.deepEqual(await Deno.readFile(join(work, "report.bin")), report);
    assert.equal(await Deno.stat(join(ROOT, "report.bin")).then(() => true, () => false), false);
    const status = await ok(["status", "report.bin"]);
    assert.match(status.stdout, /^stored {2}100%/);
    const shared = await ok(["share", "report.bin", "--max-downloads", "1"]);
    assert.match(shared.stdout, /^http:\/\/127\.0\.0\.1:\d+\/s\/\S+\n$/);
  });

  await t.step("an ambiguous name is an error listing every matching id", async () => {
    await Deno.writeTextFile(join(work, "a", "notes.txt"), "first");
    await Deno.writeTextFile(join(work, "b", "notes.txt"), "second");
    const first = JSON.parse((await ok(["upload", "a/notes.txt", "--json"])).stdout)[0].id;
    const second = JSON.parse((await ok(["upload", "b/notes.txt", "--json"])).stdout)[0].id;
    for (
      const command of [["get", "notes.txt", "-o", "x.txt"], ["rm", "notes.txt"], [
        "key",
        "notes.txt",
      ]]
    ) {
      const result = await run(command);
      assert.equal(result.code, 1, command.join(" "));
      assert.match(result.stderr, /2 files are named "notes\.txt"; give one of their ids/);
      assert.ok(result.stderr.includes(first) && result.stderr.includes(second), result.stderr);
    }
    assert.equal(await Deno.stat(join(work, "x.txt")).then(() => true, () => false), false);
    // An id always works; then the name is unique again.
    await ok(["rm", first]);
    await ok(["get", "notes.txt", "-o", "notes-copy.txt"]);
    assert.equal(await Deno.readTextFile(join(work, "notes-copy.txt")), "second");
    const missing = await run(["get", "nothing.txt"]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /no file has the id or name "nothing\.txt"/);
  });

  await t.step("the session renews itself once the access token has expired", async () => {
    const before = await saved();
    await new Promise((resolve) => setTimeout(resolve, 2500)); // the 2 s token is past its expiry
    const listed = await ok(["ls", "--json"]);
    assert.ok(JSON.parse(listed.stdout).some((file: { id: string }) => file.id === reportId));
    const after = await saved();
    assert.notEqual(after.access_token, before.access_token);
    assert.notEqual(after.refresh_token, before.refresh_token);
    assert.ok(Date.parse(after.expires_at) > Date.now());
    assert.equal(await mode(), 0o600);

    // A token the server refuses (revoked, another clock) is renewed once and the request retried.
    await Deno.writeTextFile(
      credentials,
      JSON.stringify({
        servers: {
          [server.url]: {
            ...after,
            access_token: "not.a.token",
            expires_at: "2999-01-01T00:00:00Z",
          },
        },
      }),
      { mode: 0o600 },
    );
    await ok(["status", reportId]);
    assert.notEqual((await saved()).access_token, "not.a.token");
    assert.equal(await mode(), 0o600);
  });

  await t.step("a session ended elsewhere fails with advice; logout forgets it", async () => {
    const { access_token } = await saved();
    const elsewhere = await fetch(`${server.url}/api/auth/logout`, {
      method: "POST",
      headers: { Authorization: `Bearer ${access_token}` },
    });
    assert.equal(elsewhere.status, 204);
    await new Promise((resolve) => setTimeout(resolve, 2500));
    const ended = await run(["ls"]);
    assert.equal(ended.code, 1);
    assert.match(ended.stderr, /session with .* has ended .*: run 'coffer login carol'/);
    await ok(["logout"]);
    assert.equal((await run(["ls"])).code, 1);
    await ok(["login", "carol", "--password-stdin"], PASSWORD);
    await ok(["logout"]);
  });
});

Deno.test("deno task cli resolves relative paths against the caller's directory", async () => {
  await using work = await tempDir("coffer-caller-");
  await Deno.writeTextFile(join(work.path, "key.json"), "not a key export");
  const output = await new Deno.Command(Deno.execPath(), {
    args: [
      "task",
      "--config",
      join(ROOT, "deno.json"),
      "cli",
      "decrypt",
      "x.cbl",
      "--key",
      "key.json",
    ],
    cwd: work.path,
    // A clean environment: `deno task` keeps an INIT_CWD it inherits (from `deno task test`).
    clearEnv: true,
    env: {
      PATH: Deno.env.get("PATH") ?? "",
      NO_COLOR: "1",
      COFFER_CONFIG_DIR: work.path,
      ...(Deno.env.get("HOME") ? { HOME: Deno.env.get("HOME")! } : {}),
      ...(Deno.env.get("DENO_DIR") ? { DENO_DIR: Deno.env.get("DENO_DIR")! } : {}),
    },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stderr = decoder.decode(output.stderr);
  assert.equal(output.code, 1, stderr);
  // The caller's key.json was found (and refused as malformed), not looked for in the repository.
  assert.match(stderr, /coffer: Cannot read key file key\.json: /);
  assert.doesNotMatch(stderr, /No such file|not found/i);
});
