/**
 * The staging area: upload bodies land here (`<dataDir>/staging/<id>`, mode
 * 0600, folder 0700) before a worker encrypts them into the object store. With
 * separate API and worker processes it must be a volume both can reach.
 */
import { resolve } from "node:path";
import { CofferError } from "../errors.ts";
import { streamFile } from "./file_stream.ts";
import { writeStreamToFile } from "./_write_stream.ts";

const ID = /^[A-Za-z0-9_-]{1,128}$/;

/** A staged file as the janitor sees it. */
export interface StagedFile {
  id: string;
  size: number;
  mtime: Date;
}

/** What {@linkcode StagingArea.appendAt} wrote. */
export interface AppendResult {
  /** Bytes written at the offset and flushed to disk. */
  written: number;
  /** Why the body ended early (a client that hung up, an idle cut), if it did. */
  error?: unknown;
}

/** Options for {@linkcode StagingArea.stageUpload}. */
export interface StageOptions {
  /** Largest accepted body; one byte more fails with `PAYLOAD_TOO_LARGE`. */
  maxBytes: number;
  /** The client's request signal: an aborted upload leaves nothing behind. */
  signal?: AbortSignal;
}

/**
 * Staged upload bodies, addressed by file id. Ids are server-generated
 * (`[A-Za-z0-9_-]`, at most 128 characters) and checked on every call, so no
 * user-supplied text ever becomes a path.
 */
export class StagingArea {
  private constructor(readonly dir: string) {}

  /**
   * Opens the staging area under `dataDir`, creating `<dataDir>/staging` with mode 0700.
   *
   * @param dataDir The data directory from the config.
   * @returns The staging area.
   * @example
   * ```ts
   * const staging = await StagingArea.create(config.dataDir);
   * const size = await staging.stageUpload(fileId, request.body!, { maxBytes: config.maxFileBytes });
   * ```
   */
  static async create(dataDir: string): Promise<StagingArea> {
    const dir = resolve(dataDir, "staging");
    await Deno.mkdir(dir, { recursive: true, mode: 0o700 });
    await Deno.chmod(dir, 0o700);
    return new StagingArea(dir);
  }

  /**
   * Streams an upload body to `<dir>/<id>` (a new file, mode 0600), counting bytes.
   * On any failure — limit passed, stream error, client abort — the file is removed.
   *
   * @param id The file id.
   * @param body The request body.
   * @param options The byte limit and the request's abort signal.
   * @returns The number of bytes staged.
   * @throws {CofferError} `PAYLOAD_TOO_LARGE` as soon as the count passes `maxBytes`;
   *   `BAD_REQUEST` for an invalid id.
   * @throws {Deno.errors.AlreadyExists} if that id is already staged.
   */
  async stageUpload(
    id: string,
    body: ReadableStream<Uint8Array>,
    options: StageOptions,
  ): Promise<number> {
    return await writeStreamToFile(this.#pathOf(id), body, options);
  }

  /**
   * Creates an empty staged file (mode 0600) for a resumable upload.
   *
   * @throws {Deno.errors.AlreadyExists} if that id is already staged.
   */
  async createEmpty(id: string): Promise<void> {
    const file = await Deno.open(this.#pathOf(id), { write: true, createNew: true, mode: 0o600 });
    file.close();
  }

  /**
   * Writes a body into a staged file at `offset`, first cutting off anything
   * past `offset` (bytes of an earlier request whose offset was never
   * recorded), then flushes it to disk. A body that fails part-way keeps
   * what arrived: the result says how much, and why it stopped.
   *
   * @param id The file id (the file must exist).
   * @param offset Where the body goes: the recorded length so far.
   * @param body The bytes to append.
   * @param maxBytes Most bytes accepted; one more fails with `PAYLOAD_TOO_LARGE`
   *   and nothing of this body is kept.
   * @returns The bytes written, and the error that ended the body early.
   * @throws {Deno.errors.NotFound} if nothing is staged under `id`.
   */
  async appendAt(
    id: string,
    offset: number,
    body: ReadableStream<Uint8Array>,
    maxBytes: number,
  ): Promise<AppendResult> {
    using file = await Deno.open(this.#pathOf(id), { write: true });
    await file.truncate(offset);
    await file.seek(offset, Deno.SeekMode.Start);
    const reader = body.getReader();
    let written = 0;
    let error: unknown;
    try {
      while (true) {
        const { done, value } = await reader.read();
        if (done) break;
        if (written + value.length > maxBytes) {
          await file.truncate(offset);
          throw new CofferError("PAYLOAD_TOO_LARGE", `this request may send ${maxBytes} bytes`);
        }
        for (let at = 0; at < value.length;) at += await file.write(value.subarray(at));
        written += value.length;
      }
    } catch (failure) {
      if (failure instanceof CofferError && failure.code === "PAYLOAD_TOO_LARGE") {
        await reader.cancel(failure).catch(() => {});
        throw failure;
      }
      error = failure;
      await reader.cancel(failure).catch(() => {});
    }
    await file.syncData();
    return { written, error };
  }

  /** Cuts a staged file back to `length` bytes (a chunk that failed its checksum). */
  async truncate(id: string, length: number): Promise<void> {
    await Deno.truncate(this.#pathOf(id), length);
  }

  /**
   * Opens a staged file for reading.
   *
   * @throws {Deno.errors.NotFound} if nothing is staged under `id`.
   */
  async open(id: string): Promise<ReadableStream<Uint8Array>> {
    return streamFile(await Deno.open(this.#pathOf(id), { read: true }));
  }

  /**
   * The size of a staged file in bytes.
   *
   * @throws {Deno.errors.NotFound} if nothing is staged under `id`.
   */
  async size(id: string): Promise<number> {
    return (await Deno.stat(this.#pathOf(id))).size;
  }

  /** Removes a staged file; a missing one is fine. */
  async remove(id: string): Promise<void> {
    await Deno.remove(this.#pathOf(id)).catch((error) => {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    });
  }

  /** Every staged file (ids only; anything else in the folder is ignored). */
  async list(): Promise<StagedFile[]> {
    const files: StagedFile[] = [];
    for await (const entry of Deno.readDir(this.dir)) {
      if (!entry.isFile || !ID.test(entry.name)) continue;
      const info = await Deno.stat(`${this.dir}/${entry.name}`).catch(() => undefined);
      if (info) files.push({ id: entry.name, size: info.size, mtime: info.mtime ?? new Date(0) });
    }
    return files;
  }

  #pathOf(id: string): string {
    if (typeof id !== "string" || !ID.test(id)) {
      throw new CofferError("BAD_REQUEST", "invalid upload id");
    }
    return `${this.dir}/${id}`;
  }
}
