/** `yank watch` (in progress). */
import type { CliArgs } from "../args.ts";
import type { CliIo } from "../io.ts";

/** Runs `yank watch`. */
export function watchCommand(_args: CliArgs, _io: CliIo): Promise<number> {
  return Promise.reject(new Error(`"yank watch" is not implemented yet`));
}
