/**
 * Embedded defaults for secrets: when `COFFER_MASTER_KEYS` or
 * `COFFER_JWT_SECRET` is not configured, generate it once into the data dir
 * (mode 0600) and reuse it on every later start. Only the fact and the file
 * path are logged, never the value.
 */
import type { Config, MasterKeySpec } from "../config.ts";
import { parseMasterKeys } from "../config.ts";
import type { Logger } from "../log.ts";

/** The secrets the service needs, configured or generated. */
export interface Secrets {
  masterKeys: MasterKeySpec[];
  jwtSecret: Uint8Array;
}

function base64(bytes: Uint8Array): string {
  return btoa(String.fromCharCode(...bytes));
}

async function readOrCreate(path: string, create: () => string, log: Logger): Promise<string> {
  try {
    return (await Deno.readTextFile(path)).trim();
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  const value = create();
  try {
    await Deno.writeTextFile(path, value + "\n", { mode: 0o600, createNew: true });
    log.info("secret.generated", { path });
    return value;
  } catch (error) {
    // Another process generated it at the same moment: use theirs.
    if (error instanceof Deno.errors.AlreadyExists) return (await Deno.readTextFile(path)).trim();
    throw error;
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
  const random32 = () => base64(crypto.getRandomValues(new Uint8Array(32)));
  const masterKeys = config.masterKeys ?? parseMasterKeys(
    await readOrCreate(`${config.dataDir}/master.keys`, () => `k1:${random32()}`, log),
  );
  const jwtSecret = config.jwtSecret ?? Uint8Array.from(
    atob(await readOrCreate(`${config.dataDir}/jwt.secret`, random32, log)),
    (c) => c.charCodeAt(0),
  );
  return { masterKeys, jwtSecret };
}
