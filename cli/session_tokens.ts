/**
 * The CLI keeps its own session alive: before a request it renews an access
 * token that has expired or is about to (`POST /api/auth/refresh` with the
 * saved refresh token), and after a 401 it renews once and lets the caller
 * retry. So a long upload, a long wait for encryption or a command run days
 * after `login` works until the refresh token itself expires (14 days unused
 * by default) or the session is revoked.
 *
 * Refresh tokens are spent on use and a spent one presented again revokes the
 * whole session, so two `coffer` processes must never refresh with the same
 * token: renewal holds an exclusive lock on `credentials.json.lock`, and
 * after taking it re-reads the file — if another process has renewed in the
 * meantime, its token is used instead.
 *
 * @module
 */
import { CliError } from "./command.ts";
import type { CredentialStore, Session } from "./settings.ts";

/** Renew an access token this close to its expiry (the server allows 30 s of skew too). */
export const RENEW_MARGIN_MS = 10_000;

interface TokenAnswer {
  access_token: string;
  expires_in: number;
  refresh_token?: string;
  refresh_expires_in?: number;
}

/**
 * Builds the session to save from a token answer.
 *
 * @param username The signed-in user.
 * @param answer `POST /api/auth/token` or `/api/auth/refresh`.
 * @param now The current time.
 */
export function sessionFrom(username: string, answer: TokenAnswer, now = Date.now()): Session {
  const session: Session = {
    username,
    access_token: answer.access_token,
    expires_at: new Date(now + answer.expires_in * 1000).toISOString(),
  };
  if (answer.refresh_token && answer.refresh_expires_in) {
    session.refresh_token = answer.refresh_token;
    session.refresh_expires_at = new Date(now + answer.refresh_expires_in * 1000).toISOString();
  }
  return session;
}

function expiresSoon(session: Session): boolean {
  return Date.parse(session.expires_at) - RENEW_MARGIN_MS <= Date.now();
}

/** The access tokens of one saved session, renewed as needed. */
export class SessionTokens {
  #session: Session;

  /**
   * @param server The normalized server URL.
   * @param store Where the session is saved.
   * @param session The session as read from the store.
   * @param signal Aborts a renewal (Ctrl-C).
   */
  constructor(
    readonly server: string,
    private readonly store: CredentialStore,
    session: Session,
    private readonly signal: AbortSignal,
  ) {
    this.#session = session;
  }

  /** The signed-in username. */
  get username(): string {
    return this.#session.username;
  }

  /**
   * An access token that is good for at least {@linkcode RENEW_MARGIN_MS}.
   *
   * @throws {CliError} if it expired and cannot be renewed.
   */
  async current(): Promise<string> {
    if (expiresSoon(this.#session)) await this.renew(this.#session.access_token);
    return this.#session.access_token;
  }

  /**
   * Renews the access token (after a 401 for `rejected`, or before expiry).
   *
   * @param rejected The token found wanting; if another process has already
   *   replaced it, that replacement is used without a refresh.
   * @returns The new access token.
   * @throws {CliError} if the session cannot be renewed (no refresh token, or
   *   the server refuses it: expired or revoked).
   */
  async renew(rejected: string): Promise<string> {
    using _lock = await this.store.lock();
    const saved = await this.store.get(this.server);
    if (saved && saved.access_token !== rejected && !expiresSoon(saved)) {
      this.#session = saved; // another coffer process renewed it meanwhile
      return saved.access_token;
    }
    const session = saved ?? this.#session;
    const refreshToken = session.refresh_token;
    if (!refreshToken || Date.parse(session.refresh_expires_at ?? "") <= Date.now()) {
      throw this.#expired();
    }
    let response: Response;
    try {
      response = await fetch(`${this.server}/api/auth/refresh`, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ refresh_token: refreshToken }),
        signal: this.signal,
      });
    } catch (error) {
      if (this.signal.aborted) throw error;
      throw new CliError(
        `Cannot renew the session: cannot reach ${this.server} (${(error as Error).message})`,
      );
    }
    if (response.status === 401) {
      await response.body?.cancel();
      throw this.#expired();
    }
    if (!response.ok) {
      await response.body?.cancel();
      throw new CliError(`Cannot renew the session with ${this.server}: HTTP ${response.status}`);
    }
    this.#session = sessionFrom(session.username, await response.json());
    await this.store.set(this.server, this.#session);
    return this.#session.access_token;
  }

  #expired(): CliError {
    return new CliError(
      `Your session with ${this.server} has ended (expired or signed out): ` +
        `run 'coffer login ${this.#session.username}'`,
    );
  }
}
