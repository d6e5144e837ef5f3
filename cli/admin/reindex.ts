/**
 * `deno task reindex`: rebuilds the Redis index from the bucket and the
 * master keys alone, after Redis lost its data.
 *
 * 1. Users: every sealed backup (`users/<id>`) is opened and restored with
 *    its argon2id hash, so people sign in with their old passwords.
 * 2. Files: every key sidecar (`keys/<owner>/<id>`) is opened — metadata
 *    unsealed and data key unwrapped for the owner it names, the
 *    ciphertext's commitment checked under that owner's context — and, if
 *    its ciphertext is present with the recorded size, restored as a
 *    `stored` record. A sidecar that fails a check is refused and reported
 *    with the reason (a relabelled owner id fails one of them).
 * 3. Storage use is recomputed for every user that got anything back.
 *
 * Never overwrites: an existing file record is kept as it is, and a user
 * record is replaced only by a strictly newer backup (UserStore.restore).
 * Running it twice restores nothing the second time. Uploads that were only
 * queued when Redis was lost had no sidecar yet and cannot come back.
 *
 * @module
 */
import { DecryptionError } from "../../crypto/mod.ts";
import type { Services } from "../../services.ts";
import { unwrapDataKey } from "../../storage/data_keys.ts";
import type { FileRecord } from "../../storage/file_store.ts";
import { readKeySidecar, recordFromSidecar } from "../../storage/key_sidecar.ts";
import { ciphertextKey, SIDECAR_PREFIX, sidecarKey } from "../../storage/object_keys.ts";
import { openStoredCiphertext } from "../../storage/stored_ciphertext.ts";
import type { RestoreOutcome } from "../../storage/user_store.ts";
import { type Command, EXIT_FAILURE, flag } from "../command.ts";
import { JSON_OPTION } from "../session.ts";
import { type AdminContext, openAdminServices, runAdminTask } from "./_admin.ts";

/** What reindexing needs. */
export type ReindexDeps = Pick<Services, "files" | "users" | "store" | "keyRing">;

/** One object that could not be restored. */
export interface ReindexFailure {
  /** The object key in the bucket. */
  key: string;
  reason: string;
}

/** What a reindex run found and did. */
export interface ReindexReport {
  users: { found: number } & Record<RestoreOutcome, number>;
  files: {
    found: number;
    restored: number;
    /** A record with that id already existed: left alone. */
    kept: number;
    /** The sidecar's ciphertext is gone (a file deleted mid-way): skipped. */
    missingCiphertext: number;
    /** Restored, but no account of the owner exists. */
    withoutOwner: number;
  };
  /** Users whose `used_bytes` was recomputed from their files. */
  usageRecomputed: number;
  failures: ReindexFailure[];
}

async function restoreUsers(deps: ReindexDeps, report: ReindexReport, touched: Set<string>) {
  for await (const id of deps.users.listBackupIds()) {
    report.users.found++;
    try {
      const backup = await deps.users.readBackup(id);
      if (!backup) continue;
      const outcome = await deps.users.restore(backup);
      report.users[outcome]++;
      if (outcome === "restored") touched.add(id);
    } catch (error) {
      report.failures.push({ key: `users/${id}`, reason: (error as Error).message });
    }
  }
}

/** Checks the commitment and the authenticated length of a sidecar's ciphertext. */
async function checkCiphertext(
  deps: ReindexDeps,
  record: FileRecord,
  dek: Uint8Array,
  ciphertextSize: number,
): Promise<void> {
  let size: number;
  try {
    const ciphertext = await openStoredCiphertext(deps.store, record, dek, { ciphertextSize });
    size = await ciphertext.authenticateSize();
  } catch (error) {
    if (!(error instanceof DecryptionError)) throw error;
    throw new Error(
      `the ciphertext does not verify for owner ${record.owner}: ${error.message}`,
      { cause: error },
    );
  }
  if (size !== record.size) {
    throw new Error(`the ciphertext holds ${size} bytes, the metadata says ${record.size}`);
  }
}

/**
 * Opens one sidecar and checks it against its key and its ciphertext: the
 * metadata and (version 2) the wrapped key must verify for the owner the
 * sidecar names, and the ciphertext's commitment under that owner's context.
 * A sidecar relabelled with another owner fails one of these and is
 * refused, so nobody is handed another user's file or data key.
 */
async function recordOf(deps: ReindexDeps, key: string): Promise<FileRecord | "missing"> {
  const sidecar = await readKeySidecar(deps.store, key);
  if (sidecarKey(sidecar.owner_id, sidecar.file_id) !== key) {
    throw new Error("the sidecar names another file than its key");
  }
  const record = await recordFromSidecar(deps.keyRing, sidecar);
  const dek = await unwrapDataKey(deps.keyRing, record);
  try {
    const object = await deps.store.head(ciphertextKey(record.owner, record.id));
    if (!object) return "missing";
    if (object.size !== record.ciphertext_size) {
      throw new Error(`the ciphertext is ${object.size} bytes, expected ${record.ciphertext_size}`);
    }
    await checkCiphertext(deps, record, dek, object.size);
  } finally {
    dek.fill(0);
  }
  return record;
}

async function restoreFiles(deps: ReindexDeps, report: ReindexReport, touched: Set<string>) {
  for await (const info of deps.store.list(SIDECAR_PREFIX)) {
    report.files.found++;
    try {
      const record = await recordOf(deps, info.key);
      if (record === "missing") {
        report.files.missingCiphertext++;
        continue;
      }
      if (!await deps.files.restore(record)) {
        report.files.kept++;
        continue;
      }
      report.files.restored++;
      touched.add(record.owner);
      if (!await deps.users.findById(record.owner)) report.files.withoutOwner++;
    } catch (error) {
      report.failures.push({ key: info.key, reason: (error as Error).message });
    }
  }
}

/** Sums the bytes an owner's files hold against the quota (all but failed uploads). */
async function usedBytes(deps: ReindexDeps, owner: string): Promise<number> {
  let total = 0;
  let cursor: string | undefined;
  do {
    const page = await deps.files.list(owner, 200, cursor);
    for (const file of page.files) if (file.status !== "failed") total += file.size;
    cursor = page.next_cursor ?? undefined;
  } while (cursor);
  return total;
}

/**
 * Restores users and file records from the bucket.
 *
 * @param deps The deployment's stores and key ring (holding every key the
 *   backups and sidecars are under).
 * @returns What was found, restored, kept and what failed.
 * @example
 * ```ts
 * const report = await reindex(services);
 * console.log(report.files.restored);
 * ```
 */
export async function reindex(deps: ReindexDeps): Promise<ReindexReport> {
  const report: ReindexReport = {
    users: { found: 0, restored: 0, updated: 0, kept: 0, conflict: 0 },
    files: { found: 0, restored: 0, kept: 0, missingCiphertext: 0, withoutOwner: 0 },
    usageRecomputed: 0,
    failures: [],
  };
  const touched = new Set<string>();
  await restoreUsers(deps, report, touched);
  await restoreFiles(deps, report, touched);
  for (const owner of touched) {
    try {
      if (await deps.users.setUsedBytes(owner, await usedBytes(deps, owner))) {
        report.usageRecomputed++;
      }
    } catch (error) {
      report.failures.push({ key: `users/${owner}`, reason: (error as Error).message });
    }
  }
  return report;
}

/** Describes a report for people. */
export function describeReindex(report: ReindexReport): string {
  const { users, files } = report;
  return [
    `Users: ${users.found} backups found, ${users.restored} restored, ${users.updated} updated, ` +
    `${users.kept} already present, ${users.conflict} conflicting`,
    `Files: ${files.found} sidecars found, ${files.restored} restored, ${files.kept} already ` +
    `present, ${files.missingCiphertext} without ciphertext, ${files.withoutOwner} without owner`,
    `Storage use recomputed for ${report.usageRecomputed} users`,
    ...(report.failures.length > 0 ? [`Failed: ${report.failures.length} (see above)`] : []),
  ].join("\n");
}

/** `deno task reindex`. */
export const reindexCommand: Command<AdminContext> = {
  name: "",
  usage: "[--json]",
  summary: "Rebuild users and file records in Redis from the bucket and the master keys.",
  details: "For use after Redis lost its data; best run before the API takes uploads again\n" +
    "(storage use is recomputed). Existing records are never overwritten; safe to run twice.",
  options: { ...JSON_OPTION },
  positionals: [0, 0],
  async run(args, context) {
    await using services = await openAdminServices(context.config());
    const report = await reindex(services);
    for (const failure of report.failures) {
      console.error(`coffer: cannot restore ${failure.key}: ${failure.reason}`);
    }
    if (flag(args, "json")) console.log(JSON.stringify(report, null, 2));
    else console.log(describeReindex(report));
    return report.failures.length > 0 ? EXIT_FAILURE : undefined;
  },
};

if (import.meta.main) Deno.exit(await runAdminTask("deno task reindex", reindexCommand));
