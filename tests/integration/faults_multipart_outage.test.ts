/**
 * The object store dies between two parts of a multipart upload: part 1 is
 * stored, then every request fails (connections dropped), so neither part 2
 * nor the abort of the upload gets through and an unfinished upload stays
 * behind. Once the store is back, the job's retry aborts that upload, uploads
 * again, and leaves exactly one object and no unfinished multipart upload.
 *
 * Listing unfinished uploads needs ListMultipartUploads, which fauxqs lacks:
 * this runs on moto_server (skipped with a message where it is not installed,
 * as the other moto tests are). moto is read directly, not through the proxy.
 */
import assert from "node:assert/strict";
import { ListPartsCommand } from "@aws-sdk/client-s3";
import { ciphertextKey, sidecarKey } from "../../storage/object_keys.ts";
import { createS3Client, S3ObjectStore } from "../../storage/s3_store.ts";
import { startFaultProxy } from "../fault_proxy.ts";
import { collect } from "../helpers.ts";
import { isOperation } from "../s3_operation.ts";
import { signUp, startTestServer, waitForFile } from "../test_server.ts";
import { counterValue, logLines, LONG_S3_TIMEOUT_MS } from "./_faults.ts";
import {
  eventually,
  keysUnder,
  markedPlaintext,
  MIB,
  NEEDS_MOTO,
  startMoto,
  unfinishedUploads,
  uploadAccepted,
} from "./_pipeline.ts";

Deno.test({
  name:
    "the store dying between two multipart parts: the retry leaves exactly one object and no unfinished upload (moto)",
  ...NEEDS_MOTO,
  async fn() {
    await using moto = await startMoto();
    await using proxy = startFaultProxy(moto.settings.endpoint!);
    await using server = await startTestServer({
      worker: true,
      config: {
        s3: { ...moto.settings, endpoint: proxy.endpoint, timeoutMs: LONG_S3_TIMEOUT_MS },
        jobBackoffMs: 200,
        workerConcurrency: 1,
      },
    });
    const direct = new S3ObjectStore(createS3Client(moto.settings), moto.settings.bucket);
    await using _direct = { [Symbol.asyncDispose]: () => direct.close() };
    const user = await signUp(server);

    let dead = false;
    const part1Stored = Promise.withResolvers<void>();
    proxy.add({ match: () => dead, fault: { kind: "drop" } });
    proxy.add({
      match: isOperation("UploadPart", (r) => r.query.get("partNumber") === "2"),
      fault: { kind: "delay", until: part1Stored.promise, then: { kind: "drop" } },
      times: 1,
    });

    const plaintext = markedPlaintext(9 * MIB); // part 1: 8 MiB, part 2: the rest
    const record = await uploadAccepted(server, user, "raw", plaintext);
    const fileKey = ciphertextKey(user.id, record.id);
    const [upload] = await eventually("part 1 stored in an unfinished upload", async () => {
      const uploads = await unfinishedUploads(direct, fileKey);
      if (uploads.length !== 1) return undefined;
      const { Parts } = await direct.client.send(
        new ListPartsCommand({
          Bucket: direct.bucket,
          Key: fileKey,
          UploadId: uploads[0].UploadId,
        }),
      );
      return Parts?.some((part) => part.PartNumber === 1) && uploads;
    });
    dead = true; // the store dies; part 2 (held until now) and everything after fail
    part1Stored.resolve();

    await eventually("a failed job attempt", async () => {
      return (await server.services.queue.getJob(record.id))?.attemptsMade! >= 1;
    });
    assert.deepEqual(
      (await unfinishedUploads(direct)).map((u) => u.UploadId),
      [upload.UploadId],
      "the dead store could not be told to abort it",
    );
    dead = false; // the store is back

    const final = await waitForFile(server, user, record.id, 30_000);
    assert.equal(final.status, "stored", JSON.stringify(final));
    assert.deepEqual(await unfinishedUploads(direct), [], "no unfinished multipart upload");
    assert.deepEqual(await keysUnder(direct, `files/${user.id}/`), [fileKey], "one object");
    assert.deepEqual(await keysUnder(direct, `keys/${user.id}/`), [sidecarKey(user.id, record.id)]);
    assert.equal(
      (await direct.head(fileKey))?.size,
      (await server.services.files.get(record.id))
        ?.ciphertext_size,
    );
    const content = await fetch(`${server.url}/api/files/${record.id}/content`, {
      headers: user.headers,
    });
    assert.ok(Buffer.from(await collect(content.body!)).equals(plaintext));
    assert.ok(
      logLines(server, "object_store.stale_upload_aborted").some((line) => line.key === fileKey),
      "the retry found and aborted the upload the outage left",
    );
    assert.ok(await counterValue(server.services.metrics.uploadRetries) >= 1);
  },
});
