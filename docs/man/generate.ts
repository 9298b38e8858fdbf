/**
 * Writes the manual pages to docs/man/man1/ from the help topics (`deno task man`). The test
 * tests/cli_man_test.ts fails when the committed pages differ from what this writes.
 */

import { manPages } from "../../lib/cli/man.ts";

const dir = new URL("man1/", import.meta.url);
await Deno.mkdir(dir, { recursive: true });
for (const page of manPages()) {
  await Deno.writeTextFile(new URL(page.file, dir), page.source);
}
console.log(`wrote ${manPages().length} pages to ${dir.pathname}`);
