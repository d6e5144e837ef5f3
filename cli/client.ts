/**
 * The HTTP side of the CLI: requests to one Coffer server with the saved
 * bearer token, and problem+json answers turned into one-line
 * {@linkcode CliError}s that name the action (`Cannot download f1: File is
 * not stored yet`).
 *
 * @module
 */
import { CliError } from "./command.ts";
import { postSized, type SizedBody } from "./sized_upload.ts";

/** An RFC 9457 problem body as the API sends it. */
interface Problem {
  title?: string;
  detail?: string;
  status?: number;
}

async function problemText(response: Response): Promise<string> {
  const text = await response.text().catch(() => "");
  try {
    const problem = JSON.parse(text) as Problem;
    const parts = [problem.title, problem.detail].filter((part) =>
      typeof part === "string" && part !== ""
    );
    if (parts.length > 0) return parts.join(": ");
  } catch {
    // Not JSON (a proxy's error page, say): fall back to the status line.
  }
  return `HTTP ${response.status} ${response.statusText}`.trim();
}

/** A client for one server, optionally signed in. */
export class ApiClient {
  /**
   * @param server The normalized server URL (no trailing slash).
   * @param token The bearer token, if signed in.
   * @param signal Aborts every request (Ctrl-C).
   */
  constructor(
    readonly server: string,
    readonly token: string | undefined,
    private readonly signal: AbortSignal,
  ) {}

  /**
   * Sends a request and returns the response if it is a success.
   *
   * @param path Path and query under the server, e.g. `/api/files`.
   * @param action What the user asked for, for the error message
   *   (`Cannot list files`).
   * @param init Request options (method, body, headers).
   * @returns A 2xx response; the caller consumes its body.
   * @throws {CliError} if the server cannot be reached or answers with an error.
   */
  request(path: string, action: string, init: RequestInit = {}): Promise<Response> {
    const headers = this.headers(init.headers);
    return this.answer(
      action,
      () => fetch(`${this.server}${path}`, { ...init, headers, signal: this.signal }),
    );
  }

  /**
   * POSTs a body of known length (a file) with `Content-Length`, which
   * `fetch` cannot send for a stream (see sized_upload.ts), and parses the
   * JSON answer.
   *
   * @throws {CliError} as {@linkcode request} does.
   */
  async upload<T>(
    path: string,
    action: string,
    body: SizedBody,
    headers: HeadersInit = {},
  ): Promise<T> {
    const response = await this.answer(
      action,
      () => postSized(`${this.server}${path}`, this.headers(headers), body, this.signal),
    );
    return await this.parse<T>(response, action);
  }

  private headers(init: HeadersInit | undefined): Headers {
    const headers = new Headers(init);
    if (this.token) headers.set("Authorization", `Bearer ${this.token}`);
    return headers;
  }

  /** Runs `send` and turns a failure or an error status into a {@linkcode CliError}. */
  private async answer(action: string, send: () => Promise<Response>): Promise<Response> {
    let response: Response;
    try {
      response = await send();
    } catch (error) {
      if (this.signal.aborted) throw error;
      const reason = (error as Error).message.split("\n")[0];
      throw new CliError(`${action}: cannot reach ${this.server} (${reason})`, undefined, {
        cause: error,
      });
    }
    if (response.ok) return response;
    const message = `${action}: ${await problemText(response)}`;
    if (response.status === 401 && this.token) {
      throw new CliError(`${message} (session expired or revoked: run login again)`);
    }
    throw new CliError(message);
  }

  private async parse<T>(response: Response, action: string): Promise<T> {
    try {
      return await response.json() as T;
    } catch (error) {
      throw new CliError(`${action}: the server sent malformed JSON`, undefined, { cause: error });
    }
  }

  /** Sends a request and parses the JSON answer. */
  async json<T>(path: string, action: string, init: RequestInit = {}): Promise<T> {
    return await this.parse<T>(await this.request(path, action, init), action);
  }
}
