/**
 * The API's JSON shapes as the CLI sees them. Type-only imports of the
 * server's own definitions, so client and server cannot drift apart; no
 * server code is loaded at run time.
 *
 * @module
 */
import type { PublicFileRecord } from "../../storage/file_store.ts";

export type { PublicFileRecord as FileRecord };
export type { FileStatusView } from "../../routes/file_status.ts";

/** `GET /api/files` */
export interface FileList {
  files: PublicFileRecord[];
  next_cursor: string | null;
}
