/**
 * What the online commands share: the `--server` option, the saved session
 * for that server, and a signed-in {@linkcode ApiClient}.
 *
 * @module
 */
import { ApiClient } from "./client.ts";
import {
  CliError,
  type CommandContext,
  type OptionSpec,
  type ParsedArgs,
  stringOption,
} from "./command.ts";
import { SessionTokens } from "./session_tokens.ts";
import { type CliSettings, CredentialStore, normalizeServer, type Session } from "./settings.ts";

/** The context of a client command. */
export interface CliContext extends CommandContext {
  settings: CliSettings;
}

/** `--server URL`, accepted by every command that talks to a server. */
export const SERVER_OPTION: Record<string, OptionSpec> = {
  server: {
    type: "string",
    value: "URL",
    description: "Coffer server (default: $COFFER_URL or http://127.0.0.1:8080)",
  },
};

/** `--json`, for commands with machine-readable output. */
export const JSON_OPTION: Record<string, OptionSpec> = {
  json: { type: "boolean", description: "Print JSON instead of text" },
};

/** The server a command talks to: `--server`, else the settings. */
export function serverOf(args: ParsedArgs, context: CliContext): string {
  return normalizeServer(stringOption(args, "server") ?? context.settings.server);
}

/** The credential store of the context. */
export function credentialsOf(context: CliContext): CredentialStore {
  return new CredentialStore(context.settings.configDir);
}

/**
 * The saved session for the command's server, renewing itself as needed.
 *
 * @throws {CliError} if not signed in.
 */
export async function savedSession(
  args: ParsedArgs,
  context: CliContext,
): Promise<SessionTokens | undefined> {
  const server = serverOf(args, context);
  const store = credentialsOf(context);
  const session: Session | undefined = await store.get(server);
  return session && new SessionTokens(server, store, session, context.signal);
}

/**
 * A client carrying the saved session for the command's server; its access
 * token is renewed with the refresh token whenever it runs out.
 *
 * @throws {CliError} if not signed in (a session that cannot be renewed
 *   fails on the first request).
 */
export async function signedInClient(args: ParsedArgs, context: CliContext): Promise<ApiClient> {
  const tokens = await savedSession(args, context);
  if (!tokens) {
    throw new CliError(`Not signed in to ${serverOf(args, context)}: run 'coffer login' first`);
  }
  return new ApiClient(tokens.server, tokens, context.signal);
}
