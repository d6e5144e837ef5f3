/**
 * Prometheus metrics (prom-client) for one process, in a registry of its own
 * so tests can run several servers side by side. Routes and workers count
 * through the named fields; `/metrics` renders the registry.
 *
 * Every label value comes from a fixed set: each distinct value is a series
 * kept for the life of the process, so a label a client controls (a method
 * name, a path) would let anyone grow memory and the scrape without bound.
 * HTTP methods outside {@linkcode HTTP_METHODS} count as `OTHER`; requests
 * that match no route count under {@linkcode UNMATCHED_ROUTE}.
 */
import { Counter, Gauge, Histogram, Registry } from "prom-client";

/** The methods counted under their own name; any other counts as `OTHER`. */
export const HTTP_METHODS: ReadonlySet<string> = new Set([
  "GET",
  "HEAD",
  "POST",
  "PUT",
  "PATCH",
  "DELETE",
  "OPTIONS",
]);

/** The `route` label of a request that matched no route (one label for every such path). */
export const UNMATCHED_ROUTE = "unmatched";

/**
 * The `method` label for a request method: one of {@linkcode HTTP_METHODS},
 * else `OTHER`.
 *
 * @example
 * ```ts
 * methodLabel("GET"); // "GET"
 * methodLabel("PROPFIND"); // "OTHER"
 * ```
 */
export function methodLabel(method: string): string {
  return HTTP_METHODS.has(method) ? method : "OTHER";
}

/** Every series Coffer exports. */
export class Metrics {
  readonly registry = new Registry();
  readonly httpRequests = new Counter({
    name: "coffer_http_requests_total",
    help: "HTTP requests by route, method and status",
    labelNames: ["route", "method", "status"] as const,
    registers: [this.registry],
  });
  readonly httpDuration = new Histogram({
    name: "coffer_http_request_duration_seconds",
    help: "HTTP request latency by route and method",
    labelNames: ["route", "method"] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [this.registry],
  });
  readonly uploadsAccepted = new Counter({
    name: "coffer_uploads_accepted_total",
    help: "Uploads staged and queued",
    registers: [this.registry],
  });
  readonly uploadsStored = new Counter({
    name: "coffer_uploads_stored_total",
    help: "Uploads encrypted and stored",
    registers: [this.registry],
  });
  readonly uploadsFailed = new Counter({
    name: "coffer_uploads_failed_total",
    help: "Uploads that failed after their last attempt",
    registers: [this.registry],
  });
  readonly bytesEncrypted = new Counter({
    name: "coffer_bytes_encrypted_total",
    help: "Plaintext bytes encrypted into the object store",
    registers: [this.registry],
  });
  readonly bytesDecrypted = new Counter({
    name: "coffer_bytes_decrypted_total",
    help: "Plaintext bytes decrypted for downloads",
    registers: [this.registry],
  });
  readonly integrityFailures = new Counter({
    name: "coffer_integrity_failures_total",
    help: "Downloads that failed authentication",
    registers: [this.registry],
  });
  readonly sharesCreated = new Counter({
    name: "coffer_shares_created_total",
    help: "Share links created",
    registers: [this.registry],
  });
  readonly shareDownloads = new Counter({
    name: "coffer_share_downloads_total",
    help: "Downloads through share links, by outcome (completed, partial, range)",
    labelNames: ["outcome"] as const,
    registers: [this.registry],
  });
  readonly sharePasswordFailures = new Counter({
    name: "coffer_share_password_failures_total",
    help: "Wrong passwords given to share links and file requests",
    registers: [this.registry],
  });
  readonly requestUploads = new Counter({
    name: "coffer_request_uploads_total",
    help: "Files received through file requests",
    registers: [this.registry],
  });
  readonly uploadRetries = new Counter({
    name: "coffer_upload_retries_total",
    help: "Upload job attempts that failed and were scheduled again",
    registers: [this.registry],
  });
  readonly objectStoreRetries = new Counter({
    name: "coffer_object_store_retries_total",
    help: "Object store requests sent again after a timeout, reset or server error, by operation",
    labelNames: ["operation"] as const,
    registers: [this.registry],
  });
  readonly jobDuration = new Histogram({
    name: "coffer_job_duration_seconds",
    help: "Time from job start to stored, per attempt",
    buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300],
    registers: [this.registry],
  });
  readonly queueJobs = new Gauge({
    name: "coffer_queue_jobs",
    help: "Upload jobs by state",
    labelNames: ["state"] as const,
    registers: [this.registry],
  });
  readonly stagingBytes = new Gauge({
    name: "coffer_staging_bytes",
    help: "Bytes in the staging area",
    registers: [this.registry],
  });

  /**
   * Records one finished HTTP request.
   *
   * @param route A route pattern from the code (`/api/files/:id`) or
   *   {@linkcode UNMATCHED_ROUTE}, never a raw path.
   * @param method The request method as received; unknown ones count as `OTHER`.
   */
  observeRequest(route: string, method: string, status: number, ms: number): void {
    const labels = { route, method: methodLabel(method) };
    this.httpRequests.inc({ ...labels, status: String(status) });
    this.httpDuration.observe(labels, ms / 1000);
  }
}
