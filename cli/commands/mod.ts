/**
 * The client commands, in the order `--help` lists them.
 *
 * @module
 */
import type { Command } from "../command.ts";
import type { CliContext } from "../session.ts";
import { loginCommand, logoutCommand, registerCommand } from "./auth.ts";
import { decryptCommand } from "./decrypt.ts";
import { keyCommand, lsCommand, rmCommand, statusCommand } from "./files.ts";
import { getCommand } from "./get.ts";
import { requestCommand, shareCommand, sharesCommand, unshareCommand } from "./shares.ts";
import { uploadCommand } from "./upload.ts";

/** Every client command. */
export const CLIENT_COMMANDS: Command<CliContext>[] = [
  registerCommand,
  loginCommand,
  logoutCommand,
  uploadCommand,
  lsCommand,
  statusCommand,
  getCommand,
  rmCommand,
  keyCommand,
  shareCommand,
  sharesCommand,
  unshareCommand,
  requestCommand,
  decryptCommand,
];
