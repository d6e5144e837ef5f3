/**
 * The local-disk object store, used when no S3 is configured. Objects are files
 * under a root directory (`<root>/<key>`), written to `<root>/.tmp/` first and
 * renamed into place, so a reader sees the old object or the new one, never a
 * part. Metadata lives in a sidecar `<root>/<key>.meta.json`, also renamed into
 * place (before the object when the put has metadata, so the new object never
 * shows old metadata; a concurrent `head` may briefly pair new metadata with the
 * old object).
 */
import { dirname, resolve } from "node:path";
import { streamFile } from "./file_stream.ts";
import { writeStreamToFile } from "./_write_stream.ts";
import {
  type ByteRange,
  type ObjectInfo,
  ObjectNotFoundError,
  type ObjectStore,
  type PutOptions,
} from "./object_store.ts";

const TMP_DIR = ".tmp";
const META_SUFFIX = ".meta.json";
/** Longest encoded key kept in a temp file name (names are limited to 255 bytes). */
const MAX_ENCODED_KEY = 200;

/**
 * An {@linkcode ObjectStore} in a local directory.
 *
 * Keys are `/`-separated paths of non-empty segments: `..`, `.`, absolute keys,
 * NUL, backslashes, a first segment of `.tmp`, segments ending in `.meta.json`
 * and segments over 255 bytes are refused with a `TypeError`. As on any file
 * system, a key cannot be both an object and the folder of another (`a` and
 * `a/b`). `list` reports no metadata (as on S3): use `head`. Directories left
 * empty by `delete` stay.
 */
export class LocalObjectStore implements ObjectStore {
  readonly kind = "local";
  /** Pieces come from storage/file_stream.ts, one fresh buffer per read. */
  readonly handsOverPieces = true;

  private constructor(readonly root: string) {}

  /**
   * Opens (creating if needed, mode 0700) a store rooted at `root`.
   *
   * @param root The directory that holds the objects.
   * @returns The store.
   * @example
   * ```ts
   * const store = await LocalObjectStore.create("./data/objects");
   * await store.put("files/u1/f1", stream);
   * ```
   */
  static async create(root: string): Promise<LocalObjectStore> {
    const store = new LocalObjectStore(resolve(root));
    await Deno.mkdir(`${store.root}/${TMP_DIR}`, { recursive: true, mode: 0o700 });
    return store;
  }

  async put(
    key: string,
    body: ReadableStream<Uint8Array>,
    options: PutOptions = {},
  ): Promise<number> {
    const path = this.#pathOf(key);
    const { metadata, signal } = options;
    const encoded = encodeKey(key);
    // Like S3's put, which aborts unfinished uploads at the key first: a put
    // killed mid-way (SIGKILL, power loss) left its temp file; the redo of
    // that put is what removes it, so a redone job leaves one object only.
    if (encoded !== "~") await this.#removeTempFilesOf(encoded);
    const temp = `${this.root}/${TMP_DIR}/${encoded}.${crypto.randomUUID()}`;
    try {
      const size = await writeStreamToFile(`${temp}.data`, body, { signal });
      await Deno.mkdir(dirname(path), { recursive: true, mode: 0o700 });
      if (metadata && Object.keys(metadata).length > 0) {
        const json = new TextEncoder().encode(JSON.stringify(metadata));
        await writeStreamToFile(`${temp}.meta`, new Blob([json]).stream());
        await Deno.rename(`${temp}.meta`, path + META_SUFFIX);
        await Deno.rename(`${temp}.data`, path);
      } else {
        await Deno.rename(`${temp}.data`, path);
        await removeIfPresent(path + META_SUFFIX);
      }
      return size;
    } catch (error) {
      await removeIfPresent(`${temp}.data`);
      await removeIfPresent(`${temp}.meta`);
      throw signal?.aborted ? signal.reason : error;
    }
  }

  async get(key: string, range?: ByteRange): Promise<ReadableStream<Uint8Array>> {
    const path = this.#pathOf(key);
    let file: Deno.FsFile;
    try {
      file = await Deno.open(path, { read: true });
    } catch (error) {
      throw isMissing(error) ? new ObjectNotFoundError(key) : error;
    }
    try {
      const { isFile, size } = await file.stat();
      if (!isFile) throw new ObjectNotFoundError(key);
      const start = range?.start ?? 0;
      const end = Math.min(range?.end ?? Infinity, size - 1);
      if (range && (start < 0 || start > range.end || start >= size)) {
        throw new RangeError(`Cannot read ${key}: range ${range.start}-${range.end} is invalid`);
      }
      if (start > 0) await file.seek(start, Deno.SeekMode.Start);
      return streamFile(file, Math.max(0, end - start + 1));
    } catch (error) {
      file.close();
      throw error;
    }
  }

  async head(key: string): Promise<ObjectInfo | undefined> {
    const path = this.#pathOf(key);
    try {
      const info = await Deno.stat(path);
      if (!info.isFile) return undefined;
      const metadata = await Deno.readTextFile(path + META_SUFFIX).then(JSON.parse, (error) => {
        if (isMissing(error)) return {};
        throw error;
      });
      return { key, size: info.size, metadata, lastModified: info.mtime ?? undefined };
    } catch (error) {
      if (isMissing(error)) return undefined;
      throw error;
    }
  }

  async delete(key: string): Promise<void> {
    const path = this.#pathOf(key);
    const info = await Deno.lstat(path).catch((error) => {
      if (isMissing(error)) return undefined;
      throw error;
    });
    if (info?.isFile) await removeIfPresent(path);
    await removeIfPresent(path + META_SUFFIX);
  }

  async *list(prefix: string): AsyncIterable<ObjectInfo> {
    // Walk only the deepest folder that the prefix names in full.
    const folder = prefix.includes("/") ? prefix.slice(0, prefix.lastIndexOf("/")) : "";
    let start = this.root;
    if (folder !== "") {
      try {
        start = this.#pathOf(folder);
      } catch {
        return; // no valid key lies under an invalid folder
      }
    }
    const keys: string[] = [];
    await walk(start, folder === "" ? "" : `${folder}/`, keys);
    keys.sort((a, b) => a < b ? -1 : a > b ? 1 : 0);
    for (const key of keys) {
      if (!key.startsWith(prefix)) continue;
      const info = await Deno.stat(`${this.root}/${key}`).catch(() => undefined);
      if (info?.isFile) {
        yield { key, size: info.size, metadata: {}, lastModified: info.mtime ?? undefined };
      }
    }
  }

  /** Removes temp files of puts under `prefix` not written to since `olderThan`. */
  async abortUnfinishedUploads(
    prefix: string,
    olderThan: Date,
    keep?: (key: string) => Promise<boolean>,
  ): Promise<number> {
    const tmp = `${this.root}/${TMP_DIR}`;
    let aborted = 0;
    for await (const entry of Deno.readDir(tmp)) {
      const [encoded, , kind] = entry.name.split(".");
      const key = decodeKey(encoded);
      if (!entry.isFile || !(key === undefined ? prefix === "" : key.startsWith(prefix))) continue;
      const info = await Deno.stat(`${tmp}/${entry.name}`).catch(() => undefined);
      if (!info?.mtime || info.mtime >= olderThan) continue;
      if (key !== undefined && await keep?.(key)) continue;
      if (await removeIfPresent(`${tmp}/${entry.name}`) && kind === "data") aborted++;
    }
    return aborted;
  }

  /** Removes every temp file of earlier puts to the key encoded as `encoded`. */
  async #removeTempFilesOf(encoded: string): Promise<void> {
    const tmp = `${this.root}/${TMP_DIR}`;
    for await (const entry of Deno.readDir(tmp)) {
      if (entry.isFile && entry.name.startsWith(`${encoded}.`)) {
        await removeIfPresent(`${tmp}/${entry.name}`);
      }
    }
  }

  async ping(): Promise<void> {
    const info = await Deno.stat(`${this.root}/${TMP_DIR}`);
    if (!info.isDirectory) throw new Error(`Cannot use object store: ${this.root} is broken`);
  }

  close(): Promise<void> {
    return Promise.resolve();
  }

  /** Maps a key to its file, refusing anything that could leave the root or collide. */
  #pathOf(key: string): string {
    const problem = keyProblem(key);
    if (problem) throw new TypeError(`Cannot map object key to a path: ${problem}`);
    return `${this.root}/${key}`;
  }
}

function keyProblem(key: string): string | undefined {
  if (typeof key !== "string" || key === "") return "the key is empty";
  if (new TextEncoder().encode(key).length > 1024) return "the key is longer than 1024 bytes";
  if (key.includes("\0")) return "the key contains NUL";
  if (key.includes("\\")) return "the key contains a backslash";
  if (key.startsWith("/")) return "the key is absolute";
  const segments = key.split("/");
  if (segments[0] === TMP_DIR) return `${TMP_DIR} is reserved`;
  for (const segment of segments) {
    if (segment === "") return "the key has an empty segment";
    if (segment === "." || segment === "..") return "the key has a . or .. segment";
    if (segment.endsWith(META_SUFFIX)) return `segments ending in ${META_SUFFIX} are reserved`;
    if (new TextEncoder().encode(segment).length > 255) return "a segment is over 255 bytes";
  }
  return undefined;
}

/** Collects the keys of regular files under `dir` (skipping temp files and sidecars). */
async function walk(dir: string, keyPrefix: string, keys: string[]): Promise<void> {
  try {
    for await (const entry of Deno.readDir(dir)) {
      const key = keyPrefix + entry.name;
      if (entry.isDirectory && key !== TMP_DIR) await walk(`${dir}/${entry.name}`, `${key}/`, keys);
      else if (entry.isFile && !entry.name.endsWith(META_SUFFIX)) keys.push(key);
    }
  } catch (error) {
    if (!isMissing(error)) throw error;
  }
}

/** The key in a temp file name (base64url), or `~` when it is too long to fit. */
function encodeKey(key: string): string {
  const base64 = btoa(String.fromCharCode(...new TextEncoder().encode(key)));
  const encoded = base64.replaceAll("+", "-").replaceAll("/", "_").replaceAll("=", "");
  return encoded.length <= MAX_ENCODED_KEY ? encoded : "~";
}

function decodeKey(encoded: string): string | undefined {
  if (encoded === "~") return undefined;
  try {
    const base64 = encoded.replaceAll("-", "+").replaceAll("_", "/");
    return new TextDecoder().decode(Uint8Array.from(atob(base64), (c) => c.charCodeAt(0)));
  } catch {
    return undefined;
  }
}

function isMissing(error: unknown): boolean {
  return error instanceof Deno.errors.NotFound || error instanceof Deno.errors.NotADirectory;
}

/** Removes a file; false if it was already gone. */
async function removeIfPresent(path: string): Promise<boolean> {
  try {
    await Deno.remove(path);
    return true;
  } catch (error) {
    if (isMissing(error)) return false;
    throw error;
  }
}
