/**
 * fast-check, pinned in one place. Imported by a full specifier rather than through deno.json's
 * "imports": an npm package in the import map is resolved on every run of the CLI, which then
 * no longer loads "no npm module" (tests/cli_main_test.ts); deno.lock holds its integrity.
 */

// deno-lint-ignore no-import-prefix -- in the import map, every CLI run would resolve it (above).
import fc from "npm:fast-check@4.11.0";

export default fc;
