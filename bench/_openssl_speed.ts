/**
 * Private to bench/: the hardware ceiling the OpenSSL targets are stated
 * against, `openssl speed -evp aes-256-gcm -bytes 16384 -seconds N`, run as a
 * subprocess in the same benchmark run (this VM's speed varies about twofold
 * from hour to hour, so a figure from another run means little).
 *
 * The tool prints `AES-256-GCM  3066538.67k` as its last line: thousands of
 * bytes per second of the process's CPU time, one core. Its stderr line
 * (`Doing … : 81745 AES-256-GCM's in 0.54s`) gives the count of blocks done,
 * from which the wall-clock rate follows: where the machine is loaded the two
 * differ, and the wall-clock one is what a process got in that run.
 *
 * @module
 */
import { MIB } from "./_stats.ts";

/** Block size of the measurement: one Cobblestone-256 chunk. */
const BLOCK = 16384;

/** One `openssl speed` run. */
export interface OpenSslSpeed {
  /** The tool's own figure (CPU time), converted to MiB/s. */
  mibPerSecond: number;
  /** Blocks done ÷ the seconds asked for, in MiB/s. */
  wallMibPerSecond: number;
}

/** The command line, for labels. */
export const OPENSSL_SPEED_COMMAND = "openssl speed -evp aes-256-gcm -bytes 16384";

/**
 * Parses the output of one run.
 *
 * @returns The figures, or undefined if the output has no AES-256-GCM line.
 */
export function parseOpenSslSpeed(
  stdout: string,
  stderr: string,
  seconds: number,
): OpenSslSpeed | undefined {
  const last = stdout.trim().split("\n").at(-1) ?? "";
  const figure = last.match(/^AES-256-GCM\s+([\d.]+)k\s*$/i);
  if (!figure) return undefined;
  const count = stderr.match(/:\s*(\d+)\s+AES-256-GCM's in/i);
  return {
    mibPerSecond: (Number(figure[1]) * 1000) / MIB,
    wallMibPerSecond: count ? (Number(count[1]) * BLOCK) / MIB / seconds : NaN,
  };
}

/**
 * Runs `openssl speed` for `seconds`.
 *
 * @returns The figures, or a reason string when `openssl` is missing or its
 *   output cannot be read.
 */
export async function measureOpenSslSpeed(seconds: number): Promise<OpenSslSpeed | string> {
  let output: Deno.CommandOutput;
  try {
    output = await new Deno.Command("openssl", {
      args: ["speed", "-evp", "aes-256-gcm", "-bytes", String(BLOCK), "-seconds", String(seconds)],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).output();
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return "openssl is not on the PATH";
    return `cannot run openssl: ${(error as Error).message}`;
  }
  const decoder = new TextDecoder();
  const stdout = decoder.decode(output.stdout);
  const stderr = decoder.decode(output.stderr);
  const speed = output.success ? parseOpenSslSpeed(stdout, stderr, seconds) : undefined;
  if (speed) return speed;
  const tail = (stderr.trim().split("\n").at(-1) ?? "").slice(0, 120);
  return `openssl speed exited with code ${output.code}: ${tail || "no AES-256-GCM line"}`;
}
