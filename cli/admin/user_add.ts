/**
 * `deno task user:add NAME`: creates an account directly in the deployment
 * (for closed installations, or the first user), with the same rules as
 * `POST /api/auth/register`: username 3–64 of `[a-z0-9_.-]` (case folded),
 * password of 8–1024 characters hashed with argon2id, the configured quota,
 * and a sealed backup in the bucket.
 *
 * The password is prompted for twice without echo, or read from stdin
 * (`--password-stdin`, or whenever stdin is not a terminal).
 *
 * @module
 */
import { checkPassword, hashPassword, normalizeUsername } from "../../auth/mod.ts";
import { CofferError } from "../../errors.ts";
import type { Services } from "../../services.ts";
import type { UserRecord } from "../../storage/user_store.ts";
import { CliError, type Command, flag, stringOption, UsageError } from "../command.ts";
import { readPassword } from "../prompt.ts";
import { JSON_OPTION } from "../session.ts";
import { type AdminContext, openAdminServices, runAdminTask } from "./_admin.ts";

/** What adding a user needs. */
export type AddUserDeps = Pick<Services, "users" | "config">;

/**
 * Checks and case-folds a username as typed.
 *
 * @throws {UsageError} if it is not 3–64 of `[A-Za-z0-9_.-]`.
 */
export function parseUsername(username: string): string {
  const name = normalizeUsername(username);
  if (name === undefined) {
    throw new UsageError(
      `Invalid username ${JSON.stringify(username)}: expected 3–64 of a-z 0-9 _ . -`,
    );
  }
  return name;
}

/**
 * Creates a user.
 *
 * @param deps The user store and the configuration (default quota).
 * @param username As typed; case is folded.
 * @param password The plain password (hashed here, never stored).
 * @param quotaBytes The quota; defaults to `COFFER_QUOTA_BYTES`.
 * @returns The new record.
 * @throws {UsageError} if the username is malformed.
 * @throws {CliError} if the password breaks the rules or the username is taken.
 * @example
 * ```ts
 * const user = await addUser(services, "alice", "correct horse battery staple");
 * ```
 */
export async function addUser(
  deps: AddUserDeps,
  username: string,
  password: string,
  quotaBytes = deps.config.quotaBytes,
): Promise<UserRecord> {
  const name = parseUsername(username);
  const problem = checkPassword(password);
  if (problem) throw new CliError(`Cannot add user ${name}: the password ${problem}`);
  if (await deps.users.findByUsername(name)) {
    throw new CliError(`Cannot add user ${name}: the username is taken`);
  }
  try {
    return await deps.users.create({
      username: name,
      password_hash: await hashPassword(password),
      quota_bytes: quotaBytes,
    });
  } catch (error) {
    if (error instanceof CofferError && error.code === "USERNAME_TAKEN") {
      throw new CliError(`Cannot add user ${name}: the username is taken`);
    }
    throw error;
  }
}

function parseQuota(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  if (!/^\d{1,16}$/.test(text)) throw new UsageError(`Invalid --quota ${text}: expected bytes`);
  return Number(text);
}

/** `deno task user:add NAME`. */
export const userAddCommand: Command<AdminContext> = {
  name: "",
  usage: "NAME [--password-stdin] [--quota BYTES] [--json]",
  summary: "Create a user account in the configured deployment.",
  details: "Prompts twice for the password without echo; reads it from stdin with\n" +
    "--password-stdin or when stdin is not a terminal.",
  options: {
    "password-stdin": { type: "boolean", description: "Read the password from stdin" },
    quota: { type: "string", value: "BYTES", description: "Quota (default: COFFER_QUOTA_BYTES)" },
    ...JSON_OPTION,
  },
  positionals: [1, 1],
  async run(args, context) {
    const quota = parseQuota(stringOption(args, "quota"));
    const [username] = args.positionals;
    parseUsername(username); // Before asking for a password.
    const password = await readPassword({
      fromStdin: flag(args, "password-stdin"),
      confirm: true,
      stdinWhenPiped: true,
    });
    await using services = await openAdminServices(context.config());
    const user = await addUser(services, username, password, quota);
    if (flag(args, "json")) {
      console.log(JSON.stringify({ id: user.id, username: user.username }));
    } else console.log(`Added user ${user.username} (id ${user.id})`);
  },
};

if (import.meta.main) Deno.exit(await runAdminTask("deno task user:add", userAddCommand));
