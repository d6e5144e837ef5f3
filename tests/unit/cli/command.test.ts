/**
 * The CLI's command framework: option parsing, positional counts, help text
 * and the exit codes 0 (ok), 1 (failure) and 2 (usage).
 */
import assert from "node:assert/strict";
import {
  CliError,
  type Command,
  type CommandContext,
  commandHelp,
  parseCommandArgs,
  runCommand,
  UsageError,
} from "../../../cli/command.ts";

function command(run: Command["run"] = () => Promise.resolve()): Command {
  return {
    name: "get",
    usage: "ID [-o PATH]",
    summary: "Download a file.",
    options: {
      output: { type: "string", short: "o", value: "PATH", description: "Write here" },
      force: { type: "boolean", description: "Overwrite" },
    },
    positionals: [1, 1],
    run,
  };
}

/** Runs with stdout and stderr captured. */
async function capture(fn: () => Promise<number>) {
  const out: string[] = [];
  const err: string[] = [];
  const { log, error } = console;
  console.log = (...parts: unknown[]) => out.push(parts.join(" "));
  console.error = (...parts: unknown[]) => err.push(parts.join(" "));
  try {
    return { code: await fn(), out: out.join("\n"), err: err.join("\n") };
  } finally {
    console.log = log;
    console.error = error;
  }
}

const context: CommandContext = { signal: new AbortController().signal };

Deno.test("parseCommandArgs() reads options and checks the positional count", async (t) => {
  await t.step("values and positionals", () => {
    const parsed = parseCommandArgs(command(), ["f1", "-o", "out", "--force"]);
    assert.deepEqual(parsed?.positionals, ["f1"]);
    assert.equal(parsed?.values.output, "out");
    assert.equal(parsed?.values.force, true);
  });
  await t.step("--help and -h return undefined", () => {
    assert.equal(parseCommandArgs(command(), ["--help"]), undefined);
    assert.equal(parseCommandArgs(command(), ["-h", "--bogus-is-not-reached"]), undefined);
  });
  const bad: [string[], RegExp][] = [
    [[], /^Missing argument: expected ID/],
    [["a", "b"], /^Unexpected argument "b"$/],
    [["a", "--bogus"], /^Unknown option '--bogus'$/],
    [["a", "-o"], /argument missing/],
    [["a", "--force=yes"], /does not take an argument/],
  ];
  for (const [args, message] of bad) {
    await t.step(`${JSON.stringify(args)} is a usage error`, () => {
      assert.throws(() => parseCommandArgs(command(), args), (error: Error) => {
        assert.ok(error instanceof UsageError);
        assert.match(error.message, message);
        return true;
      });
    });
  }
});

Deno.test("commandHelp() lists usage, summary and every option", () => {
  const help = commandHelp("deno task cli", command());
  assert.match(help, /^Usage: deno task cli get ID \[-o PATH\]\n\nDownload a file\.\n/);
  assert.match(help, /^ {2}-o, --output PATH +Write here$/m);
  assert.match(help, /^ {6}--force +Overwrite$/m);
  assert.match(help, /^ {2}-h, --help +Show this help$/m);
});

Deno.test("runCommand() maps outcomes to exit codes 0, 1 and 2", async (t) => {
  const cases: [string, Command["run"], string[], number, RegExp][] = [
    ["success", () => Promise.resolve(), ["f1"], 0, /^$/],
    ["explicit status", () => Promise.resolve(1), ["f1"], 1, /^$/],
    ["--help", () => Promise.resolve(), ["--help"], 0, /^$/],
    ["usage error", () => Promise.resolve(), [], 2, /Try 'deno task cli get --help'/],
    [
      "failure",
      () => Promise.reject(new CliError("Cannot download f1: gone")),
      ["f1"],
      1,
      /^coffer: Cannot download f1: gone$/,
    ],
    [
      "unexpected error",
      () => Promise.reject(new RangeError("boom")),
      ["f1"],
      1,
      /^coffer: unexpected error: boom$/,
    ],
  ];
  for (const [name, run, args, code, stderr] of cases) {
    await t.step(name, async () => {
      const result = await capture(() => runCommand("deno task cli", command(run), args, context));
      assert.equal(result.code, code);
      assert.match(result.err, stderr);
    });
  }
  await t.step("an aborted run exits 130", async () => {
    const controller = new AbortController();
    controller.abort();
    const result = await capture(() =>
      runCommand("deno task cli", command(() => Promise.reject(new Error("x"))), ["f1"], {
        signal: controller.signal,
      })
    );
    assert.equal(result.code, 130);
  });
});

Deno.test("parseCommandArgs() takes an id that starts with '-' after '--'", () => {
  const parsed = parseCommandArgs(command(), ["-o", "out.bin", "--", "-GekNc7THU6pwZQR5a2fRQ"]);
  assert.deepEqual(parsed?.positionals, ["-GekNc7THU6pwZQR5a2fRQ"]);
  assert.equal(parsed?.values.output, "out.bin");
  assert.throws(() => parseCommandArgs(command(), ["-GekNc7THU6pwZQR5a2fRQ"]), UsageError);
});
