/**
 * docs/API.md lists every problem type a client can receive, with the status
 * and title the error catalogue (errors.ts) gives it — no more, no fewer.
 */
import assert from "node:assert/strict";
import { ERROR_CATALOGUE } from "../../errors.ts";

const API_DOC = new URL("../../docs/API.md", import.meta.url);
const ROW = /^\| `([a-z-]+)` +\| (\d{3}) +\| ([^|]+?) +\|/gm;

Deno.test("docs/API.md lists every problem type with its catalogue status and title", async () => {
  const text = await Deno.readTextFile(API_DOC);
  const documented = [...text.matchAll(ROW)].map(([, type, status, title]) => ({
    type,
    status: Number(status),
    title,
  }));
  const catalogue = Object.entries(ERROR_CATALOGUE).map(([code, { status, title }]) => ({
    type: code.toLowerCase().replaceAll("_", "-"),
    status,
    title,
  }));
  const byType = (a: { type: string }, b: { type: string }) => a.type.localeCompare(b.type);
  assert.deepEqual(documented.toSorted(byType), catalogue.toSorted(byType));
});
