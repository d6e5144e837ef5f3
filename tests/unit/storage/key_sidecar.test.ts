/**
 * The key sidecar (storage/key_sidecar.ts) byte for byte as docs/FORMAT.md
 * section 10 states it: version 2 JSON fields, the metadata sealed under the
 * label `file-meta:<owner>:<file>`, the wrapped key bound to the owner; a
 * sidecar relabelled with another owner does not open; version 1 sidecars
 * are still read.
 */
import assert from "node:assert/strict";
import { KeyRing, openBytes, sealedKeyId, unwrapKey } from "../../../crypto/mod.ts";
import { newWrappedDataKey } from "../../../storage/data_keys.ts";
import type { FileRecord } from "../../../storage/file_store.ts";
import { newId } from "../../../storage/ids.ts";
import {
  isSidecarCurrent,
  type KeySidecar,
  readKeySidecar,
  recordFromSidecar,
  writeKeySidecar,
} from "../../../storage/key_sidecar.ts";
import { LocalObjectStore } from "../../../storage/local_store.ts";
import { sidecarKey } from "../../../storage/object_keys.ts";
import { randomBytes, tempDir } from "../../helpers.ts";

const ring = await KeyRing.create([{ kid: "k-active", key: randomBytes(32) }]);
const fromBase64 = (text: string) => Uint8Array.from(atob(text), (c) => c.charCodeAt(0));

async function storedRecord(): Promise<FileRecord> {
  const owner = newId();
  const id = newId();
  return {
    id,
    owner,
    name: "tax ☀.pdf",
    size: 1234,
    content_type: "application/pdf",
    status: "stored",
    created_at: "2026-01-02T03:04:05.000Z",
    stored_at: "2026-01-02T03:04:06.000Z",
    ciphertext_size: 1234 + 56 + 16,
    sha256: "ab".repeat(32),
    ...await newWrappedDataKey(ring, owner, id),
  };
}

async function withStore(run: (store: LocalObjectStore) => Promise<void>): Promise<void> {
  await using dir = await tempDir();
  const store = await LocalObjectStore.create(`${dir.path}/objects`);
  try {
    await run(store);
  } finally {
    await store.close();
  }
}

async function putJson(store: LocalObjectStore, key: string, value: unknown): Promise<void> {
  const body = new TextEncoder().encode(JSON.stringify(value));
  await store.put(key, ReadableStream.from([body]), { contentLength: body.length });
}

Deno.test("writeKeySidecar() writes the version 2 layout of FORMAT.md", async () => {
  await withStore(async (store) => {
    const record = await storedRecord();
    await writeKeySidecar(store, ring, record);
    const sidecar = await readKeySidecar(store, sidecarKey(record.owner, record.id));
    assert.deepEqual(Object.keys(sidecar), [
      "v",
      "file_id",
      "owner_id",
      "kid",
      "wrapped_dek",
      "sealed_meta",
    ]);
    assert.deepEqual(
      [sidecar.v, sidecar.file_id, sidecar.owner_id, sidecar.kid, sidecar.wrapped_dek],
      [2, record.id, record.owner, "k-active", record.wrapped_dek],
    );
    const wrapped = fromBase64(sidecar.wrapped_dek);
    assert.deepEqual([wrapped.length, wrapped[0]], [61, 2]);
    await unwrapKey(ring, { kid: sidecar.kid, wrapped }, record.owner, record.id);
    const sealed = fromBase64(sidecar.sealed_meta);
    assert.equal(sealedKeyId(sealed), "k-active");
    const meta = JSON.parse(
      new TextDecoder().decode(
        await openBytes(ring, sealed, `file-meta:${record.owner}:${record.id}`),
      ),
    );
    assert.deepEqual(meta, {
      name: record.name,
      content_type: record.content_type,
      size: record.size,
      created_at: record.created_at,
      stored_at: record.stored_at,
      sha256: record.sha256,
      ciphertext_size: record.ciphertext_size,
    });
    assert.deepEqual(await recordFromSidecar(ring, sidecar), record);
    assert.ok(isSidecarCurrent(ring, record, sidecar));
  });
});

Deno.test("recordFromSidecar() refuses a version 2 sidecar relabelled with another owner", async () => {
  await withStore(async (store) => {
    const record = await storedRecord();
    await writeKeySidecar(store, ring, record);
    const sidecar = await readKeySidecar(store, sidecarKey(record.owner, record.id));
    const attacker = newId();
    await assert.rejects(
      recordFromSidecar(ring, { ...sidecar, owner_id: attacker }),
      new RegExp(`sealed metadata does not verify for owner ${attacker}`),
    );
    await assert.rejects(
      recordFromSidecar(ring, { ...sidecar, file_id: newId() }),
      /does not verify/,
    );
  });
});

Deno.test("recordFromSidecar() reads a version 1 sidecar (metadata bound to the file id)", async () => {
  const record = await storedRecord();
  const meta = { name: record.name, content_type: record.content_type, size: record.size };
  const sealed = await ring.encrypt(
    new TextEncoder().encode(JSON.stringify(meta)),
    new TextEncoder().encode(`coffer/v1 file-metadata\0${record.id}`),
  );
  const legacy: KeySidecar = {
    v: 1,
    file_id: record.id,
    owner_id: record.owner,
    kid: record.kid,
    wrapped_dek: record.wrapped_dek!,
    meta_kid: sealed.kid,
    sealed_meta: btoa(String.fromCharCode(...sealed.bytes)),
  };
  const restored = await recordFromSidecar(ring, legacy);
  assert.deepEqual([restored.name, restored.owner, restored.status], [
    record.name,
    record.owner,
    "stored",
  ]);
  assert.equal(isSidecarCurrent(ring, record, legacy), false, "keys:rotate rewrites it");
});

Deno.test("readKeySidecar() refuses unknown versions, missing fields and ids that are not ids", async () => {
  await withStore(async (store) => {
    const record = await storedRecord();
    await writeKeySidecar(store, ring, record);
    const good = await readKeySidecar(store, sidecarKey(record.owner, record.id));
    const bad: unknown[] = [
      { ...good, v: 3 },
      { ...good, v: 1 }, // version 1 needs meta_kid
      { ...good, owner_id: "a:b" },
      { ...good, file_id: "../x" },
      { ...good, wrapped_dek: "" },
      { ...good, sealed_meta: 7 },
      [],
    ];
    for (const [index, value] of bad.entries()) {
      const key = `keys/bad/${index}`;
      await putJson(store, key, value);
      await assert.rejects(readKeySidecar(store, key), /unknown layout/, JSON.stringify(value));
    }
  });
});

/** The backticked field names of the first table under `heading` in docs/FORMAT.md section 10. */
function documentedFields(heading: string): string[] {
  const format = Deno.readTextFileSync(new URL("../../../docs/FORMAT.md", import.meta.url));
  const section = format.slice(format.indexOf("## 10. Key sidecar"));
  const table = section.slice(section.indexOf(heading)).split("\n\n")[1];
  return table.split("\n").slice(2).map((row) => row.match(/^\| `(\w+)`/)![1]);
}

Deno.test("docs/FORMAT.md section 10 lists exactly the fields the sidecar has", async () => {
  await withStore(async (store) => {
    const record = await storedRecord();
    await writeKeySidecar(store, ring, record);
    const sidecar = await readKeySidecar(store, sidecarKey(record.owner, record.id));
    assert.deepEqual(documentedFields("### Version 2"), Object.keys(sidecar));
    assert.deepEqual(documentedFields("### Version 1"), [
      "v",
      "file_id",
      "owner_id",
      "kid",
      "wrapped_dek",
      "meta_kid",
      "sealed_meta",
    ]);
  });
});
