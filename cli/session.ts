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
 * A client carrying the saved session for the command's server.
 *
 * @throws {CliError} if not signed in or the session has expired.
 */
export async function signedInClient(args: ParsedArgs, context: CliContext): Promise<ApiClient> {
  const server = serverOf(args, context);
  const session: Session | undefined = await credentialsOf(context).get(server);
  if (!session) {
    throw new CliError(`Not signed in to ${server}: run 'deno task cli login' first`);
  }
  if (Date.parse(session.expires_at) <= Date.now()) {
    throw new CliError(
      `Your session with ${server} expired: run 'deno task cli login ${session.username}'`,
    );
  }
  return new ApiClient(server, session.access_token, context.signal);
}
