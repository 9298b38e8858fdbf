/**
 * Makes untrusted text safe for a terminal. Instance names come from the peer on the socket;
 * a hostile one could embed escape sequences that rewrite the screen. JSON output escapes them
 * in its own way (see json.ts).
 */

// C0 and C1 controls, DEL, and the Unicode bidirectional overrides that reorder what is shown.
// deno-lint-ignore no-control-regex -- matching control characters is the point.
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/gu;

/** Replaces control characters with visible escapes such as `\x1b`. */
export function printable(text: string): string {
  return text.replace(UNSAFE, (char) => {
    const code = char.codePointAt(0)!;
    return code <= 0xff
      ? `\\x${code.toString(16).padStart(2, "0")}`
      : `\\u${code.toString(16).padStart(4, "0")}`;
  });
}
