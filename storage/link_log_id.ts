/**
 * What log lines say instead of a share or file-request id. Those ids are
 * bearer secrets — whoever has one downloads the file or uploads into the
 * owner's space — so a log line carries a short hash that ties lines about
 * one link together without letting a log reader open it.
 */
import { createHash } from "node:crypto";

/**
 * A short, stable stand-in for a link id in logs and metrics.
 *
 * @param id A share or file-request id.
 * @returns The first 12 hex digits of SHA-256(`coffer-link:` ‖ id).
 * @example
 * ```ts
 * log.info("share.created", { share: linkLogId(share.id) });
 * ```
 */
export function linkLogId(id: string): string {
  return createHash("sha256").update(`coffer-link:${id}`).digest("hex").slice(0, 12);
}
