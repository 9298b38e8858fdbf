/**
 * Writing a metrics file for node_exporter's textfile collector atomically: a temporary file in
 * the same directory, then a rename, so that the collector never reads half a file.
 */

import { YankError } from "../errors.ts";
import { osErrorText } from "../qmp/os_error.ts";

/** The textfile could not be written; the message names it, the remedy says what to do. */
export class TextfileError extends YankError {
  override name = "TextfileError";
  override readonly kind = "failed";
}

/** Replaces `path` with `text` atomically. Throws TextfileError. */
export async function writeTextfileAtomically(path: string, text: string): Promise<void> {
  const slash = path.lastIndexOf("/");
  const dir = slash < 0 ? "." : path.slice(0, slash) || "/";
  const base = path.slice(slash + 1);
  // Dot-prefixed and not ending in .prom: the collector ignores it while it is being written.
  const temp = `${dir}/.${base}.${Deno.pid}.${crypto.randomUUID().slice(0, 8)}.tmp`;
  try {
    await Deno.writeTextFile(temp, text, { mode: 0o644 });
    await Deno.rename(temp, path);
  } catch (error) {
    await Deno.remove(temp).catch(() => {});
    if (error instanceof Deno.errors.NotCapable) {
      // Deno lets a program write device files and /proc or /sys only with every permission.
      throw new TextfileError(
        `Cannot write the textfile ${
          JSON.stringify(path)
        }: yank writes regular files only, not devices or files in /dev, /proc or /sys`,
        ["give a file path; ", { action: "print-metrics" }],
      );
    }
    const detail = osErrorText(error, { context: false });
    throw new TextfileError(`Cannot write the textfile ${JSON.stringify(path)}: ${detail}`, [
      "check that its directory exists and is writable",
    ]);
  }
}
