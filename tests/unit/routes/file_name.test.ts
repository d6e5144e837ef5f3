/**
 * Display names and download headers: names bounded in UTF-8 bytes, content
 * types reduced to their essence, RFC 6266/5987 Content-Disposition.
 */
import assert from "node:assert/strict";
import {
  attachmentDisposition,
  MAX_NAME_BYTES,
  sanitizeContentType,
  sanitizeFileName,
} from "../../../routes/file_name.ts";

const utf8Length = (text: string) => new TextEncoder().encode(text).length;

/** The display name carried by `filename*=UTF-8''…` (RFC 5987). */
function extendedFileName(disposition: string): string {
  const match = /; filename\*=UTF-8''([A-Za-z0-9!#$&+.^_`|~%-]+)$/.exec(disposition);
  assert.ok(match, disposition);
  return decodeURIComponent(match[1]);
}

/** The quoted ASCII `filename="…"` fallback (RFC 6266). */
function asciiFileName(disposition: string): string {
  const match = /^attachment; filename="([^"\\]*)"; /.exec(disposition);
  assert.ok(match, disposition);
  return match[1];
}

const SANITIZED: [string | undefined | null, string][] = [
  ["report.pdf", "report.pdf"],
  ["  spaced  ", "spaced"],
  ["../../etc/passwd", "....etcpasswd"],
  ["C:\\Windows\\win.ini", "C:Windowswin.ini"],
  ["a\u0000b\u001fc\u007fd\u0085e", "abcde"],
  ["line\nbreak\r.txt", "linebreak.txt"],
  ["evil\u202Etxt.exe", "eviltxt.exe"],
  ["\u2066iso\u2069late\u200f\u061c", "isolate"],
  ["\ufeffbom.txt", "bom.txt"],
  ["cafe\u0301.txt", "café.txt"], // NFC
  ["日本語のファイル.txt", "日本語のファイル.txt"],
  ["📄 «final».pdf", "📄 «final».pdf"],
  ["", "unnamed"],
  [undefined, "unnamed"],
  [null, "unnamed"],
  ["   ", "unnamed"],
  [".", "unnamed"],
  ["..", "unnamed"],
  ["/", "unnamed"],
];

for (const [raw, expected] of SANITIZED) {
  Deno.test(`sanitizeFileName() turns ${JSON.stringify(raw)} into ${JSON.stringify(expected)}`, () => {
    assert.equal(sanitizeFileName(raw), expected);
  });
}

Deno.test("sanitizeFileName() bounds a name to 255 UTF-8 bytes without splitting a character", () => {
  for (const unit of ["a", "é", "日", "📄"]) {
    for (const count of [254, 255, 256, 1000]) {
      const name = sanitizeFileName(unit.repeat(count));
      const kept = Math.min(count, Math.floor(MAX_NAME_BYTES / utf8Length(unit)));
      assert.equal(utf8Length(name), kept * utf8Length(unit), `${unit} × ${count}`);
      assert.equal(name, unit.repeat([...name].length), "only whole characters");
      assert.equal(name.isWellFormed(), true);
    }
  }
});

Deno.test("sanitizeContentType() keeps a type/subtype essence and defaults the rest", () => {
  const cases: [string | undefined | null, string][] = [
    ["text/plain", "text/plain"],
    ["Text/HTML; charset=UTF-8", "text/html"],
    [
      "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
      "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    ],
    ["image/svg+xml", "image/svg+xml"],
    ["", "application/octet-stream"],
    [undefined, "application/octet-stream"],
    [null, "application/octet-stream"],
    ["text", "application/octet-stream"],
    ["text/plain\r\nX-Injected: 1", "application/octet-stream"],
    ["a/b/c", "application/octet-stream"],
    ["text/ plain", "application/octet-stream"],
  ];
  for (const [raw, expected] of cases) {
    assert.equal(sanitizeContentType(raw), expected, String(raw));
  }
});

const NAMES = [
  "report.pdf",
  "Résumé «final» 📄 (v2).pdf",
  "日本語.txt",
  'quote"back\\slash;semi%percent.txt',
  "it's (a) *star*.txt",
  "50% off; really.txt",
  "🔐",
  "unnamed",
];

for (const name of NAMES) {
  Deno.test(`attachmentDisposition() carries ${JSON.stringify(name)} in filename*`, () => {
    const disposition = attachmentDisposition(name);
    assert.equal(extendedFileName(disposition), name);
    const ascii = asciiFileName(disposition);
    assert.match(ascii, /^[\x20-\x7e]+$/);
    assert.doesNotMatch(ascii, /["\\%;]/);
    assert.doesNotMatch(disposition, /[\r\n]/);
  });
}

Deno.test("attachmentDisposition() keeps a plain ASCII name as the fallback", () => {
  assert.equal(
    attachmentDisposition("report 2024.pdf"),
    "attachment; filename=\"report 2024.pdf\"; filename*=UTF-8''report%202024.pdf",
  );
  assert.equal(asciiFileName(attachmentDisposition("café.txt")), "cafe_.txt");
  assert.equal(asciiFileName(attachmentDisposition("📄")), "__");
});

/**
 * Hostile names whose ASCII fallback must not steer a client that writes
 * `filename=` to disk (curl -OJ): NFKD folds compatibility forms (fullwidth,
 * small, one-dot leaders) into `.`, `/`, `\` and `"`, so the fallback is
 * sanitized after it. `filename*` still carries the display name exactly.
 */
const HOSTILE: [string, string][] = [
  ["．．／．．／．ｂａｓｈｒｃ", "___.._.bashrc"], // fullwidth full stops and solidi
  ["../../.bashrc", "___.._.bashrc"],
  [".bashrc", "_bashrc"],
  ["...", "___"],
  [" .profile", "_profile"],
  ["\u3000．ssh／authorized_keys", "_ssh_authorized_keys"], // ideographic space, fullwidth dot
  ["﹒bashrc", "_bashrc"], // U+FE52 small full stop
  ["․bashrc", "_bashrc"], // U+2024 one dot leader
  ["‥／etc／passwd", "___etc_passwd"], // U+2025 two dot leader
  ["…／x", "____x"], // U+2026 horizontal ellipsis
  ["..\\..\\win.ini", "___.._win.ini"],
  ["＼＼server＼share＼x.txt", "__server_share_x.txt"], // fullwidth reverse solidi
  ["C:\\Windows\\win.ini", "C:_Windows_win.ini"],
  ["a／b", "a_b"],
  ["ａ／ｂ.txt", "a_b.txt"],
  ['"quoted".txt', "_quoted_.txt"],
  ["＂quoted＂.txt", "_quoted_.txt"], // fullwidth quotation marks
  ['x";filename=evil.sh', "x__filename=evil.sh"],
  ["%2e%2e%2f.txt", "_2e_2e_2f.txt"],
  ["\u0001.x\u001f", "_.x_"],
  ["line\r\nX-Injected: 1", "line__X-Injected: 1"],
  ["\u0085\u009f.txt", "__.txt"],
  ["\u202e.gpj.exe", "_.gpj.exe"],
  ["．", "_"],
  ["／", "_"],
];

for (const [name, expected] of HOSTILE) {
  Deno.test(`attachmentDisposition() makes a safe ASCII fallback of ${JSON.stringify(name)}`, () => {
    const disposition = attachmentDisposition(name);
    const ascii = asciiFileName(disposition);
    assert.equal(ascii, expected);
    assert.match(ascii, /^[\x20-\x7e]+$/);
    assert.doesNotMatch(ascii, /[/\\"%;]/);
    assert.doesNotMatch(ascii, /^[.\s]/);
    assert.doesNotMatch(disposition, /[\r\n]/);
    assert.equal(extendedFileName(disposition), name, "filename* keeps the display name");
  });
}

Deno.test("attachmentDisposition() fallback of a sanitized fullwidth traversal name has no path", () => {
  const name = sanitizeFileName("．．／．．／．ｂａｓｈｒｃ");
  assert.equal(name, "．．／．．／．ｂａｓｈｒｃ", "a display name keeps its Unicode");
  const ascii = asciiFileName(attachmentDisposition(name));
  assert.notEqual(ascii, "../../.bashrc");
  assert.doesNotMatch(ascii, /[/\\]|^\./);
});
