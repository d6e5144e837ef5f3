/**
 * `register [USERNAME]`, `login [USERNAME]` and `logout`: create an account,
 * sign in and keep the session (access and refresh token) in
 * credentials.json (0600), or revoke the session and forget it.
 *
 * @module
 */
import { ApiClient } from "../client.ts";
import { CliError, type Command, flag, UsageError } from "../command.ts";
import { readLine, readPassword, stdinIsTerminal } from "../prompt.ts";
import {
  type CliContext,
  credentialsOf,
  savedSession,
  SERVER_OPTION,
  serverOf,
} from "../session.ts";
import { sessionFrom } from "../session_tokens.ts";
import type { ParsedArgs } from "../command.ts";

interface TokenBody {
  access_token: string;
  expires_in: number;
  refresh_token?: string;
  refresh_expires_in?: number;
}

function describeDuration(seconds: number): string {
  if (seconds % 86400 === 0) return `${seconds / 86400} days`;
  if (seconds % 3600 === 0) return `${seconds / 3600} h`;
  if (seconds % 60 === 0) return `${seconds / 60} min`;
  return `${seconds} s`;
}

const PASSWORD_STDIN = {
  "password-stdin": { type: "boolean", description: "Read the password from stdin" },
} as const;

/** The username from the command line, or asked for on a terminal. */
async function usernameOf(args: ParsedArgs): Promise<string> {
  const given = args.positionals[0];
  if (given !== undefined) return given;
  if (flag(args, "password-stdin") || !stdinIsTerminal()) {
    throw new UsageError("Missing USERNAME (needed when the password comes from stdin)");
  }
  return await readLine("Username: ");
}

/** Signs in and saves the session; returns the answer. */
async function signIn(
  context: CliContext,
  server: string,
  username: string,
  password: string,
): Promise<TokenBody> {
  const client = new ApiClient(server, undefined, context.signal);
  const issued = await client.json<TokenBody>(
    "/api/auth/token",
    `Cannot sign in as ${username}`,
    {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ username, password }),
    },
  );
  await credentialsOf(context).set(server, sessionFrom(username.toLowerCase(), issued));
  return issued;
}

function sessionText(issued: TokenBody): string {
  const renewal = issued.refresh_expires_in
    ? `; renewed automatically while used at least every ${
      describeDuration(issued.refresh_expires_in)
    }`
    : "";
  return `access token valid for ${describeDuration(issued.expires_in)}${renewal}`;
}

/** `register [USERNAME]`. */
export const registerCommand: Command<CliContext> = {
  name: "register",
  usage: "[USERNAME] [--password-stdin]",
  summary: "Create an account on the server and sign in to it.",
  details: "Usernames are 3–64 of a-z 0-9 _ . -; passwords 8–1024 characters. On a terminal\n" +
    "the password is asked for twice without echo; --password-stdin reads it once.",
  options: { ...PASSWORD_STDIN, ...SERVER_OPTION },
  positionals: [0, 1],
  async run(args, context) {
    const server = serverOf(args, context);
    const username = (await usernameOf(args)).toLowerCase();
    const password = await readPassword({ fromStdin: flag(args, "password-stdin"), confirm: true });
    const client = new ApiClient(server, undefined, context.signal);
    const response = await client.request(
      "/api/auth/register",
      `Cannot register ${username}`,
      {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ username, password }),
      },
    );
    await response.body?.cancel();
    const issued = await signIn(context, server, username, password);
    console.log(`Registered ${username} on ${server} and signed in (${sessionText(issued)})`);
  },
};

/** `login [USERNAME]`. */
export const loginCommand: Command<CliContext> = {
  name: "login",
  usage: "[USERNAME] [--password-stdin]",
  summary: "Sign in and keep the session in the config directory (mode 0600).",
  details: "Prompts for the username if it is not given and for the password without echo.\n" +
    'Scripts pipe the password in: echo "$PASSWORD" | coffer login alice --password-stdin\n' +
    "The access token is renewed with the saved refresh token whenever it runs out.",
  options: { ...PASSWORD_STDIN, ...SERVER_OPTION },
  positionals: [0, 1],
  async run(args, context) {
    const server = serverOf(args, context);
    const username = await usernameOf(args);
    const password = await readPassword({ fromStdin: flag(args, "password-stdin") });
    const issued = await signIn(context, server, username, password);
    console.log(
      `Signed in to ${server} as ${username.toLowerCase()} (${sessionText(issued)})`,
    );
  },
};

/** `logout`. */
export const logoutCommand: Command<CliContext> = {
  name: "logout",
  usage: "",
  summary: "End the session on the server (every token of it) and forget it.",
  options: { ...SERVER_OPTION },
  positionals: [0, 0],
  async run(args, context) {
    const server = serverOf(args, context);
    const credentials = credentialsOf(context);
    const tokens = await savedSession(args, context);
    if (!tokens) {
      console.log(`Not signed in to ${server}`);
      return;
    }
    const client = new ApiClient(server, tokens, context.signal);
    let warning: string | undefined;
    try {
      const response = await client.request("/api/auth/logout", "Cannot end the session", {
        method: "POST",
      });
      await response.body?.cancel();
    } catch (error) {
      if (!(error instanceof CliError) || context.signal.aborted) throw error;
      // A session that has already ended needs no revoking.
      if (!/has ended/.test(error.message)) warning = error.message;
    }
    await credentials.remove(server);
    if (warning) console.error(`coffer: warning: ${warning}; forgot it locally`);
    console.log(`Signed out of ${server}`);
  },
};
