/**
 * `deno task keys:rotate`: moves everything under the first key of
 * `COFFER_MASTER_KEYS` (the active one) without touching any ciphertext.
 *
 * - Every file record's data key is re-wrapped; a stored file's key sidecar
 *   in the bucket is rewritten with the new wrapped key and its metadata
 *   re-sealed (sidecar first, then the record, so an interrupted run is
 *   simply redone).
 * - Files in the old format (wrap and sidecar version 1, which do not bind
 *   the owner) are upgraded the same way, also under an unchanged active
 *   key: the key is re-wrapped as version 2 bound to the record's owner —
 *   only once the stored ciphertext's commitment verifies under that owner —
 *   and the sidecar rewritten as version 2 (docs/FORMAT.md).
 * - Every user backup in the bucket is re-sealed, and a user without one
 *   gets one.
 *
 * Resumable and idempotent: a file whose record and sidecar are already
 * under the active key in the current format, and a backup already sealed under it, are skipped,
 * so a second run changes nothing. Once a run reports nothing left under an
 * old key (and no uploads were in flight), that key can be removed from
 * `COFFER_MASTER_KEYS`.
 *
 * Deletes win: the record's key is replaced only if it is unchanged
 * (compare-and-set), and a sidecar written for a file deleted meanwhile is
 * removed again, so rotation never brings a shredded key back.
 *
 * @module
 */
import { DecryptionError, type KeyRing, sealedKeyId } from "../../crypto/mod.ts";
import type { Services } from "../../services.ts";
import {
  isWrappedKeyCurrent,
  rewrapDataKey,
  unwrapDataKey,
  wrapVersionOf,
} from "../../storage/data_keys.ts";
import type { FileRecord } from "../../storage/file_store.ts";
import {
  isSidecarCurrent,
  type KeySidecar,
  readKeySidecar,
  writeKeySidecar,
} from "../../storage/key_sidecar.ts";
import { openStoredCiphertext } from "../../storage/stored_ciphertext.ts";
import { sidecarKey, userBackupKey } from "../../storage/object_keys.ts";
import type { ObjectStore } from "../../storage/object_store.ts";
import { collectBytes, SMALL_OBJECT_MAX_BYTES } from "../../storage/streams.ts";
import type { UserRecord, UserStore } from "../../storage/user_store.ts";
import { type Command, EXIT_FAILURE, flag } from "../command.ts";
import { JSON_OPTION } from "../session.ts";
import { type AdminContext, openAdminServices, runAdminTask } from "./_admin.ts";

/** What rotation needs. */
export type RotationDeps = Pick<Services, "files" | "users" | "store" | "keyRing">;

/** One item that could not be rotated. */
export interface RotationFailure {
  /** `file:<id>` or `user:<id>`. */
  item: string;
  reason: string;
}

/** What a rotation run did. */
export interface RotationReport {
  activeKid: string;
  files: {
    /** Records looked at. */
    total: number;
    /** Data keys re-wrapped (record, and sidecar if stored). */
    rewrapped: number;
    /** Key already current, but the sidecar was stale or missing and was rewritten. */
    sidecarsRewritten: number;
    /** Already entirely under the active key. */
    current: number;
    /** No key left (deleted or being deleted): nothing to do. */
    shredded: number;
    /** Re-wrapped while an upload was in flight: run again once it is stored. */
    inFlight: number;
  };
  users: {
    total: number;
    resealed: number;
    /** Users in Redis that had no backup; one was written. */
    written: number;
    current: number;
  };
  failures: RotationFailure[];
}

type FileOutcome = "rewrapped" | "sidecar" | "current" | "shredded";

async function readSidecar(store: ObjectStore, key: string): Promise<KeySidecar | undefined> {
  if (!await store.head(key)) return undefined;
  return await readKeySidecar(store, key);
}

/** Removes a sidecar we wrote if its file was deleted meanwhile (shredding must win). */
async function undoIfDeleted(deps: RotationDeps, record: FileRecord): Promise<boolean> {
  const now = await deps.files.get(record.id);
  if (now?.wrapped_dek) return false;
  await deps.store.delete(sidecarKey(record.owner, record.id));
  return true;
}

/**
 * A version 1 key does not bind the owner; before the re-wrap vouches for
 * the record's owner, the stored ciphertext's commitment must verify under
 * the record's context (a record restored from a relabelled sidecar fails).
 */
async function checkOwnerBeforeUpgrade(deps: RotationDeps, record: FileRecord): Promise<void> {
  if (record.status !== "stored" || wrapVersionOf(record) !== 1) return;
  const dek = await unwrapDataKey(deps.keyRing, record);
  try {
    await openStoredCiphertext(deps.store, record, dek);
  } catch (error) {
    if (!(error instanceof DecryptionError)) throw error;
    throw new Error(
      `the ciphertext does not verify for owner ${record.owner}: ${error.message}`,
      { cause: error },
    );
  } finally {
    dek.fill(0);
  }
}

async function rotateFile(deps: RotationDeps, record: FileRecord): Promise<FileOutcome> {
  const { keyRing: ring, store, files } = deps;
  if (!record.wrapped_dek) return "shredded";
  const stored = record.status === "stored";
  const keyCurrent = isWrappedKeyCurrent(ring, record);
  const sidecar = stored
    ? await readSidecar(store, sidecarKey(record.owner, record.id))
    : undefined;
  if (keyCurrent && (!stored || isSidecarCurrent(ring, record, sidecar))) return "current";
  if (!keyCurrent) await checkOwnerBeforeUpgrade(deps, record);
  const next = keyCurrent ? record : { ...record, ...await rewrapDataKey(ring, record) };
  if (stored) await writeKeySidecar(store, ring, next);
  if (!keyCurrent && !await files.replaceWrappedKey(record.id, record.wrapped_dek, next)) {
    // Deleted, shredded or re-wrapped by a concurrent run since we read it.
    if (stored && await undoIfDeleted(deps, record)) return "shredded";
    return "current";
  }
  if (stored && await undoIfDeleted(deps, record)) return "shredded";
  return keyCurrent ? "sidecar" : "rewrapped";
}

async function rotateFiles(deps: RotationDeps, report: RotationReport): Promise<void> {
  for await (const record of deps.files.all()) {
    report.files.total++;
    try {
      const outcome = await rotateFile(deps, record);
      if (outcome === "rewrapped") {
        report.files.rewrapped++;
        if (record.status === "queued" || record.status === "encrypting") report.files.inFlight++;
      } else if (outcome === "sidecar") report.files.sidecarsRewritten++;
      else report.files[outcome]++;
    } catch (error) {
      report.failures.push({ item: `file:${record.id}`, reason: (error as Error).message });
    }
  }
}

/** The newer of the live record and the backup, as a record to back up. */
function newest(live: UserRecord | undefined, backup: Omit<UserRecord, "used_bytes">) {
  return live && live.updated_at >= backup.updated_at ? live : { ...backup, used_bytes: 0 };
}

async function rotateUsers(
  users: UserStore,
  store: ObjectStore,
  ring: KeyRing,
  report: RotationReport,
): Promise<void> {
  const seen = new Set<string>();
  for await (const id of users.listBackupIds()) {
    seen.add(id);
    report.users.total++;
    try {
      const sealed = await collectBytes(
        await store.get(userBackupKey(id)),
        SMALL_OBJECT_MAX_BYTES,
      );
      if (sealedKeyId(sealed) === ring.activeKid) {
        report.users.current++;
        continue;
      }
      const opened = await users.readBackup(id);
      if (!opened) continue; // Deleted since it was listed.
      const { v: _v, ...backup } = opened;
      const live = await users.findById(id);
      await users.writeBackup(newest(live, backup));
      // Deleted while we re-sealed: do not resurrect the account's backup.
      if (live && !await users.findById(id)) await store.delete(userBackupKey(id));
      report.users.resealed++;
    } catch (error) {
      report.failures.push({ item: `user:${id}`, reason: (error as Error).message });
    }
  }
  for await (const user of users.list()) {
    if (seen.has(user.id)) continue;
    report.users.total++;
    try {
      await users.writeBackup(user);
      if (!await users.findById(user.id)) await store.delete(userBackupKey(user.id));
      report.users.written++;
    } catch (error) {
      report.failures.push({ item: `user:${user.id}`, reason: (error as Error).message });
    }
  }
}

/**
 * Re-wraps every data key and re-seals every sidecar and user backup under
 * the ring's active master key.
 *
 * @param deps The deployment's stores and key ring (the ring must hold
 *   every key that anything is still under).
 * @returns Counts of what was done, and what failed (e.g. a kid the ring
 *   does not hold).
 * @example
 * ```ts
 * const report = await rotateKeys(services);
 * console.log(report.files.rewrapped);
 * ```
 */
export async function rotateKeys(deps: RotationDeps): Promise<RotationReport> {
  const report: RotationReport = {
    activeKid: deps.keyRing.activeKid,
    files: { total: 0, rewrapped: 0, sidecarsRewritten: 0, current: 0, shredded: 0, inFlight: 0 },
    users: { total: 0, resealed: 0, written: 0, current: 0 },
    failures: [],
  };
  await rotateFiles(deps, report);
  await rotateUsers(deps.users, deps.store, deps.keyRing, report);
  return report;
}

/** Prints a report for people. */
export function describeRotation(report: RotationReport, kids: readonly string[]): string {
  const { files, users } = report;
  const lines = [
    `Active master key: ${report.activeKid} (configured: ${kids.join(", ")})`,
    `Files: ${files.total} checked, ${files.rewrapped} re-wrapped, ` +
    `${files.sidecarsRewritten} sidecars rewritten, ${files.current} already current, ` +
    `${files.shredded} without a key`,
    `Users: ${users.total} checked, ${users.resealed} backups re-sealed, ` +
    `${users.written} backups written, ${users.current} already current`,
  ];
  if (files.inFlight > 0) {
    lines.push(
      `${files.inFlight} files were still uploading: run keys:rotate again once they are stored`,
    );
  }
  if (report.failures.length > 0) lines.push(`Failed: ${report.failures.length} (see above)`);
  else if (files.inFlight === 0) {
    lines.push(
      "Nothing is left under another key: older keys can be removed from COFFER_MASTER_KEYS " +
        `once every process runs with ${report.activeKid} first`,
    );
  }
  return lines.join("\n");
}

/** `deno task keys:rotate`. */
export const rotateKeysCommand: Command<AdminContext> = {
  name: "",
  usage: "[--json]",
  summary: "Re-wrap every file key and re-seal every backup under the first master key.",
  details: "Uses the server's configuration (COFFER_MASTER_KEYS: new key first, then the\n" +
    "old ones). Ciphertext is never touched. Safe to interrupt and to run again.",
  options: { ...JSON_OPTION },
  positionals: [0, 0],
  async run(args, context) {
    await using services = await openAdminServices(context.config());
    const report = await rotateKeys(services);
    for (const failure of report.failures) {
      console.error(`coffer: cannot rotate ${failure.item}: ${failure.reason}`);
    }
    if (flag(args, "json")) console.log(JSON.stringify(report, null, 2));
    else console.log(describeRotation(report, services.keyRing.kids));
    return report.failures.length > 0 ? EXIT_FAILURE : undefined;
  },
};

if (import.meta.main) Deno.exit(await runAdminTask("deno task keys:rotate", rotateKeysCommand));
