/**
 * The official tus-js-client (npm, its Node build, running on Deno) as the
 * tests drive it: an upload of bytes from a file on disk (so each PATCH
 * carries its Content-Length), the offsets every HEAD reported, and the
 * `Coffer-File-Id` of the last answer.
 */
import { createReadStream } from "node:fs";
import * as tus from "tus-js-client";

/** What one upload did. */
export interface ClientRun {
  /** The upload URL. */
  url: string;
  /** `Upload-Offset` of every HEAD answer (where the client resumed). */
  resumedAt: number[];
  /** Number of PATCH requests sent. */
  patches: number;
  /** `Coffer-File-Id` of the answer that completed the upload. */
  fileId: string | null;
}

/** Options for {@linkcode uploadWithClient}. */
export interface ClientOptions {
  endpoint: string;
  token: string;
  path: string;
  chunkSize: number;
  /** Resume this upload rather than create one. */
  uploadUrl?: string;
  retryDelays?: number[];
  /** Called after each chunk the server acknowledged; return true to stop there. */
  stopAfter?: (bytesAccepted: number) => boolean;
}

/**
 * Uploads the file at `path` with tus-js-client.
 *
 * @returns What happened, once the upload completed or was stopped.
 */
export function uploadWithClient(options: ClientOptions): Promise<ClientRun> {
  const run: ClientRun = { url: "", resumedAt: [], patches: 0, fileId: null };
  return new Promise((resolve, reject) => {
    const upload = new tus.Upload(createReadStream(options.path), {
      endpoint: options.endpoint,
      uploadUrl: options.uploadUrl,
      chunkSize: options.chunkSize,
      retryDelays: options.retryDelays ?? [0, 200, 500, 1000],
      headers: { Authorization: `Bearer ${options.token}` },
      metadata: { filename: "client.bin", filetype: "application/octet-stream" },
      storeFingerprintForResuming: false,
      onBeforeRequest(request) {
        if (request.getMethod() === "PATCH") run.patches++;
      },
      onAfterResponse(request, response) {
        if (request.getMethod() === "HEAD") {
          run.resumedAt.push(Number(response.getHeader("Upload-Offset")));
        }
        const fileId = response.getHeader("Coffer-File-Id");
        if (fileId) run.fileId = fileId;
      },
      onChunkComplete(_size, accepted) {
        if (options.stopAfter?.(accepted)) {
          run.url = upload.url ?? "";
          upload.abort().then(() => resolve(run), reject);
        }
      },
      onSuccess() {
        run.url = upload.url ?? "";
        resolve(run);
      },
      onError: reject,
    });
    upload.start();
  });
}
