/**
 * Embedded defaults for secrets: when `COFFER_MASTER_KEYS` or
 * `COFFER_JWT_SECRET` is not configured, generate it once into the data dir
 * (mode 0600) and reuse it on every later start. Only the fact and the file
 * path are logged, never the value. A generated master key's id is derived
 * from the key (`k-` and its fingerprint, storage/key_fingerprint.ts), so
 * two data dirs never hold different keys under one id; data dirs from
 * before, whose generated key is called `k1`, keep it.
 */
import type { Config, MasterKeySpec } from "../config.ts";
import { parseMasterKeys } from "../config.ts";
import type { Logger } from "../log.ts";
import { generatedKeyId } from "./key_fingerprint.ts";

/** The secrets the service needs, configured or generated. */
export interface Secrets {
  masterKeys: MasterKeySpec[];
  jwtSecret: Uint8Array;
}

function base64(bytes: Uint8Array): string {
  return btoa(String.fromCharCode(...bytes));
}

async function readOrCreate(
  path: string,
  create: () => Promise<string>,
  log: Logger,
): Promise<string> {
  try {
    return (await Deno.readTextFile(path)).trim();
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  // Write a private temp file, then hard-link it into place: the link either
  // publishes the complete file or fails because another process (an API and a
  // worker starting together on one data volume) won, so no reader ever sees a
  // half-written secret.
  const value = await create();
  const temp = `${path}.${crypto.randomUUID()}.tmp`;
  await Deno.writeTextFile(temp, value + "\n", { mode: 0o600, createNew: true });
  try {
    await Deno.link(temp, path);
    log.info("secret.generated", { path });
    return value;
  } catch (error) {
    if (error instanceof Deno.errors.AlreadyExists) return (await Deno.readTextFile(path)).trim();
    throw error;
  } finally {
    await Deno.remove(temp).catch(() => {});
  }
}

/**
 * Returns the configured secrets, generating missing ones into `dataDir`.
 *
 * @param config The validated configuration.
 * @param log Told once for each generated file.
 */
export async function loadSecrets(config: Config, log: Logger): Promise<Secrets> {
  await Deno.mkdir(config.dataDir, { recursive: true, mode: 0o700 });
  const random32 = () => crypto.getRandomValues(new Uint8Array(32));
  const newMasterKey = async () => {
    const key = random32();
    return `${await generatedKeyId(key)}:${base64(key)}`;
  };
  const masterKeys = config.masterKeys ?? parseMasterKeys(
    await readOrCreate(`${config.dataDir}/master.keys`, newMasterKey, log),
  );
  const jwtSecret = config.jwtSecret ?? Uint8Array.from(
    atob(
      await readOrCreate(
        `${config.dataDir}/jwt.secret`,
        () => Promise.resolve(base64(random32())),
        log,
      ),
    ),
    (c) => c.charCodeAt(0),
  );
  return { masterKeys, jwtSecret };
}
