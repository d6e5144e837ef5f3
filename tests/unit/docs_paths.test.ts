/**
 * The documentation points at files that exist: every Markdown link to a
 * local file, and every repository path written in backticks
 * (`crypto/_window.ts`), in the README, BENCHMARKS and docs/. A file moved or
 * renamed without its docs fails here. The README's configuration table names
 * exactly the variables config.ts reads.
 */
import assert from "node:assert/strict";
import { dirname, join, relative } from "node:path";
import { SETTING_NAMES } from "../../config.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
const DOCS = [
  "README.md",
  "BENCHMARKS.md",
  "cli/README.md",
  "docs/API.md",
  "docs/DEVELOPMENT.md",
  "docs/FORMAT.md",
  "docs/OPERATIONS.md",
];
/** A repository path in backticks: at least one folder, a known file extension. */
const BACKTICKED_PATH =
  /`([A-Za-z0-9_.-]+(?:\/[A-Za-z0-9_.-]+)+\.(?:ts|js|md|json|ya?ml|html|css|sh))`/g;
/** A Markdown link target that is not a URL or an in-page anchor. */
const LOCAL_LINK = /\]\((?!https?:|mailto:|#)([^)#\s]+)(?:#[^)]*)?\)/g;

async function exists(path: string): Promise<boolean> {
  return await Deno.stat(path).then(() => true, () => false);
}

Deno.test("docs link only to files that exist", async () => {
  const missing: string[] = [];
  for (const doc of DOCS) {
    const text = await Deno.readTextFile(join(ROOT, doc));
    for (const [, target] of text.matchAll(LOCAL_LINK)) {
      const path = join(ROOT, dirname(doc), target);
      if (!await exists(path)) missing.push(`${doc}: link to ${relative(ROOT, path)}`);
    }
  }
  assert.deepEqual(missing, []);
});

Deno.test("docs name only repository paths that exist", async () => {
  const missing: string[] = [];
  let checked = 0;
  for (const doc of DOCS) {
    const text = await Deno.readTextFile(join(ROOT, doc));
    for (const [, path] of text.matchAll(BACKTICKED_PATH)) {
      if (path.startsWith("../")) continue; // outside the repository (../shared)
      checked++;
      if (!await exists(join(ROOT, path))) missing.push(`${doc}: ${path}`);
    }
  }
  assert.deepEqual(missing, []);
  assert.ok(checked > 10, `only ${checked} paths found: is the pattern still right?`);
});

Deno.test("the README's configuration table lists exactly the settings config.ts reads", async () => {
  const readme = await Deno.readTextFile(join(ROOT, "README.md"));
  const section = readme.slice(
    readme.indexOf("## Configuration"),
    readme.indexOf("## API summary"),
  );
  const documented = new Set<string>();
  for (const [cell] of section.matchAll(/^\| (`[A-Z][A-Z0-9_]*`(?:, `[A-Z][A-Z0-9_]*`)*)/gm)) {
    for (const [name] of cell.matchAll(/[A-Z][A-Z0-9_]+/g)) documented.add(name);
  }
  assert.deepEqual([...documented].sort(), [...SETTING_NAMES].sort());
});
