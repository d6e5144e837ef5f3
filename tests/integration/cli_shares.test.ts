/**
 * The CLI's share-link and file-request commands as a subprocess against a
 * real server: `share` (expiry, download limit, password from stdin),
 * `shares`, `unshare`, `request`, and their usage errors.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { parseDuration } from "../../cli/commands/shares.ts";
import { randomBytes, tempDir } from "../helpers.ts";
import { signUp, startTestServer } from "../test_server.ts";
import { uploadFile } from "./_files_fixture.ts";
import { bytesOf, postJson } from "./_shares_fixture.ts";

const CLI_MAIN = new URL("../../cli/main.ts", import.meta.url).pathname;
const decoder = new TextDecoder();

async function cli(url: string, configDir: string, args: string[], stdin?: string) {
  const child = new Deno.Command(Deno.execPath(), {
    signal: AbortSignal.timeout(60_000),
    args: ["run", "-A", CLI_MAIN, ...args],
    env: { COFFER_URL: url, COFFER_CONFIG_DIR: configDir, NO_COLOR: "1" },
    stdin: stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
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
}

Deno.test("parseDuration() reads s, m, h, d and w, and refuses anything else", () => {
  assert.equal(parseDuration("90"), 90);
  assert.equal(parseDuration("30m"), 1800);
  assert.equal(parseDuration("12h"), 43200);
  assert.equal(parseDuration("7d"), 604800);
  assert.equal(parseDuration("2w"), 1209600);
  for (const bad of ["", "7 days", "-1d", "1.5h", "d"]) {
    assert.throws(() => parseDuration(bad), /Cannot read duration/, bad);
  }
});

Deno.test("cli: share, shares, unshare and request", async () => {
  await using server = await startTestServer({ worker: true });
  await using work = await tempDir();
  const config = join(work.path, "config");
  const user = await signUp(server);
  const run = (args: string[], stdin?: string) => cli(server.url, config, args, stdin);
  const login = await run(
    ["login", user.username, "--password-stdin"],
    "correct horse battery staple\n",
  );
  assert.equal(login.code, 0, login.stderr);
  const bytes = randomBytes(4096);
  const file = await uploadFile(server, user, bytes, { name: "notes.txt" });

  const shared = await run(
    ["share", file.id, "--expires", "1d", "--max-downloads", "2", "--password-stdin"],
    "link password 1\n",
  );
  assert.equal(shared.code, 0, shared.stderr);
  const link = shared.stdout.trim();
  assert.match(link, new RegExp(`^${server.url}/s/[A-Za-z0-9_-]{22}$`));
  const id = link.split("/").pop()!;
  const locked = await fetch(`${link}/content`);
  assert.equal(locked.status, 401);
  await locked.body?.cancel();
  const { body } = await postJson(server, `/s/${id}/unlock`, { password: "link password 1" });
  const download = await fetch(`${link}/content?t=${body.ticket}`);
  assert.deepEqual(await bytesOf(download), bytes);

  const listed = await run(["shares", "--json"]);
  assert.equal(listed.code, 0, listed.stderr);
  const [share] = JSON.parse(listed.stdout);
  assert.equal(share.id, id);
  assert.equal(share.max_downloads, 2);
  assert.equal(share.has_password, true);
  const ttl = Date.parse(share.expires_at) - Date.parse(share.created_at);
  assert.ok(Math.abs(ttl - 86_400_000) < 1000);
  const table = await run(["shares"]);
  assert.match(table.stdout, /^ID\s+FILE\s+STATE/);

  const revoked = await run(["unshare", id]);
  assert.equal(revoked.code, 0, revoked.stderr);
  assert.equal((await fetch(`${link}/info`)).status, 404);
  const again = await run(["unshare", id]);
  assert.equal(again.code, 1);
  assert.match(again.stderr, /Cannot revoke .*Link not found/);

  const request = await run(["request", "Send me the scans", "--max-files", "3"]);
  assert.equal(request.code, 0, request.stderr);
  const info = await (await fetch(`${request.stdout.trim()}/info`)).json();
  assert.equal(info.title, "Send me the scans");
  assert.equal(info.files_left, 3);

  for (
    const args of [
      ["share", file.id, "--expires", "soon"],
      ["share", file.id, "--max-downloads", "0"],
      ["request", "x", "--max-files", "many"],
      ["share"],
    ]
  ) {
    const result = await run(args);
    assert.equal(result.code, 2, `${args.join(" ")}: ${result.stderr}`);
  }
  const tooShort = await run(["share", file.id, "--password-stdin"], "short\n");
  assert.equal(tooShort.code, 1);
  assert.match(tooShort.stderr, /Cannot share .*at least 8 characters/);
});
