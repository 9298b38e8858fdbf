/**
 * Deno words a system error as `No such file or directory (os error 2)`, followed for file
 * operations by what failed (`: chmod '/run/x'`). The errno means nothing to a user: messages
 * keep the words and drop the number.
 */

/** Options of `osErrorText`. */
export interface OsErrorTextOptions {
  /** Keep what Deno says after the errno (`: chmod '/run/x'`). Defaults to true. */
  context?: boolean;
}

/** The message of `error` (an Error, or anything as a string) without its "(os error N)". */
export function osErrorText(error: unknown, options: OsErrorTextOptions = {}): string {
  const text = error instanceof Error ? error.message : String(error);
  return text.replace(options.context === false ? /\s*\(os error \d+\).*$/ : OS_ERROR, "");
}

const OS_ERROR = /\s*\(os error \d+\)/;
