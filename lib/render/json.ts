/**
 * JSON for stdout that is safe on a terminal and still exact. JSON.stringify escapes C0
 * controls but passes DEL, C1 controls and bidirectional overrides through raw, and instance
 * names come from the peer; escaping those as \uXXXX changes no parsed value.
 */

const RAW_IN_JSON = /[\u007f-\u009f\u202a-\u202e\u2066-\u2069]/gu;

/** JSON.stringify, with the characters that can drive a terminal written as \uXXXX escapes. */
export function renderJson(value: unknown): string {
  return JSON.stringify(value).replace(
    RAW_IN_JSON,
    (char) => `\\u${char.codePointAt(0)!.toString(16).padStart(4, "0")}`,
  );
}
