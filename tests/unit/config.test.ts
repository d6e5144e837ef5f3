/**
 * Configuration: the spec's defaults, one error naming every bad variable, S3
 * switched on by its settings, and master-key parsing.
 */
import assert from "node:assert/strict";
import { ConfigError, loadConfig, parseMasterKeys } from "../../config.ts";
import { randomKeyBase64 } from "../helpers.ts";

Deno.test("loadConfig() applies the spec's defaults to an empty environment", () => {
  const config = loadConfig({});
  assert.equal(config.host, "127.0.0.1");
  assert.equal(config.port, 8080);
  assert.equal(config.dataDir, "./data");
  assert.equal(config.redisUrl, undefined);
  assert.equal(config.s3, undefined);
  assert.equal(config.masterKeys, undefined);
  assert.equal(config.jwtSecret, undefined);
  assert.equal(config.tokenTtlSeconds, 3600);
  assert.equal(config.maxFileBytes, 10737418240);
  assert.equal(config.quotaBytes, 53687091200);
  assert.equal(config.workerConcurrency, 2);
  assert.equal(config.jobLockMs, 30_000);
  assert.equal(config.jobBackoffMs, 1000);
});

Deno.test("loadConfig() names every bad variable in one error", () => {
  let message = "";
  try {
    loadConfig({
      PORT: "abc",
      COFFER_TOKEN_TTL: "-5",
      COFFER_WORKER_CONCURRENCY: "0",
      COFFER_JWT_SECRET: "too-short-secret",
      COFFER_MASTER_KEYS: "k1:notbase64",
      REDIS_URL: "http://example",
    });
  } catch (error) {
    assert.ok(error instanceof ConfigError);
    message = error.message;
  }
  for (
    const name of [
      "PORT",
      "COFFER_TOKEN_TTL",
      "COFFER_WORKER_CONCURRENCY",
      "COFFER_JWT_SECRET",
      "COFFER_MASTER_KEYS",
      "REDIS_URL",
    ]
  ) {
    assert.match(message, new RegExp(name));
  }
  assert.doesNotMatch(message, /too-short-secret/, "a secret value is never echoed");
});

Deno.test("loadConfig() turns S3 on when a bucket or an endpoint is set", () => {
  assert.equal(loadConfig({ S3_ENDPOINT: "http://127.0.0.1:4566" }).s3?.bucket, "coffer");
  const config = loadConfig({ S3_BUCKET: "my-files", S3_REGION: "eu-west-1" });
  assert.deepEqual(config.s3, {
    endpoint: undefined,
    bucket: "my-files",
    region: "eu-west-1",
    accessKeyId: undefined,
    secretAccessKey: undefined,
    timeoutMs: 30_000,
  });
  assert.throws(() => loadConfig({ S3_BUCKET: "B" }), /S3_BUCKET/);
});

Deno.test("loadConfig() reads COFFER_S3_TIMEOUT_MS and refuses values that would never or always cut", () => {
  assert.equal(loadConfig({ S3_BUCKET: "b-1", COFFER_S3_TIMEOUT_MS: "2500" }).s3?.timeoutMs, 2500);
  for (const bad of ["0", "99", "600001", "soon"]) {
    assert.throws(
      () => loadConfig({ S3_BUCKET: "b-1", COFFER_S3_TIMEOUT_MS: bad }),
      /COFFER_S3_TIMEOUT_MS/,
      bad,
    );
  }
});

Deno.test("loadConfig() reads COFFER_UPLOAD_SLOT_TTL_SECONDS (default 60) and refuses a lifetime under 2 s", () => {
  assert.equal(loadConfig({}).uploadSlotTtlSeconds, 60);
  assert.equal(loadConfig({ COFFER_UPLOAD_SLOT_TTL_SECONDS: "5" }).uploadSlotTtlSeconds, 5);
  for (const bad of ["0", "1", "3601", "1.5", "soon"]) {
    assert.throws(
      () => loadConfig({ COFFER_UPLOAD_SLOT_TTL_SECONDS: bad }),
      /COFFER_UPLOAD_SLOT_TTL_SECONDS/,
      bad,
    );
  }
});

Deno.test("parseMasterKeys() keeps the order, so the first key is active", () => {
  const keys = parseMasterKeys(`new:${randomKeyBase64()},old:${randomKeyBase64()}`);
  assert.deepEqual(keys.map((k) => k.kid), ["new", "old"]);
  assert.equal(keys[0].key.length, 32);
});

Deno.test("parseMasterKeys() rejects short keys, missing ids and duplicates", () => {
  assert.throws(() => parseMasterKeys(`k1:${btoa("short")}`));
  assert.throws(() => parseMasterKeys(`:${randomKeyBase64()}`));
  assert.throws(() => parseMasterKeys(`a:${randomKeyBase64()},a:${randomKeyBase64()}`), /unique/);
});

Deno.test("loadConfig() reads COFFER_TRUSTED_PROXIES as a list and refuses a bad entry", () => {
  assert.equal(loadConfig({}).trustedProxies, undefined);
  assert.deepEqual(
    loadConfig({ COFFER_TRUSTED_PROXIES: " 10.0.0.0/8, loopback ,fd00::1" }).trustedProxies,
    ["10.0.0.0/8", "loopback", "fd00::1"],
  );
  assert.throws(
    () => loadConfig({ COFFER_TRUSTED_PROXIES: "10.0.0.0/8,lb.internal" }),
    (error) =>
      error instanceof ConfigError &&
      /COFFER_TRUSTED_PROXIES: expected addresses or CIDR ranges .*lb\.internal/.test(
        error.message,
      ),
  );
});
