/**
 * Resumable uploads for `coffer upload`: the official tus-js-client (its Node
 * build, on Deno) sends the file to `/api/uploads` in chunks of at most
 * 50 MiB, each with its Content-Length (it reads an `fs.ReadStream` slice
 * by slice), retries after a dropped connection from the offset the server
 * reports, and remembers unfinished uploads in `uploads.json` beside the
 * credentials, keyed by the file's absolute path, size, modification time
 * and server, so running the same command again resumes the same file.
 *
 * @module
 */
import { createReadStream } from "node:fs";
import { join } from "node:path";
import * as tus from "tus-js-client";
import { CliError } from "./command.ts";

/** Largest request body sent (under a proxy's usual 100 MB limit). */
export const CHUNK_BYTES = 50 * 1024 * 1024;

const RETRY_DELAYS = [0, 1000, 3000, 5000, 10000];
/** "Not now" answers worth another try besides 5xx (see static/tus_upload.js). */
const RETRY_STATUSES = new Set([0, 408, 409, 423, 429]);

/** What {@linkcode uploadResumable} needs. */
export interface ResumableUpload {
  server: string;
  /** The current access token, asked before every request (the CLI renews it). */
  token: () => Promise<string | undefined>;
  /** Absolute path of the file. */
  path: string;
  name: string;
  type: string;
  /** Where `uploads.json` lives (the CLI's config directory). */
  configDir: string;
  signal: AbortSignal;
  onProgress: (bytesSent: number) => void;
  /** Called when an earlier upload of this file is resumed, with the server's offset. */
  onResumed: (offset: number, length: number) => void;
}

type StoredUploads = Record<string, tus.PreviousUpload & { urlStorageKey?: string }>;

/** tus-js-client's URL storage as one JSON file (mode 0600); one CLI process at a time writes it. */
class FileUrlStorage implements tus.UrlStorage {
  constructor(private readonly path: string, private readonly dir: string) {}

  async #read(): Promise<StoredUploads> {
    try {
      return JSON.parse(await Deno.readTextFile(this.path));
    } catch {
      return {};
    }
  }

  async #write(uploads: StoredUploads): Promise<void> {
    await Deno.mkdir(this.dir, { recursive: true, mode: 0o700 });
    await Deno.writeTextFile(this.path, JSON.stringify(uploads, null, 2), { mode: 0o600 });
  }

  async findAllUploads(): Promise<tus.PreviousUpload[]> {
    return Object.entries(await this.#read()).map(([key, value]) => ({
      ...value,
      urlStorageKey: key,
    }));
  }

  async findUploadsByFingerprint(fingerprint: string): Promise<tus.PreviousUpload[]> {
    return (await this.findAllUploads()).filter((upload) =>
      (upload as { urlStorageKey?: string }).urlStorageKey?.startsWith(`tus::${fingerprint}::`)
    );
  }

  async removeUpload(key: string): Promise<void> {
    const uploads = await this.#read();
    delete uploads[key];
    await this.#write(uploads);
  }

  async addUpload(fingerprint: string, upload: tus.PreviousUpload): Promise<string> {
    const uploads = await this.#read();
    const key = `tus::${fingerprint}::${crypto.randomUUID()}`;
    uploads[key] = upload;
    await this.#write(uploads);
    return key;
  }
}

function problemText(error: tus.DetailedError | Error): string {
  const response = (error as tus.DetailedError).originalResponse;
  if (!response) return `the connection failed (${error.message.split("\n")[0]})`;
  try {
    const problem = JSON.parse(response.getBody());
    if (typeof problem.title === "string") {
      return problem.detail ? `${problem.title}: ${problem.detail}` : problem.title;
    }
  } catch {
    // not a problem body
  }
  return `HTTP ${response.getStatus()}`;
}

/**
 * Uploads (or resumes) one file.
 *
 * @param options The file, the server, the token and the callbacks.
 * @param action What the user asked for, for error messages (`Cannot upload big.bin`).
 * @returns The id of the file the server queued.
 * @throws {CliError} when the server refuses the upload or retries run out.
 */
export function uploadResumable(options: ResumableUpload, action: string): Promise<string> {
  const urlStorage = new FileUrlStorage(join(options.configDir, "uploads.json"), options.configDir);
  return new Promise((resolve, reject) => {
    let fileId: string | undefined;
    const upload = new tus.Upload(createReadStream(options.path), {
      endpoint: `${options.server}/api/uploads`,
      chunkSize: CHUNK_BYTES,
      retryDelays: RETRY_DELAYS,
      onShouldRetry: (error) => {
        const status = error.originalResponse?.getStatus() ?? 0;
        return status >= 500 || RETRY_STATUSES.has(status);
      },
      urlStorage,
      removeFingerprintOnSuccess: true,
      // A long upload outlives its first access token: each PATCH asks for the current one.
      onBeforeRequest: async (request) => {
        const token = await options.token();
        if (token) request.setHeader("Authorization", `Bearer ${token}`);
      },
      metadata: { filename: options.name, filetype: options.type },
      onAfterResponse(request, response) {
        if (request.getMethod() === "HEAD" && response.getStatus() === 200) {
          const offset = Number(response.getHeader("Upload-Offset"));
          if (offset > 0) options.onResumed(offset, Number(response.getHeader("Upload-Length")));
        }
        fileId = response.getHeader("Coffer-File-Id") || fileId;
      },
      onProgress: (sent) => options.onProgress(sent),
      onSuccess: () => {
        if (fileId) resolve(fileId);
        else reject(new CliError(`${action}: the server did not name the stored file`));
      },
      onError: (error) => reject(new CliError(`${action}: ${problemText(error)}`)),
    });
    options.signal.addEventListener("abort", () => {
      upload.abort(false).catch(() => {}); // kept on the server: the next run resumes it
      reject(options.signal.reason);
    }, { once: true });
    upload.findPreviousUploads().then((previous) => {
      if (previous.length > 0) upload.resumeFromPreviousUpload(previous[0]);
      upload.start();
    }, reject);
  });
}
