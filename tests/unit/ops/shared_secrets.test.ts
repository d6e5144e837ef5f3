/**
 * With no keys configured, an API and a worker starting together on one data
 * volume (docker compose, or `deno task api` + `deno task worker`) must end
 * up with the same complete master key and JWT secret: the one that wins
 * writes them, every other reads them — never a half-written file.
 */
import assert from "node:assert/strict";
import { silentLogger } from "../../../log.ts";
import { loadSecrets } from "../../../storage/generated_secrets.ts";
import { tempDir, testConfig } from "../../helpers.ts";

const STARTERS = 8;
const ROUNDS = 25;

Deno.test("loadSecrets() gives processes starting at once on one data dir the same complete secrets", async () => {
  for (let round = 0; round < ROUNDS; round++) {
    await using dir = await tempDir();
    const config = { ...testConfig(dir.path), masterKeys: undefined, jwtSecret: undefined };
    const results = await Promise.all(
      Array.from({ length: STARTERS }, () => loadSecrets(config, silentLogger)),
    );
    const [first] = results;
    assert.equal(first.jwtSecret.length, 32, `round ${round}`);
    assert.equal(first.masterKeys[0].key.length, 32, `round ${round}`);
    for (const secrets of results) assert.deepEqual(secrets, first, `round ${round}`);

    const files = [...Deno.readDirSync(dir.path)].map((entry) => entry.name).sort();
    assert.deepEqual(files, ["jwt.secret", "master.keys"], "no temp files are left behind");
    for (const name of files) {
      assert.equal(Deno.statSync(`${dir.path}/${name}`).mode! & 0o777, 0o600, name);
    }
  }
});
