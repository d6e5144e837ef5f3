/**
 * The Hono environment shared by every route: what middleware puts on the
 * request context for the handlers after it.
 */

/** The signed-in caller, set by the auth middleware. */
export interface AuthUser {
  id: string;
  username: string;
  /** The token's id, for logout. */
  jti: string;
  /** The token's expiry, seconds since the epoch. */
  exp: number;
  /** The token's session (refresh-token family), if it has one. */
  sid?: string;
}

/** Variables on the request context. */
export interface AppEnv {
  Variables: {
    requestId: string;
    user: AuthUser;
    /** Set by the `notFound` handler: no route matched, so no pattern names the request. */
    unmatched?: boolean;
  };
}
