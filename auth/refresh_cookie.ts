/**
 * The page's refresh token lives in a cookie the page's script cannot read:
 * `coffer_refresh=…; HttpOnly; SameSite=Strict; Path=/api/auth` (plus
 * `Secure` when the request came over https, directly or as a proxy's
 * `X-Forwarded-Proto: https`). `Path=/api/auth` means the browser sends it to
 * the refresh and logout routes only, never with an upload or a download;
 * `SameSite=Strict` keeps it off every request another site starts.
 *
 * @module
 */
import type { Context } from "hono";
import { generateCookie, getCookie, setCookie } from "hono/cookie";

/** The cookie's name. */
export const REFRESH_COOKIE = "coffer_refresh";

/** The only path the cookie is sent to. */
export const REFRESH_COOKIE_PATH = "/api/auth";

function isHttps(c: Context): boolean {
  const forwarded = c.req.header("X-Forwarded-Proto")?.split(",")[0].trim().toLowerCase();
  return new URL(c.req.url).protocol === "https:" || forwarded === "https";
}

/**
 * Sets the refresh cookie on the response.
 *
 * @param c The request context.
 * @param token The refresh token.
 * @param maxAgeSeconds Its lifetime.
 */
export function setRefreshCookie(c: Context, token: string, maxAgeSeconds: number): void {
  setCookie(c, REFRESH_COOKIE, token, {
    httpOnly: true,
    sameSite: "Strict",
    path: REFRESH_COOKIE_PATH,
    secure: isHttps(c),
    maxAge: maxAgeSeconds,
  });
}

/**
 * The `Set-Cookie` value that tells the browser to forget the refresh cookie
 * (for an error response, which is built apart from the context's headers).
 */
export function clearedRefreshCookie(c: Context): string {
  return generateCookie(REFRESH_COOKIE, "", {
    httpOnly: true,
    sameSite: "Strict",
    path: REFRESH_COOKIE_PATH,
    secure: isHttps(c),
    maxAge: 0,
    expires: new Date(0),
  });
}

/** Tells the browser to forget the refresh cookie. */
export function clearRefreshCookie(c: Context): void {
  c.header("Set-Cookie", clearedRefreshCookie(c), { append: true });
}

/** The refresh cookie of the request, if it has one. */
export function refreshCookieOf(c: Context): string | undefined {
  return getCookie(c, REFRESH_COOKIE) || undefined;
}
