/**
 * The CLI's output helpers: byte sizes, tables, progress bars, and the file
 * names it writes (never a path, never hidden).
 */
import assert from "node:assert/strict";
import { formatBytes, formatTable, safeFileName } from "../../../cli/format.ts";
import { renderProgress } from "../../../cli/progress.ts";
import { guessContentType } from "../../../cli/commands/upload.ts";
import { decryptedName } from "../../../cli/commands/decrypt.ts";

Deno.test("formatBytes() sweeps the unit boundaries", async (t) => {
  const cases: [number, string][] = [
    [0, "0 B"],
    [1, "1 B"],
    [1023, "1023 B"],
    [1024, "1.0 KiB"],
    [1536, "1.5 KiB"],
    [1024 ** 2 - 1, "1024.0 KiB"],
    [1024 ** 2, "1.0 MiB"],
    [10 * 1024 ** 3, "10.0 GiB"],
    [2 * 1024 ** 5, "2048.0 TiB"],
  ];
  for (const [bytes, text] of cases) {
    await t.step(`${bytes} → ${text}`, () => assert.equal(formatBytes(bytes), text));
  }
});

Deno.test("safeFileName() never yields a path or a hidden name", async (t) => {
  const cases: [string, string][] = [
    ["report.pdf", "report.pdf"],
    ["../../etc/passwd", "_.._etc_passwd"],
    ["a\\b:c*d?.txt", "a_b_c_d_.txt"],
    [".bashrc", "bashrc"],
    ["..", "download"],
    ["", "download"],
    ["\u0000\u001f", "__"],
    ["photo ☀.jpg", "photo ☀.jpg"],
    ["evil\u202Etxt.exe", "evil_txt.exe"],
    ["x".repeat(300), "x".repeat(200)],
  ];
  for (const [name, expected] of cases) {
    await t.step(JSON.stringify(name), () => {
      const safe = safeFileName(name);
      assert.equal(safe, expected);
      assert.ok(!safe.includes("/") && !safe.startsWith("."));
    });
  }
});

Deno.test("formatTable() aligns every column but the last", () => {
  assert.equal(
    formatTable(["ID", "NAME"], [["a", "x y"], ["bbb", "z"]]),
    "ID   NAME\na    x y\nbbb  z",
  );
});

Deno.test("renderProgress() draws empty, partial, full and empty-file bars", async (t) => {
  const full = "█".repeat(20);
  const cases: [number, number, string][] = [
    [0, 100, `[${"░".repeat(20)}]   0%  0 B / 100 B`],
    [50, 100, `[${"█".repeat(10)}${"░".repeat(10)}]  50%  50 B / 100 B`],
    [100, 100, `[${full}] 100%  100 B / 100 B`],
    [0, 0, `[${full}] 100%  0 B / 0 B`],
    [150, 100, `[${full}] 100%  150 B / 100 B`],
  ];
  for (const [done, total, expected] of cases) {
    await t.step(`${done}/${total}`, () => {
      assert.equal(renderProgress("upload  a", done, total, undefined), `upload  a  ${expected}`);
    });
  }
  assert.ok(renderProgress("upload  a", 1024, 2048, 1024).endsWith("  1.0 KiB/s"));
});

Deno.test("guessContentType() and decryptedName() pick sensible defaults", () => {
  assert.equal(guessContentType("a/B.PDF"), "application/pdf");
  assert.equal(guessContentType("noext"), "application/octet-stream");
  assert.equal(decryptedName("dir/report.pdf.cbl"), "report.pdf");
  assert.equal(decryptedName("x.CBL"), "x");
  assert.equal(decryptedName(".cbl"), ".cbl.decrypted");
  assert.equal(decryptedName("blob"), "blob.decrypted");
});
