/**
 * The catalogue of errors Coffer reports to clients. Code anywhere throws a
 * {@linkcode CofferError} with a stable code; the one error handler in
 * routes/problem.ts turns it into an RFC 9457 problem response. Details are
 * written for the client and must never contain a secret, a key or a path.
 */

/** Every error code, with the HTTP status and title it maps to. */
export const ERROR_CATALOGUE = {
  BAD_REQUEST: { status: 400, title: "Bad request" },
  VALIDATION_FAILED: { status: 400, title: "Invalid request" },
  UNAUTHORIZED: { status: 401, title: "Authentication required" },
  INVALID_CREDENTIALS: { status: 401, title: "Invalid username or password" },
  PASSWORD_REQUIRED: { status: 401, title: "Password required" },
  WRONG_PASSWORD: { status: 401, title: "Wrong password" },
  FORBIDDEN: { status: 403, title: "Forbidden" },
  INVALID_REFRESH_TOKEN: { status: 401, title: "Invalid or expired refresh token" },
  NOT_FOUND: { status: 404, title: "Not found" },
  FILE_NOT_FOUND: { status: 404, title: "File not found" },
  LINK_NOT_FOUND: { status: 404, title: "Link not found" },
  TICKET_NOT_FOUND: { status: 404, title: "Download link unknown or expired" },
  UPLOAD_NOT_FOUND: { status: 404, title: "Upload not found" },
  UPLOAD_EXPIRED: { status: 410, title: "Upload expired" },
  OFFSET_MISMATCH: { status: 409, title: "Upload-Offset does not match the upload" },
  TUS_VERSION_UNSUPPORTED: { status: 412, title: "Unsupported tus version" },
  UPLOAD_LOCKED: { status: 423, title: "Upload is busy with another request" },
  CHECKSUM_MISMATCH: { status: 460, title: "Checksum mismatch" },
  USERNAME_TAKEN: { status: 409, title: "Username already taken" },
  REQUEST_TIMEOUT: { status: 408, title: "Request body timed out" },
  FILE_NOT_READY: { status: 409, title: "File is not stored yet" },
  FILE_LIMIT_REACHED: { status: 409, title: "File limit reached" },
  LINK_BUSY: { status: 409, title: "Link in use" },
  LINK_GONE: { status: 410, title: "Link no longer available" },
  LENGTH_REQUIRED: { status: 411, title: "Content-Length required" },
  PAYLOAD_TOO_LARGE: { status: 413, title: "File too large" },
  BODY_TOO_LARGE: { status: 413, title: "Request body too large" },
  QUOTA_EXCEEDED: { status: 413, title: "Storage quota exceeded" },
  UNSUPPORTED_MEDIA_TYPE: { status: 415, title: "Unsupported media type" },
  RANGE_NOT_SATISFIABLE: { status: 416, title: "Range not satisfiable" },
  HEADER_TOO_LARGE: { status: 431, title: "Request header too large" },
  RATE_LIMITED: { status: 429, title: "Too many requests" },
  TOO_MANY_UPLOADS: { status: 429, title: "Too many uploads at once" },
  INTERNAL: { status: 500, title: "Internal server error" },
  KEY_UNAVAILABLE: { status: 500, title: "The file's master key is not configured" },
  INTEGRITY_FAILURE: { status: 502, title: "Stored file failed its integrity check" },
  SERVICE_UNAVAILABLE: { status: 503, title: "Service unavailable" },
} as const satisfies Record<string, { status: number; title: string }>;

/** A stable, documented error code. */
export type ErrorCode = keyof typeof ERROR_CATALOGUE;

/**
 * An error with a stable code that maps to an HTTP status and problem type.
 *
 * @example
 * ```ts
 * throw new CofferError("FILE_NOT_FOUND");
 * throw new CofferError("RATE_LIMITED", "Try again later", { headers: { "Retry-After": "30" } });
 * ```
 */
export class CofferError extends Error {
  readonly status: number;
  readonly title: string;
  readonly headers: Record<string, string>;

  constructor(
    readonly code: ErrorCode,
    readonly detail?: string,
    options: { headers?: Record<string, string>; cause?: unknown } = {},
  ) {
    const entry = ERROR_CATALOGUE[code];
    super(detail ? `${entry.title}: ${detail}` : entry.title, { cause: options.cause });
    this.name = "CofferError";
    this.status = entry.status;
    this.title = entry.title;
    this.headers = options.headers ?? {};
  }
}
