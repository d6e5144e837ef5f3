/**
 * Where the CLI talks to and where it keeps its session: server URL
 * normalisation and the private per-server credential file.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { UsageError } from "../../../cli/command.ts";
import {
  cliSettings,
  CredentialStore,
  DEFAULT_SERVER,
  normalizeServer,
} from "../../../cli/settings.ts";
import { tempDir } from "../../helpers.ts";

Deno.test("cliSettings() picks the server and the config directory", async (t) => {
  const cases: [Record<string, string>, string, string][] = [
    [{ HOME: "/home/a" }, DEFAULT_SERVER, "/home/a/.config/coffer"],
    [{ HOME: "/home/a", XDG_CONFIG_HOME: "/xdg" }, DEFAULT_SERVER, "/xdg/coffer"],
    [{ HOME: "/home/a", XDG_CONFIG_HOME: "/xdg", COFFER_CONFIG_DIR: "/t" }, DEFAULT_SERVER, "/t"],
    [
      { USERPROFILE: "C:/u", COFFER_URL: "https://f.example" },
      "https://f.example",
      "C:/u/.config/coffer",
    ],
    [{ HOME: "/h", COFFER_URL: "" }, DEFAULT_SERVER, "/h/.config/coffer"],
  ];
  for (const [env, server, dir] of cases) {
    await t.step(JSON.stringify(env), () => {
      assert.deepEqual(cliSettings(env), {
        server,
        configDir: dir,
        engine: { cryptoEngine: "auto", libcrypto: undefined },
      });
    });
  }
});

Deno.test("cliSettings() reads the crypto engine and refuses an unknown one", () => {
  assert.deepEqual(
    cliSettings({ COFFER_CRYPTO_ENGINE: "webcrypto", COFFER_LIBCRYPTO: "/x.so" }).engine,
    { cryptoEngine: "webcrypto", libcrypto: "/x.so" },
  );
  assert.throws(
    () => cliSettings({ COFFER_CRYPTO_ENGINE: "fast" }),
    /COFFER_CRYPTO_ENGINE must be/,
  );
});

Deno.test("normalizeServer() accepts http(s) URLs and drops trailing slashes", async (t) => {
  const good: [string, string][] = [
    ["http://127.0.0.1:8080", "http://127.0.0.1:8080"],
    ["http://127.0.0.1:8080/", "http://127.0.0.1:8080"],
    ["https://Files.Example/coffer//", "https://files.example/coffer"],
  ];
  for (const [input, expected] of good) {
    await t.step(input, () => assert.equal(normalizeServer(input), expected));
  }
  for (const input of ["ftp://x", "127.0.0.1:8080", "", "http//x"]) {
    await t.step(`${JSON.stringify(input)} is refused`, () => {
      assert.throws(() => normalizeServer(input), UsageError);
    });
  }
});

Deno.test("CredentialStore keeps one private session per server", async () => {
  await using dir = await tempDir();
  const store = new CredentialStore(join(dir.path, "nested", "coffer"));
  const session = { username: "alice", access_token: "t1", expires_at: "2030-01-01T00:00:00Z" };
  assert.equal(await store.get("http://a"), undefined);
  await store.set("http://a", session);
  await store.set("http://b", { ...session, access_token: "t2" });
  assert.deepEqual(await store.get("http://a"), session);
  assert.equal((await store.get("http://b"))?.access_token, "t2");
  assert.equal((await Deno.stat(store.path)).mode! & 0o777, 0o600);
  assert.equal((await Deno.stat(store.configDir)).mode! & 0o777, 0o700);
  assert.equal(await store.remove("http://a"), true);
  assert.equal(await store.remove("http://a"), false);
  assert.equal(await store.get("http://a"), undefined);
  assert.equal((await store.get("http://b"))?.access_token, "t2");
  const leftovers = [...Deno.readDirSync(store.configDir)].map((e) => e.name);
  assert.deepEqual(leftovers, ["credentials.json"]);
});

Deno.test("CredentialStore treats a corrupt file as empty", async () => {
  await using dir = await tempDir();
  const store = new CredentialStore(dir.path);
  await Deno.writeTextFile(store.path, "{not json");
  assert.equal(await store.get("http://a"), undefined);
});
