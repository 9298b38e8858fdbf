/**
 * The options as declared (lib/cli/options.ts): which command offers which, and help and
 * completion texts that describe them as they behave.
 */

import assert from "node:assert/strict";
import { OPTIONS } from "../lib/cli/options.ts";
import { runCli } from "./support/cli.ts";

Deno.test("yank block-node --help does not offer --force, which spares chardevs only", async () => {
  const run = await runCli(["block-node", "--help"]);
  assert.equal(run.code, 0);
  assert.doesNotMatch(run.stdout, /^ +--force/m);
  const chardev = await runCli(["chardev", "--help"]);
  assert.match(chardev.stdout, /^ +--force/m);
});

Deno.test("completion scripts describe --textfile as check and watch use it", async () => {
  for (const shell of ["bash", "zsh", "fish"]) {
    const run = await runCli(["completions", shell]);
    assert.equal(run.code, 0);
    assert.doesNotMatch(run.stdout, /also write the result/);
    if (shell !== "bash") assert.match(run.stdout, /write Prometheus metrics to this file/);
  }
});

Deno.test("--listen is summarised as the proxy socket it serves", () => {
  assert.equal(OPTIONS.listen.summary, "serve the yank-only QMP proxy socket at this path");
});
