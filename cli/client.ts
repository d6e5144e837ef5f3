/**
 * The HTTP side of the CLI: requests to one Coffer server with the saved
 * session's bearer token (renewed when it runs out, and once more after a
 * 401 for requests that can be sent again; see session_tokens.ts), and
 * problem+json answers turned into one-line
 * {@linkcode CliError}s that name the action (`Cannot download f1: File is
 * not stored yet`).
 *
 * @module
 */
import { CliError } from "./command.ts";
import type { SessionTokens } from "./session_tokens.ts";
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

/** The server answered with an error status (the message says what failed and why). */
export class HttpError extends CliError {
  /**
   * @param message What failed and why.
   * @param status The HTTP status.
   */
  constructor(message: string, readonly status: number) {
    super(message);
    this.name = "HttpError";
  }
}

/** A client for one server, optionally signed in. */
export class ApiClient {
  /**
   * @param server The normalized server URL (no trailing slash).
   * @param tokens The signed-in session, if any.
   * @param signal Aborts every request (Ctrl-C).
   */
  constructor(
    readonly server: string,
    private readonly tokens: SessionTokens | undefined,
    private readonly signal: AbortSignal,
  ) {}

  /**
   * The current access token, renewed first when it is about to expire
   * (for requests the client does not send itself, e.g. tus PATCHes).
   *
   * @returns The token, or undefined when not signed in.
   */
  currentToken(): Promise<string | undefined> {
    return this.tokens?.current() ?? Promise.resolve(undefined);
  }

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
  async request(path: string, action: string, init: RequestInit = {}): Promise<Response> {
    if (init.body instanceof ReadableStream) {
      throw new TypeError("Cannot send a stream with request(): use upload()");
    }
    const send = (token: string | undefined) =>
      this.send(action, () =>
        fetch(`${this.server}${path}`, {
          ...init,
          headers: this.headers(init.headers, token),
          signal: this.signal,
        }));
    const token = await this.tokens?.current();
    let response = await send(token);
    if (response.status === 401 && this.tokens && token) {
      // Revoked or expired early (another clock): renew once and send again.
      await response.body?.cancel();
      response = await send(await this.tokens.renew(token));
    }
    return await this.check(action, response, token !== undefined);
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
    // The token is checked when the upload starts: however long the body
    // takes, its expiry meanwhile does not matter (a body cannot be resent).
    const token = await this.tokens?.current();
    const response = await this.send(
      action,
      () => postSized(`${this.server}${path}`, this.headers(headers, token), body, this.signal),
    );
    return await this.parse<T>(await this.check(action, response, token !== undefined), action);
  }

  private headers(init: HeadersInit | undefined, token: string | undefined): Headers {
    const headers = new Headers(init);
    if (token) headers.set("Authorization", `Bearer ${token}`);
    return headers;
  }

  /** Runs `send`, turning a network failure into a {@linkcode CliError}. */
  private async send(action: string, send: () => Promise<Response>): Promise<Response> {
    try {
      return await send();
    } catch (error) {
      if (this.signal.aborted) throw error;
      const reason = (error as Error).message.split("\n")[0];
      throw new CliError(`${action}: cannot reach ${this.server} (${reason})`, undefined, {
        cause: error,
      });
    }
  }

  /** Passes a success through; turns an error status into a {@linkcode CliError}. */
  private async check(action: string, response: Response, signedIn: boolean): Promise<Response> {
    if (response.ok) return response;
    const message = `${action}: ${await problemText(response)}`;
    if (response.status === 401 && signedIn) {
      throw new HttpError(
        `${message} (session expired or revoked: run 'coffer login' again)`,
        response.status,
      );
    }
    throw new HttpError(message, response.status);
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
