/**
 * No Docker engine runs in CI, so docker-compose.yml, the Dockerfile and
 * .dockerignore are checked by reading them: the compose file is parsed with
 * the `yaml` package, its variables are interpolated the way Compose does, and
 * the environment each role would see is run through `loadConfig()` — so a
 * misspelt or invalid variable fails here instead of in a container.
 */
import assert from "node:assert/strict";
import { parse } from "yaml";
import { loadConfig } from "../../../config.ts";

const ROOT = new URL("../../../", import.meta.url);
const read = (path: string) => Deno.readTextFileSync(new URL(path, ROOT));

interface Service {
  image?: string;
  build?: unknown;
  command?: string | string[];
  environment?: Record<string, string | number | null> | string[];
  ports?: (string | { target: number; published: string | number })[];
  volumes?: (string | { source: string; target: string })[];
  depends_on?: Record<string, { condition: string }> | string[];
  healthcheck?: { test?: string | string[]; disable?: boolean };
}

const compose = parse(read("docker-compose.yml"), { merge: true }) as {
  services: Record<string, Service>;
  volumes?: Record<string, unknown>;
};
const { services } = compose;

/** Every variable config.ts reads: the keys of its zod schema. */
function configVariables(): Set<string> {
  const source = read("config.ts");
  const start = source.indexOf("const schema = z.object({");
  assert.ok(start >= 0, "config.ts defines `const schema = z.object({`");
  const body = source.slice(start, source.indexOf("\n});", start));
  return new Set([...body.matchAll(/^ {2}([A-Z][A-Z0-9_]*):/gm)].map((match) => match[1]));
}

/** Compose interpolation: `${VAR}`, `${VAR:-default}`, `${VAR-default}` and `$$`. */
function interpolate(value: string, host: Record<string, string>): string {
  return value.replace(
    /\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?)-([^}]*))?\}/g,
    (match, name?: string, colon?: string, fallback?: string) => {
      if (match === "$$") return "$";
      const set = host[name!];
      if (fallback === undefined) return set ?? "";
      return set === undefined || (colon === ":" && set === "") ? fallback : set;
    },
  );
}

/** The environment a service's process gets, given the host's (or .env's) variables. */
function environmentOf(name: string, host: Record<string, string> = {}): Record<string, string> {
  const raw = services[name].environment ?? {};
  const entries = Array.isArray(raw)
    ? raw.map((line) => [line.slice(0, line.indexOf("=")), line.slice(line.indexOf("=") + 1)])
    : Object.entries(raw).map(([key, value]) => [key, value === null ? "" : String(value)]);
  return Object.fromEntries(entries.map(([key, value]) => [key, interpolate(value, host)]));
}

function commandOf(name: string): string {
  const command = services[name].command;
  return Array.isArray(command) ? command.join(" ") : command ?? "";
}

function mounts(name: string): Map<string, string> {
  return new Map((services[name].volumes ?? []).map((volume) => {
    if (typeof volume !== "string") return [volume.target, volume.source];
    const [source, target] = volume.split(":");
    return [target, source];
  }));
}

const ROLES = ["api", "worker"] as const;

/** What each role cannot work without, with the value compose must give it (undefined: any). */
const REQUIRED: Record<string, string | undefined> = {
  COFFER_DATA_DIR: undefined,
  REDIS_URL: "redis://redis:6379",
  S3_ENDPOINT: "http://localstack:4566",
  S3_BUCKET: "coffer",
  S3_REGION: "us-east-1",
  AWS_ACCESS_KEY_ID: "test",
  AWS_SECRET_ACCESS_KEY: "test",
  COFFER_MASTER_KEYS: undefined,
  COFFER_JWT_SECRET: undefined,
};

Deno.test("docker-compose.yml defines redis, localstack, api and worker", () => {
  assert.deepEqual(Object.keys(services).sort(), ["api", "localstack", "redis", "worker"]);
});

Deno.test("docker-compose.yml runs redis with AOF on and maxmemory-policy noeviction", () => {
  const redis = services.redis;
  assert.match(redis.image ?? "", /^redis:7(\.|$)/);
  assert.match(commandOf("redis"), /--appendonly yes\b/);
  assert.match(commandOf("redis"), /--maxmemory-policy noeviction\b/);
  assert.ok(mounts("redis").has("/data"), "the AOF lives on a volume");
  assert.match(JSON.stringify(redis.healthcheck?.test), /redis-cli ping/);
});

Deno.test("docker-compose.yml runs localstack with S3 only, a ready check and bucket creation", () => {
  const localstack = services.localstack;
  assert.match(localstack.image ?? "", /^localstack\/localstack:\d+\.\d+\.\d+$/, "pinned version");
  assert.equal(environmentOf("localstack").SERVICES, "s3");
  assert.match(JSON.stringify(localstack.healthcheck?.test), /\/_localstack\/health/);
  const hook = [...mounts("localstack")].find(([target]) =>
    target.startsWith("/etc/localstack/init/ready.d/")
  );
  assert.ok(hook, "an init script is mounted into ready.d");
  const script = hook[1].replace(/^\.\//, "");
  assert.match(read(script), /awslocal s3 mb "s3:\/\/\$bucket"/);
  assert.ok((Deno.statSync(new URL(script, ROOT)).mode! & 0o111) !== 0, `${script} is executable`);
  assert.equal(environmentOf("localstack").COFFER_BUCKET, environmentOf("api").S3_BUCKET);
});

Deno.test("docker-compose.yml runs the api and worker roles from one image build", () => {
  assert.match(commandOf("api"), /^deno task api$/);
  assert.match(commandOf("worker"), /^deno task worker$/);
  for (const role of ROLES) {
    assert.ok(services[role].build, `${role} is built from the Dockerfile`);
    assert.equal(services[role].image, services.api.image, "api and worker share one image");
  }
  assert.equal(environmentOf("api").HOST, "0.0.0.0");
  assert.ok(
    (services.api.ports ?? []).some((port) =>
      typeof port === "string" ? /^(\S+:)?8080:8080$/.test(port) : port.target === 8080
    ),
    "port 8080 is published",
  );
  assert.equal(environmentOf("api").PORT ?? "8080", "8080");
});

Deno.test("docker-compose.yml mounts one shared volume at COFFER_DATA_DIR in api and worker", () => {
  const dataDir = environmentOf("api").COFFER_DATA_DIR;
  assert.equal(environmentOf("worker").COFFER_DATA_DIR, dataDir);
  const volume = mounts("api").get(dataDir);
  assert.ok(volume && !volume.startsWith("."), `a named volume is mounted at ${dataDir}`);
  assert.equal(mounts("worker").get(dataDir), volume);
  assert.ok(compose.volumes && volume in compose.volumes, `volume ${volume} is declared`);
});

Deno.test("docker-compose.yml starts api and worker only once redis and localstack are healthy", () => {
  for (const role of ROLES) {
    const dependsOn = services[role].depends_on as Record<string, { condition: string }>;
    assert.equal(dependsOn?.redis?.condition, "service_healthy", role);
    assert.equal(dependsOn?.localstack?.condition, "service_healthy", role);
  }
  const check = JSON.stringify(services.worker.healthcheck?.test);
  assert.match(
    check,
    new RegExp(`127\\.0\\.0\\.1:${environmentOf("worker").COFFER_WORKER_PORT}/healthz`),
  );
});

Deno.test("docker-compose.yml gives both roles every variable they need, named as in config.ts", () => {
  const known = configVariables();
  assert.ok(known.has("COFFER_METRICS_TOKEN") && known.size > 15, "schema keys were found");
  for (const role of ROLES) {
    const env = environmentOf(role);
    for (const name of Object.keys(env)) {
      assert.ok(known.has(name), `${role}: ${name} is not a variable config.ts reads`);
    }
    for (const [name, value] of Object.entries(REQUIRED)) {
      assert.ok(name in env, `${role}: ${name} is missing`);
      if (value !== undefined) assert.equal(env[name], value, `${role}: ${name}`);
    }
  }
  const { HOST: _a, ...api } = environmentOf("api");
  const { HOST: _w, COFFER_WORKER_PORT: _p, ...worker } = environmentOf("worker");
  assert.deepEqual(worker, api, "both roles share Redis, bucket, data dir and keys");
});

Deno.test("docker-compose.yml environment passes loadConfig() with and without host keys", () => {
  for (const role of ROLES) {
    const bare = loadConfig(environmentOf(role));
    assert.equal(bare.masterKeys, undefined, "unset keys fall back to the shared data volume");
    assert.equal(bare.s3?.endpoint, "http://localstack:4566");
    assert.equal(bare.redisUrl, "redis://redis:6379");
    assert.equal(bare.workerConcurrency, 2, "empty tunables fall back to their defaults");

    const key = btoa(String.fromCharCode(...new Uint8Array(32).fill(7)));
    const host = { COFFER_MASTER_KEYS: `k1:${key}`, COFFER_JWT_SECRET: "x".repeat(32) };
    const keyed = loadConfig(environmentOf(role, host));
    assert.equal(keyed.masterKeys?.[0].kid, "k1");
    assert.equal(keyed.jwtSecret?.length, 32);
  }
});

Deno.test("Dockerfile builds on the official Deno image, caches dependencies and runs as deno", () => {
  // One entry per instruction: comments dropped, `\` continuations joined.
  const lines = read("Dockerfile").split("\n").filter((line) => !line.trim().startsWith("#"))
    .join("\n").replace(/\\\n\s*/g, " ").split("\n").map((line) => line.trim()).filter(Boolean);
  const index = (pattern: RegExp) => lines.findIndex((line) => pattern.test(line));
  assert.match(lines[index(/^FROM /)], /^FROM denoland\/deno:2\.\d+\.\d+$/, "pinned Deno 2 image");
  const user = lines.filter((line) => line.startsWith("USER ")).at(-1);
  assert.ok(user && !/^USER (root|0)(:|$)/.test(user), `runs as a non-root user (${user})`);
  const copyManifest = index(/^COPY .*deno\.json deno\.lock/);
  const install = index(/^RUN deno install --frozen$/);
  const copyAll = index(/^COPY (--chown=\S+ )?\. \.$/);
  assert.ok(
    copyManifest >= 0 && install > copyManifest && copyAll > install,
    "install before sources",
  );
  assert.ok(index(/^VOLUME \/data$/) >= 0);
  assert.ok(index(/^HEALTHCHECK .*\/healthz/) >= 0);
  assert.ok(index(/^CMD \["deno", ?"task", ?"start"\]$/) >= 0);
});

Deno.test(".dockerignore keeps local state, dependencies and secrets out of the build context", () => {
  const ignored = new Set(read(".dockerignore").split("\n").map((line) => line.trim()));
  for (const entry of [".git", ".env", "node_modules", "data"]) {
    assert.ok(ignored.has(entry), `${entry} is ignored`);
  }
});
