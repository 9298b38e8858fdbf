/**
 * Shell-style globs, as selectors, socket paths and libvirt names use them: `*`, `?`, `[...]`
 * and `\` escapes, compiled to anchored regular expressions.
 */

import { YankError } from "./errors.ts";

/** A selector that is not a well-formed glob. */
export class GlobSyntaxError extends YankError {
  override name = "GlobSyntaxError";
  override readonly kind = "usage";
}

/**
 * Whether a pattern uses glob syntax (`*`, `?`, `[...]`, or a `\` escape) rather than naming
 * one instance. QEMU ids and node-names never contain these characters.
 */
export function isGlob(pattern: string): boolean {
  return /[*?[\\]/.test(pattern);
}

/**
 * Compiles a shell-style glob: `*` any run of characters, `?` one character, `[abc]`, `[a-z]`
 * and `[!abc]` a class, `\x` a literal x. Throws GlobSyntaxError for an unclosed class or a
 * trailing backslash.
 */
export function compileGlob(pattern: string): RegExp {
  let source = "";
  for (let i = 0; i < pattern.length; i++) {
    const char = pattern[i]!;
    if (char === "*") {
      source += "[\\s\\S]*";
    } else if (char === "?") {
      source += "[\\s\\S]";
    } else if (char === "\\") {
      if (i + 1 >= pattern.length) {
        throw new GlobSyntaxError(`${JSON.stringify(pattern)} ends with a lone backslash`);
      }
      source += escapeRegExp(pattern[++i]!);
    } else if (char === "[") {
      const end = pattern.indexOf("]", i + 2);
      if (end < 0) {
        throw new GlobSyntaxError(`${JSON.stringify(pattern)} has an unclosed "["`);
      }
      let body = pattern.slice(i + 1, end);
      const negated = body.startsWith("!") || body.startsWith("^");
      if (negated) body = body.slice(1);
      if (body === "") throw new GlobSyntaxError(`${JSON.stringify(pattern)} has an empty "[]"`);
      source += `[${negated ? "^" : ""}${body.replace(/[\\\]^]/g, "\\$&")}]`;
      i = end;
    } else {
      source += escapeRegExp(char);
    }
  }
  try {
    return new RegExp(`^${source}$`, "u");
  } catch {
    throw new GlobSyntaxError(`${JSON.stringify(pattern)} has an invalid character class`);
  }
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
}
