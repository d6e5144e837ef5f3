/**
 * The CLI's crypto engine: selected once per command that encrypts or
 * decrypts (`decrypt`), as the server does (crypto_engine.ts), with the same
 * settings, `COFFER_CRYPTO_ENGINE` and `COFFER_LIBCRYPTO`. The server's
 * `crypto.engine` info line would be noise in a terminal, so only a fallback
 * is reported, as one line on stderr.
 */
import {
  ENGINE_CHOICES,
  type EngineChoice,
  type EngineSettings,
  EngineUnavailableError,
  selectCryptoEngine,
  type SelectedEngine,
} from "../crypto_engine.ts";
import { CliError, UsageError } from "./command.ts";

/**
 * Reads the engine settings from the environment.
 *
 * @throws {UsageError} if `COFFER_CRYPTO_ENGINE` is not one of the choices.
 */
export function engineSettings(env: Record<string, string | undefined>): EngineSettings {
  const choice = env.COFFER_CRYPTO_ENGINE || "auto";
  if (!(ENGINE_CHOICES as readonly string[]).includes(choice)) {
    throw new UsageError(
      `COFFER_CRYPTO_ENGINE must be one of ${ENGINE_CHOICES.join(", ")} (got ${choice})`,
    );
  }
  return { cryptoEngine: choice as EngineChoice, libcrypto: env.COFFER_LIBCRYPTO || undefined };
}

/**
 * Selects the engine for one command.
 *
 * @throws {CliError} when `openssl` was asked for and cannot be used.
 */
export async function openCliEngine(settings: EngineSettings): Promise<SelectedEngine> {
  const report = (_event: string, fields: Record<string, unknown> = {}) =>
    console.error(`coffer: using WebCrypto, OpenSSL is unavailable (${fields.reason})`);
  try {
    return await selectCryptoEngine(settings, { info: () => {}, warn: report, error: report });
  } catch (error) {
    if (error instanceof EngineUnavailableError) throw new CliError(error.message);
    throw error;
  }
}
