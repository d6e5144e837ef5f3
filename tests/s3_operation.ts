/**
 * Names the S3 operation of a path-style request seen by the fault proxy
 * (tests/fault_proxy.ts), so fault rules can say "the second UploadPart" or
 * "every ranged GetObject" instead of matching raw methods and queries.
 */
import type { ProxiedRequest } from "./fault_proxy.ts";

/** The S3 operations Coffer sends. */
export type S3Operation =
  | "HeadBucket"
  | "CreateBucket"
  | "ListObjectsV2"
  | "ListMultipartUploads"
  | "HeadObject"
  | "GetObject"
  | "PutObject"
  | "DeleteObject"
  | "CreateMultipartUpload"
  | "UploadPart"
  | "CompleteMultipartUpload"
  | "AbortMultipartUpload"
  | "Other";

/**
 * The operation of a path-style S3 request (`/bucket` or `/bucket/key`).
 *
 * @example
 * ```ts
 * proxy.add({ match: (r) => s3Operation(r) === "UploadPart", fault: { kind: "hang" } });
 * ```
 */
export function s3Operation(
  request: Pick<ProxiedRequest, "method" | "path" | "query">,
): S3Operation {
  const { method, query } = request;
  const onObject = request.path.split("/").filter((segment) => segment !== "").length > 1;
  if (!onObject) {
    if (method === "HEAD") return "HeadBucket";
    if (method === "PUT") return "CreateBucket";
    if (method === "GET" && query.has("uploads")) return "ListMultipartUploads";
    if (method === "GET") return "ListObjectsV2";
    return "Other";
  }
  if (method === "HEAD") return "HeadObject";
  if (method === "GET") return "GetObject";
  if (method === "PUT") return query.has("uploadId") ? "UploadPart" : "PutObject";
  if (method === "POST" && query.has("uploads")) return "CreateMultipartUpload";
  if (method === "POST" && query.has("uploadId")) return "CompleteMultipartUpload";
  if (method === "DELETE") return query.has("uploadId") ? "AbortMultipartUpload" : "DeleteObject";
  return "Other";
}

/** A matcher for one operation, optionally narrowed further. */
export function isOperation(
  operation: S3Operation,
  also: (request: ProxiedRequest) => boolean = () => true,
): (request: ProxiedRequest) => boolean {
  return (request) => s3Operation(request) === operation && also(request);
}
