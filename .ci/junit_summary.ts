/**
 * Prints CI's closing line, "tests: N passed, N failed", from Deno's JUnit
 * report. A failed static check counts as one failed test; a missing report
 * (the runner crashed) counts as one failure too.
 */
const [reportPath, checkFailed = "0"] = Deno.args;
let passed = 0;
let failed = Number(checkFailed) > 0 ? 1 : 0;
try {
  const xml = await Deno.readTextFile(reportPath);
  for (const match of xml.matchAll(/<testcase\b[^>]*?(\/>|>([\s\S]*?)<\/testcase>)/g)) {
    const body = match[2] ?? "";
    if (/<(failure|error)\b/.test(body)) failed++;
    else if (!/<skipped\b/.test(body)) passed++;
  }
} catch {
  failed++;
}
console.log(`tests: ${passed} passed, ${failed} failed`);
