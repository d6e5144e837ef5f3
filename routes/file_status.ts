/**
 * Upload progress: `GET /api/files/:id/status` for polling and
 * `GET /api/files/:id/events` as Server-Sent Events. Progress comes from the
 * BullMQ job (bytes the worker has encrypted), status from the record. The
 * event stream starts with the current state, sends one event per change,
 * and ends after `stored` or `failed` — or when the token that opened it
 * stops being acceptable: at its `exp` (a timer), or once it is revoked
 * or its session is (checked on each recheck, so logout ends it within `RECHECK_MS` on any API
 * process). A client that still may follow the file reopens or polls with a
 * current token.
 */
import { createRoute, z } from "@hono/zod-openapi";
import { streamSSE } from "hono/streaming";
import { Revocations } from "../auth/revocations.ts";
import { RefreshStore } from "../storage/refresh_store.ts";
import type { Services } from "../services.ts";
import type { FileRecord } from "../storage/file_store.ts";
import type { UploadProgress } from "../workers/queue.ts";
import type { AuthUser } from "./env.ts";
import { ownedFile } from "./owned_file.ts";
import { bearerSecurity, createRouter, problem } from "./openapi.ts";
import { FileIdParam, FileStatusSchema } from "./schemas.ts";

/** What status and events report. */
export interface FileStatusView {
  status: FileRecord["status"];
  progress: { bytes_done: number; bytes_total: number; percent: number };
  /** Set from the second attempt on (a retry after a failure or a worker crash). */
  attempt?: number;
  error?: string;
}

/**
 * Re-read the state this often even without an event. A recheck that finds
 * nothing new sends an SSE comment, so proxies and load balancers (which
 * often cut a connection idle for 60 s) keep a long wait in the queue open.
 */
const RECHECK_MS = 5_000;

/**
 * Whether the token behind a stream is still acceptable. Expiry is the clock;
 * revocation is a Redis read, done at most once per {@linkcode RECHECK_MS}
 * however many progress events arrive.
 */
function tokenWatch(revocations: Revocations, sessions: RefreshStore, user: AuthUser) {
  const expiresAt = user.exp * 1000;
  let checkedAt = Date.now(); // the middleware has just checked it
  return {
    /** Milliseconds until `exp` (0 once passed). */
    msLeft: () => Math.max(0, expiresAt - Date.now()),
    /** True once the token has expired or been revoked. */
    async ended(): Promise<boolean> {
      const now = Date.now();
      if (now >= expiresAt) return true;
      if (now - checkedAt < RECHECK_MS) return false;
      checkedAt = now;
      const [revoked, sessionRevoked] = await Promise.all([
        revocations.isRevoked(user.jti),
        user.sid === undefined ? false : sessions.isRevoked(user.sid),
      ]);
      return revoked || sessionRevoked;
    },
  };
}

async function statusOf(services: Services, record: FileRecord): Promise<FileStatusView> {
  let done = record.status === "stored" ? record.size : 0;
  // Only a running attempt has progress: a `queued` file (first or next
  // attempt) has none, so a retry starts from 0 openly, not while `encrypting`.
  if (record.status === "encrypting") {
    const job = await services.queue.getJob(record.id);
    const progress = job?.progress as UploadProgress | undefined;
    if (typeof progress?.bytes_done === "number") done = Math.min(progress.bytes_done, record.size);
  }
  const pending = record.status === "queued" || record.status === "encrypting";
  const percent = record.size === 0
    ? (record.status === "stored" ? 100 : 0)
    : Math.floor((done / record.size) * 1000) / 10;
  return {
    status: record.status,
    progress: { bytes_done: done, bytes_total: record.size, percent },
    ...(pending && (record.attempt ?? 1) > 1 ? { attempt: record.attempt } : {}),
    ...(record.error && record.status === "failed" ? { error: record.error } : {}),
  };
}

const statusRoute = createRoute({
  method: "get",
  path: "/api/files/{id}/status",
  summary: "Status and encryption progress of an upload",
  security: bearerSecurity,
  request: { params: FileIdParam },
  responses: {
    200: {
      description: "Current status",
      content: { "application/json": { schema: FileStatusSchema } },
    },
    404: problem("No such file of yours"),
  },
});

const eventsRoute = createRoute({
  method: "get",
  path: "/api/files/{id}/events",
  summary:
    "Server-Sent Events: status and progress until stored or failed (?access_token= accepted)",
  security: bearerSecurity,
  request: { params: FileIdParam },
  responses: {
    200: {
      description: "An event stream of FileStatus objects",
      content: { "text/event-stream": { schema: z.string() } },
    },
    404: problem("No such file of yours"),
  },
});

/** The status route group (mounted behind the auth middleware). */
export function fileStatusRoutes(services: Services) {
  const { files } = services;
  const revocations = new Revocations(services.redis);
  const sessions = new RefreshStore(services.redis, services.config);
  const router = createRouter();
  router.openapi(statusRoute, async (c) => {
    const record = await ownedFile(files, c.get("user").id, c.req.valid("param").id);
    c.header("Cache-Control", "no-store");
    return c.json(await statusOf(services, record), 200);
  });
  router.openapi(eventsRoute, async (c) => {
    const owner = c.get("user").id;
    const first = await ownedFile(files, owner, c.req.valid("param").id);
    const token = tokenWatch(revocations, sessions, c.get("user"));
    c.header("Cache-Control", "no-store");
    c.header("X-Accel-Buffering", "no"); // nginx: pass events on as they come
    return streamSSE(c, async (stream) => {
      let changed = false;
      let wake: () => void = () => {};
      const unsubscribe = services.progress.subscribe(first.id, () => {
        changed = true;
        wake();
      });
      stream.onAbort(() => wake());
      try {
        let last = "";
        while (!stream.aborted) {
          changed = false;
          const record = await files.get(first.id);
          const view: FileStatusView = record ? await statusOf(services, record) : {
            status: "failed",
            progress: { bytes_done: 0, bytes_total: first.size, percent: 0 },
            error: "File deleted",
          };
          const data = JSON.stringify(view);
          if (data !== last) await stream.writeSSE({ event: "status", data });
          else await stream.write(": keep-alive\n\n");
          last = data;
          if (view.status === "stored" || view.status === "failed") break;
          if (!changed) {
            await new Promise<void>((resolve) => {
              const timer = setTimeout(resolve, Math.min(RECHECK_MS, token.msLeft()));
              wake = () => {
                clearTimeout(timer);
                resolve();
              };
            });
          }
          if (await token.ended()) break;
        }
      } finally {
        unsubscribe();
      }
    }) as never;
  });
  return router;
}
