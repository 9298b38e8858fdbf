/**
 * JSON that is safe on a terminal and still exact. JSON.stringify escapes C0 controls but
 * passes DEL, C1 controls and bidirectional overrides through raw, and instance names come from
 * the peer; writing those as \uXXXX escapes changes no parsed value.
 */

const RAW_IN_JSON = /[\u007f-\u009f\u202a-\u202e\u2066-\u2069]/gu;

/** Escapes, inside JSON text, the characters that can drive a terminal. */
export function jsonPrintable(json: string): string {
  return json.replace(
    RAW_IN_JSON,
    (char) => `\\u${char.codePointAt(0)!.toString(16).padStart(4, "0")}`,
  );
}

/** JSON.stringify, made safe for a terminal by `jsonPrintable`. */
export function renderJson(value: unknown): string {
  return jsonPrintable(JSON.stringify(value));
}
