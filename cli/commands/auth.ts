/**
 * `login [USERNAME]` and `logout`: get a token with the user's password and
 * keep it in credentials.json (0600), or revoke and forget it.
 *
 * @module
 */
import { ApiClient } from "../client.ts";
import { type Command, flag, UsageError } from "../command.ts";
import { readLine, readPassword, stdinIsTerminal } from "../prompt.ts";
import { type CliContext, credentialsOf, SERVER_OPTION, serverOf } from "../session.ts";

interface TokenBody {
  access_token: string;
  expires_in: number;
}

function describeDuration(seconds: number): string {
  if (seconds % 3600 === 0) return `${seconds / 3600} h`;
  if (seconds % 60 === 0) return `${seconds / 60} min`;
  return `${seconds} s`;
}

/** `login [USERNAME]`. */
export const loginCommand: Command<CliContext> = {
  name: "login",
  usage: "[USERNAME] [--password-stdin]",
  summary: "Sign in and keep the access token in the config directory (mode 0600).",
  details: "Prompts for the username if it is not given and for the password without echo.\n" +
    'Scripts pipe the password in: echo "$PASSWORD" | deno task cli login alice --password-stdin',
  options: {
    "password-stdin": { type: "boolean", description: "Read the password from stdin" },
    ...SERVER_OPTION,
  },
  positionals: [0, 1],
  async run(args, context) {
    const server = serverOf(args, context);
    const fromStdin = flag(args, "password-stdin");
    let username = args.positionals[0];
    if (username === undefined) {
      if (fromStdin || !stdinIsTerminal()) {
        throw new UsageError("Missing USERNAME (needed when the password comes from stdin)");
      }
      username = await readLine("Username: ");
    }
    const password = await readPassword({ fromStdin });
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
    await credentialsOf(context).set(server, {
      username: username.toLowerCase(),
      access_token: issued.access_token,
      expires_at: new Date(Date.now() + issued.expires_in * 1000).toISOString(),
    });
    console.log(
      `Signed in to ${server} as ${username.toLowerCase()} ` +
        `(session valid for ${describeDuration(issued.expires_in)})`,
    );
  },
};

/** `logout`. */
export const logoutCommand: Command<CliContext> = {
  name: "logout",
  usage: "",
  summary: "Revoke the saved token on the server and forget it.",
  options: { ...SERVER_OPTION },
  positionals: [0, 0],
  async run(args, context) {
    const server = serverOf(args, context);
    const credentials = credentialsOf(context);
    const session = await credentials.get(server);
    if (!session) {
      console.log(`Not signed in to ${server}`);
      return;
    }
    const client = new ApiClient(server, session.access_token, context.signal);
    let warning: string | undefined;
    if (Date.parse(session.expires_at) > Date.now()) {
      try {
        const response = await client.request("/api/auth/logout", "Cannot revoke the token", {
          method: "POST",
        });
        await response.body?.cancel();
      } catch (error) {
        warning = (error as Error).message;
      }
    }
    await credentials.remove(server);
    if (warning) console.error(`coffer: warning: ${warning}; forgot it locally`);
    console.log(`Signed out of ${server}`);
  },
};
