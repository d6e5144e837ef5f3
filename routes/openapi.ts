/**
 * Route groups are `OpenAPIHono` sub-apps built with {@linkcode createRouter}:
 * each route is declared with `createRoute` (path, request and response
 * schemas), which both validates requests and generates `/openapi.json`.
 * Validation failures become the same problem+json as every other error.
 */
import { OpenAPIHono, z } from "@hono/zod-openapi";
import { CofferError } from "../errors.ts";
import type { AppEnv } from "./env.ts";

/** Creates a route group whose validation errors are 400 problems. */
export function createRouter(): OpenAPIHono<AppEnv> {
  return new OpenAPIHono<AppEnv>({
    defaultHook: (result) => {
      if (!result.success) {
        const detail = result.error.issues
          .map((issue) => `${issue.path.join(".") || "body"}: ${issue.message}`)
          .join("; ");
        throw new CofferError("VALIDATION_FAILED", detail);
      }
    },
  });
}

/** The problem+json schema, for error responses in route definitions. */
export const ProblemSchema = z.object({
  type: z.string(),
  title: z.string(),
  status: z.number().int(),
  detail: z.string().optional(),
}).openapi("Problem");

/** An error response entry for `createRoute({ responses })`. */
export function problem(description: string) {
  return {
    description,
    content: { "application/problem+json": { schema: ProblemSchema } },
  };
}

/** The bearer security requirement for protected routes. */
export const bearerSecurity = [{ bearerAuth: [] }];
