/** streamFile(): 1 MiB pieces, an exact length, and the file closed on every path. */
import assert from "node:assert/strict";
import { READ_PIECE, streamFile } from "../../../storage/file_stream.ts";
import { tempDir } from "../../helpers.ts";

async function fileOf(path: string, size: number): Promise<void> {
  const bytes = new Uint8Array(size);
  for (let i = 0; i < size; i++) bytes[i] = i % 251;
  await Deno.writeFile(path, bytes);
}

Deno.test("streamFile() reads to the end in pieces of at most 1 MiB", async () => {
  await using dir = await tempDir();
  const path = `${dir.path}/f`;
  await fileOf(path, 2 * READ_PIECE + 5);
  const sizes: number[] = [];
  let next = 0;
  for await (const piece of streamFile(await Deno.open(path))) {
    sizes.push(piece.length);
    for (const byte of piece) assert.equal(byte, next++ % 251);
  }
  assert.deepEqual(sizes, [READ_PIECE, READ_PIECE, 5]);
});

Deno.test("streamFile() stops at the length asked for, and fails if the file is shorter", async () => {
  await using dir = await tempDir();
  const path = `${dir.path}/f`;
  await fileOf(path, 1000);
  let total = 0;
  for await (const piece of streamFile(await Deno.open(path), 999)) total += piece.length;
  assert.equal(total, 999);
  await assert.rejects(async () => {
    for await (const _ of streamFile(await Deno.open(path), 1001));
  }, /ended early/);
});

Deno.test("streamFile() closes the file when the reader cancels", async () => {
  await using dir = await tempDir();
  const path = `${dir.path}/f`;
  await fileOf(path, 3 * READ_PIECE);
  const reader = streamFile(await Deno.open(path)).getReader();
  await reader.read();
  await reader.cancel(); // the resource sanitizer fails the test if the file stays open
});
