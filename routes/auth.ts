/**
 * Accounts and tokens: `POST /api/auth/register`, `POST /api/auth/token`,
 * `POST /api/auth/logout`, `GET /api/me`, and the original design's
 * `POST /generate_token` (the original answer — an access token only, no
 * refresh token; also takes a form-encoded body or HTTP Basic credentials).
 *
 * Logins are counted before the password is checked, so even concurrent
 * guessing cannot exceed the limits; a successful login gives its attempt
 * back. Only the client's own failures refuse it (429): those per
 * (username, address) and per address. Failures for a username from
 * anywhere only slow its answers by a bounded delay, applied before the
 * password is checked so that a guesser cannot tell a right password by an
 * early answer; a correct password from an address that has not failed is
 * never refused. An unknown username costs one argon2id hash like a wrong
 * password, and both answer the same 401 body.
 *
 * A sign-in starts a refresh-token family (routes/refresh.ts); with
 * `refresh_cookie: true` (the page) its token is set as an HttpOnly cookie
 * instead of being returned. Logout revokes the access token and its family.
 */
import { createRoute, z } from "@hono/zod-openapi";
import type { Context } from "hono";
import { bodyLimit } from "hono/body-limit";
import { clientAddress, type ClientAddressFn } from "../auth/client_address.ts";
import { requireAuth, unauthorized } from "../auth/middleware.ts";
import {
  checkPassword,
  hashPassword,
  PASSWORD_MAX_CHARS,
  PASSWORD_MIN_CHARS,
  passwordLength,
  verifyDummy,
  verifyPassword,
} from "../auth/passwords.ts";
import {
  checkSlowdownRule,
  DEFAULT_RATE_LIMITS,
  RateLimiter,
  type RateLimitSettings,
  slowdownMs,
} from "../auth/rate_limit.ts";
import { clearRefreshCookie, refreshCookieOf } from "../auth/refresh_cookie.ts";
import { Revocations } from "../auth/revocations.ts";
import { issueToken } from "../auth/tokens.ts";
import { normalizeUsername, USERNAME_INPUT_PATTERN } from "../auth/usernames.ts";
import { CofferError } from "../errors.ts";
import type { Services } from "../services.ts";
import type { AppEnv } from "./env.ts";
import { bearerSecurity, createRouter, problem } from "./openapi.ts";
import { refreshStoreOf, tokenPair, TokenSchema } from "./refresh.ts";

/** Largest request body the auth routes read (a 1024-character password fits escaped). */
export const MAX_AUTH_BODY_BYTES = 16 * 1024;

/** Options for {@linkcode authRoutes}; tests shorten the rate-limit windows. */
export interface AuthRoutesOptions {
  /** Overrides of {@linkcode DEFAULT_RATE_LIMITS}. */
  rateLimits?: Partial<RateLimitSettings>;
  /** How to find the client address (default: the TCP peer; never X-Forwarded-For). */
  clientAddress?: ClientAddressFn;
}

const passwordRule = (password: string, ctx: z.RefinementCtx) => {
  const reason = checkPassword(password);
  if (reason) ctx.addIssue({ code: "custom", message: `Password ${reason}` });
};

const RegisterSchema = z.object({
  username: z.string().regex(USERNAME_INPUT_PATTERN, "Username must be 3–64 of a-z 0-9 _ . -")
    .openapi({ example: "alice" }),
  password: z.string().superRefine(passwordRule)
    .openapi({ minLength: PASSWORD_MIN_CHARS, maxLength: PASSWORD_MAX_CHARS }),
}).openapi("Registration");

// Login does not apply the minimum: a short password simply fails like any wrong one.
const CredentialsSchema = z.object({
  username: z.string().min(1).max(256).openapi({ example: "alice" }),
  password: z.string().min(1).max(PASSWORD_MAX_CHARS * 2).refine(
    (password) => passwordLength(password) <= PASSWORD_MAX_CHARS && password.isWellFormed(),
    `Password must be valid text of at most ${PASSWORD_MAX_CHARS} characters`,
  ).openapi({ maxLength: PASSWORD_MAX_CHARS }),
}).openapi("Credentials");
type Credentials = z.infer<typeof CredentialsSchema>;

const SignInSchema = CredentialsSchema.extend({
  refresh_cookie: z.boolean().optional().openapi({
    description: "Set the refresh token as an HttpOnly cookie instead of returning it (the page)",
  }),
}).openapi("SignIn");

const UserSchema = z.object({ id: z.string(), username: z.string() }).openapi("User");
const MeSchema = z.object({
  id: z.string(),
  username: z.string(),
  used_bytes: z.number().int(),
  quota_bytes: z.number().int(),
}).openapi("Me");

const limitBody = bodyLimit({
  maxSize: MAX_AUTH_BODY_BYTES,
  onError: () => {
    throw new CofferError(
      "BODY_TOO_LARGE",
      `Request bodies here are limited to ${MAX_AUTH_BODY_BYTES} bytes`,
    );
  },
});

const tokenResponses = {
  200: {
    description: "A new access token and refresh token",
    content: { "application/json": { schema: TokenSchema } },
  },
  400: problem("Malformed request, or a password over 1024 characters"),
  401: problem("Unknown username or wrong password (the same answer for both)"),
  413: problem("Request body too large"),
  429: problem("Too many failed logins; see Retry-After"),
};

const registerRoute = createRoute({
  method: "post",
  path: "/api/auth/register",
  summary: "Create an account",
  middleware: [limitBody] as const,
  request: {
    body: { required: true, content: { "application/json": { schema: RegisterSchema } } },
  },
  responses: {
    201: { description: "Created", content: { "application/json": { schema: UserSchema } } },
    400: problem("Invalid username or password"),
    409: problem("Username already taken"),
    413: problem("Request body too large"),
    429: problem("Too many registrations from this address; see Retry-After"),
  },
});

const tokenRoute = createRoute({
  method: "post",
  path: "/api/auth/token",
  summary: "Sign in: exchange username and password for an access token",
  middleware: [limitBody] as const,
  request: {
    body: { required: true, content: { "application/json": { schema: SignInSchema } } },
  },
  responses: tokenResponses,
});

const AccessTokenSchema = TokenSchema.pick({
  access_token: true,
  token_type: true,
  expires_in: true,
}).openapi("AccessToken");

const compatTokenRoute = createRoute({
  method: "post",
  path: "/generate_token",
  summary: "Sign in (original design): JSON, form body or HTTP Basic credentials",
  middleware: [limitBody] as const,
  request: {
    body: {
      required: false,
      content: {
        "application/json": { schema: CredentialsSchema },
        "application/x-www-form-urlencoded": { schema: CredentialsSchema },
      },
    },
  },
  responses: {
    ...tokenResponses,
    200: {
      description: "A new access token (no refresh token: the original design's answer)",
      content: { "application/json": { schema: AccessTokenSchema } },
    },
  },
});

const unauthorizedResponse = problem("Missing, invalid, expired or revoked token");

const logoutRoute = createRoute({
  method: "post",
  path: "/api/auth/logout",
  summary: "Revoke the token used for this request and every token of its sign-in",
  security: bearerSecurity,
  responses: { 204: { description: "Revoked" }, 401: unauthorizedResponse },
});

const meRoute = createRoute({
  method: "get",
  path: "/api/me",
  summary: "The signed-in user and their storage use",
  security: bearerSecurity,
  responses: {
    200: { description: "The user", content: { "application/json": { schema: MeSchema } } },
    401: unauthorizedResponse,
  },
});

/** Credentials from `Authorization: Basic`, if the request carries them. */
function basicCredentials(c: Context): Partial<Credentials> | undefined {
  const match = /^Basic +([A-Za-z0-9+/=]+) *$/i.exec(c.req.header("Authorization") ?? "");
  if (!match) return undefined;
  let decoded: string;
  try {
    decoded = new TextDecoder("utf-8", { fatal: true }).decode(
      Uint8Array.from(atob(match[1]), (ch) => ch.charCodeAt(0)),
    );
  } catch {
    return undefined;
  }
  const colon = decoded.indexOf(":");
  if (colon < 0) return undefined;
  return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

/**
 * Creates the auth route group. Registers the `bearerAuth` security scheme
 * that protected routes refer to.
 *
 * @param services The running services.
 * @param options Rate limits and client address lookup (see {@linkcode AuthRoutesOptions}).
 * @returns The sub-app; mount it with `app.route("/", authRoutes(services))`.
 * @throws {RangeError} if a rate-limit override is not two positive integers.
 */
export function authRoutes(services: Services, options: AuthRoutesOptions = {}) {
  const { config, log } = services;
  const users = services.users;
  const revocations = new Revocations(services.redis);
  const refresh = refreshStoreOf(services);
  const limits = { ...DEFAULT_RATE_LIMITS, ...options.rateLimits };
  const loginsPerUserAndAddress = new RateLimiter(
    services.redis,
    "login-pair",
    limits.loginFailuresPerUsernameAndAddress,
  );
  const loginsPerUser = new RateLimiter(
    services.redis,
    "login-user",
    limits.loginFailuresPerUsername,
  );
  const slowdown = checkSlowdownRule(limits.loginSlowdown);
  const loginsPerAddress = new RateLimiter(
    services.redis,
    "login-addr",
    limits.loginFailuresPerAddress,
  );
  const registrations = new RateLimiter(
    services.redis,
    "register-addr",
    limits.registrationsPerAddress,
  );
  const addressOf = options.clientAddress ?? clientAddress;
  const authenticated = requireAuth(services);

  /** Waits out the username-wide slowdown, if the username has failed often enough. */
  async function slowDown(c: Context<AppEnv>, subject: string): Promise<void> {
    const delay = slowdownMs(
      await loginsPerUser.count(subject),
      limits.loginFailuresPerUsername,
      slowdown,
    );
    if (delay === 0) return;
    log.info("auth.login_slowed", { delay_ms: delay, request_id: c.get("requestId") });
    await new Promise((resolve) => setTimeout(resolve, delay));
  }

  /** Checks the credentials within the rate limits; returns the user id. */
  async function authenticate(c: Context<AppEnv>, credentials: Credentials): Promise<string> {
    const address = addressOf(c);
    const subject = credentials.username.toLowerCase();
    // The address cannot contain "|", so the pair is unambiguous.
    const pair = `${address}|${subject}`;
    await loginsPerAddress.consume(address);
    await loginsPerUserAndAddress.consume(pair);
    await slowDown(c, subject);
    const username = normalizeUsername(credentials.username);
    const user = username === undefined ? undefined : await users.findByUsername(username);
    const valid = user
      ? await verifyPassword(credentials.password, user.password_hash)
      : await verifyDummy(credentials.password);
    if (!user || !valid) {
      log.info("auth.login_failed", { user_id: user?.id ?? null, request_id: c.get("requestId") });
      throw new CofferError("INVALID_CREDENTIALS");
    }
    // The username-wide count is only given this attempt back: another
    // address's failures are still evidence of guessing.
    await Promise.all([
      loginsPerUserAndAddress.reset(pair),
      loginsPerAddress.refund(address),
      loginsPerUser.refund(subject),
    ]);
    return user.id;
  }

  /** Signs in: a new session (refresh-token family) and its first token pair. */
  async function login(c: Context<AppEnv>, credentials: Credentials, inCookie: boolean) {
    const userId = await authenticate(c, credentials);
    const session = await refresh.start(userId);
    log.info("auth.token_issued", { user_id: userId, sid: session.family });
    return await tokenPair(c, services, userId, session, inCookie);
  }

  /** The original design's sign-in: an access token alone. */
  async function compatLogin(c: Context<AppEnv>, credentials: Credentials) {
    const userId = await authenticate(c, credentials);
    const issued = await issueToken(services.secrets.jwtSecret, userId, config.tokenTtlSeconds);
    log.info("auth.token_issued", { user_id: userId, jti: issued.jti });
    c.header("Cache-Control", "no-store");
    const body = { access_token: issued.token, token_type: "Bearer" as const };
    return { ...body, expires_in: config.tokenTtlSeconds };
  }

  const router = createRouter();
  router.openAPIRegistry.registerComponent("securitySchemes", "bearerAuth", {
    type: "http",
    scheme: "bearer",
    bearerFormat: "JWT",
    description:
      "Also accepted: the `x-access-tokens` header, and `?access_token=` on GET /api/files/{id}/events only",
  });

  router.openapi(registerRoute, async (c) => {
    const body = c.req.valid("json");
    await registrations.consume(addressOf(c));
    const username = body.username.toLowerCase();
    if (await users.findByUsername(username)) throw new CofferError("USERNAME_TAKEN");
    const user = await users.create({
      username,
      password_hash: await hashPassword(body.password),
      quota_bytes: config.quotaBytes,
    });
    log.info("auth.registered", { user_id: user.id, request_id: c.get("requestId") });
    return c.json({ id: user.id, username: user.username }, 201);
  });

  router.openapi(tokenRoute, async (c) => {
    const { refresh_cookie: inCookie, ...credentials } = c.req.valid("json");
    return c.json(await login(c, credentials, inCookie === true), 200);
  });

  router.openapi(compatTokenRoute, async (c) => {
    const json = c.req.valid("json") as Partial<Credentials>;
    const form = c.req.valid("form") as Partial<Credentials>;
    const given = json.username !== undefined
      ? json
      : form.username !== undefined
      ? form
      : basicCredentials(c) ?? {};
    const parsed = CredentialsSchema.safeParse(given);
    if (!parsed.success) {
      throw new CofferError("VALIDATION_FAILED", "Expected username and password");
    }
    return c.json(await compatLogin(c, parsed.data), 200);
  });

  router.openapi({ ...logoutRoute, middleware: [authenticated] as const }, async (c) => {
    const { id, jti, exp, sid } = c.get("user");
    await revocations.revoke(jti, exp);
    if (sid) await refresh.revokeFamily(sid);
    const cookie = refreshCookieOf(c);
    if (cookie) {
      await refresh.revokeByToken(cookie);
      clearRefreshCookie(c);
    }
    log.info("auth.logout", { user_id: id, jti, sid: sid ?? null });
    return c.body(null, 204);
  });

  router.openapi({ ...meRoute, middleware: [authenticated] as const }, async (c) => {
    const user = await users.findById(c.get("user").id);
    if (!user) throw unauthorized();
    c.header("Cache-Control", "no-store");
    return c.json(
      {
        id: user.id,
        username: user.username,
        used_bytes: user.used_bytes,
        quota_bytes: user.quota_bytes,
      },
      200,
    );
  });

  return router;
}
