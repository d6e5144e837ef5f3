/**
 * Download targets: written through a private temp file renamed on success,
 * nothing left behind on failure, no overwrite without --force.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { CliError } from "../../../cli/command.ts";
import { createOutputFile, outputPath } from "../../../cli/output_file.ts";
import { tempDir } from "../../helpers.ts";

const bytes = (text: string) => ReadableStream.from([new TextEncoder().encode(text)]);
const names = (dir: string) => [...Deno.readDirSync(dir)].map((e) => e.name).sort();

Deno.test("createOutputFile() writes through a private temp file renamed on commit", async () => {
  await using dir = await tempDir();
  const path = join(dir.path, "out.txt");
  {
    await using out = await createOutputFile(path);
    await bytes("hello").pipeTo(out.writable);
    assert.equal(names(dir.path).length, 1);
    assert.match(names(dir.path)[0], /^\.out\.txt\.[0-9a-f]{8}\.part$/);
    await out.commit();
  }
  assert.deepEqual(names(dir.path), ["out.txt"]);
  assert.equal(await Deno.readTextFile(path), "hello");
  assert.equal((await Deno.stat(path)).mode! & 0o777, 0o600);
});

Deno.test("createOutputFile() leaves nothing behind when not committed", async () => {
  await using dir = await tempDir();
  {
    await using out = await createOutputFile(join(dir.path, "out.txt"));
    const failing = new ReadableStream({ start: (c) => c.error(new Error("broken")) });
    await assert.rejects(failing.pipeTo(out.writable), /broken/);
  }
  assert.deepEqual(names(dir.path), []);
});

Deno.test("createOutputFile() refuses to overwrite without force", async () => {
  await using dir = await tempDir();
  const path = join(dir.path, "out.txt");
  await Deno.writeTextFile(path, "old");
  await assert.rejects(createOutputFile(path), (error: Error) => {
    assert.ok(error instanceof CliError);
    assert.match(error.message, /already exists \(use --force to overwrite\)/);
    return true;
  });
  await assert.rejects(createOutputFile(dir.path, { force: true }), /is a directory/);
  {
    await using out = await createOutputFile(path, { force: true });
    await bytes("new").pipeTo(out.writable);
    await out.commit();
  }
  assert.equal(await Deno.readTextFile(path), "new");
  assert.deepEqual(names(dir.path), ["out.txt"]);
});

Deno.test("createOutputFile() refuses a target that appeared during the transfer", async () => {
  await using dir = await tempDir();
  const path = join(dir.path, "out.txt");
  await using out = await createOutputFile(path);
  await bytes("mine").pipeTo(out.writable);
  await Deno.writeTextFile(path, "theirs");
  await assert.rejects(out.commit(), /already exists/);
  assert.equal(await Deno.readTextFile(path), "theirs");
  assert.deepEqual(names(dir.path), ["out.txt"]);
});

Deno.test("outputPath() puts the default name inside a directory", async () => {
  await using dir = await tempDir();
  assert.equal(await outputPath(undefined, "a.txt"), "a.txt");
  assert.equal(await outputPath(dir.path, "a.txt"), join(dir.path, "a.txt"));
  assert.equal(await outputPath(join(dir.path, "b.txt"), "a.txt"), join(dir.path, "b.txt"));
});
