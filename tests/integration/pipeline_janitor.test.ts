/**
 * The janitor's sweep: staged files that no live record or job owns and
 * unfinished multipart uploads are removed once they are older than the
 * minimum age; a queued file's staging and upload, and anything young, are
 * left alone.
 * Unfinished uploads are listed with ListMultipartUploads, which fauxqs lacks,
 * so the S3 case runs on moto_server when it is installed.
 */
import assert from "node:assert/strict";
import { CreateMultipartUploadCommand } from "@aws-sdk/client-s3";
import type { Config } from "../../config.ts";
import { newId } from "../../storage/ids.ts";
import { ciphertextKey } from "../../storage/object_keys.ts";
import type { S3ObjectStore } from "../../storage/s3_store.ts";
import { JANITOR_MIN_AGE_MS, sweep } from "../../workers/janitor.ts";
import { randomBytes, streamOf } from "../helpers.ts";
import { signUp, startTestServer, type TestServer } from "../test_server.ts";
import {
  markedPlaintext,
  NEEDS_MOTO,
  stagedIds,
  startMoto,
  unfinishedUploads,
  uploadAccepted,
} from "./_pipeline.ts";

const later = () => new Date(Date.now() + 2 * JANITOR_MIN_AGE_MS);

async function stageOrphan(server: TestServer): Promise<string> {
  const id = newId();
  await server.services.staging.stageUpload(id, streamOf(randomBytes(1000)), { maxBytes: 1e6 });
  return id;
}

/** Stages leftovers of every kind and returns the ids the sweep must keep and remove. */
async function leftovers(server: TestServer) {
  const user = await signUp(server);
  const queued = await uploadAccepted(server, user, "raw", markedPlaintext(100));
  const failed = await uploadAccepted(server, user, "raw", markedPlaintext(100));
  await server.services.queue.remove(failed.id);
  await server.services.files.update(failed.id, { status: "failed", error: "test" });
  const orphan = await stageOrphan(server);
  return { user, keep: [queued.id], remove: [orphan, failed.id] };
}

type Leftovers = Awaited<ReturnType<typeof leftovers>>;

/**
 * Sweeps now (nothing is old enough) and two hours from now. `startUploads`
 * runs between the two: moto reports every upload as initiated in 2010, so
 * uploads can only be checked by the later sweep.
 */
async function assertSweeps(
  server: TestServer,
  expectedUploads = 0,
  startUploads = async (_: Leftovers) => {},
) {
  const found = await leftovers(server);
  const { keep, remove } = found;
  const deps = server.services;

  assert.deepEqual(
    await sweep(deps),
    { staged: 0, uploads: 0, expired: 0 },
    "young leftovers are kept",
  );
  assert.deepEqual((await stagedIds(server)).sort(), [...keep, ...remove].sort());
  await startUploads(found);

  assert.deepEqual(await sweep(deps, later()), {
    staged: remove.length,
    uploads: expectedUploads,
    expired: 0,
  });
  assert.deepEqual(await stagedIds(server), keep, "a queued file keeps its staging");
  assert.deepEqual(
    await sweep(deps, later()),
    { staged: 0, uploads: 0, expired: 0 },
    "a second sweep is idle",
  );
}

Deno.test("sweep() removes orphaned and failed staging older than an hour and keeps a queued file's (local store)", async () => {
  await using server = await startTestServer();
  await assertSweeps(server);
});

Deno.test({
  name: "sweep() also aborts unfinished multipart uploads older than an hour (S3 on moto_server)",
  ...NEEDS_MOTO,
  async fn() {
    await using moto = await startMoto();
    await using server = await startTestServer({ config: { s3: moto.settings as Config["s3"] } });
    const store = server.services.store as S3ObjectStore;
    const orphanKey = ciphertextKey(newId(), newId());
    let liveKey = "";
    await assertSweeps(server, 1, async ({ user, keep }) => {
      // The queued file's job is live: its upload stays however old it is (a
      // large file on a slow link), or every retry of the job would be aborted.
      liveKey = ciphertextKey(user.id, keep[0]);
      for (const key of [orphanKey, liveKey]) {
        await store.client.send(
          new CreateMultipartUploadCommand({ Bucket: store.bucket, Key: key }),
        );
      }
      assert.equal((await unfinishedUploads(store, "files/")).length, 2);
    });
    assert.deepEqual((await unfinishedUploads(store)).map((upload) => upload.Key), [liveKey]);
  },
});
