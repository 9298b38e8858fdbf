/**
 * cli-table3 is loaded only when a table is printed: every other path works where no npm
 * package can be had, and the table path, run there, fails for want of cli-table3 (which shows
 * the check can fail).
 */

import assert from "node:assert/strict";
import { runCli } from "./support/cli.ts";
import { chardevConnectedToPeer, QemuLab } from "./support/qemu_lab.ts";
import { withoutNpm } from "./support/without_npm.ts";

Deno.test("only the paths that print a table load cli-table3", async (t) => {
  await using lab = await QemuLab.create();
  const { qemu } = await chardevConnectedToPeer(lab);
  await using noNpm = await withoutNpm();
  const run = (args: string[]) => runCli(args, { env: noNpm.env });

  await t.step("list --json", async () => {
    const result = await run(["list", "--json", "--socket", qemu.socket]);
    assert.equal(result.stderr, "");
    assert.equal(result.code, 0);
    assert.equal(JSON.parse(result.stdout).length, 2);
  });

  await t.step("a yank (dry run) and --help", async () => {
    const yank = await run(["chardev", "charnet0", "--dry-run", "--socket", qemu.socket]);
    assert.equal(yank.stderr, "");
    assert.equal(yank.code, 0);
    assert.equal(yank.stdout, "would yank chardev charnet0\n");
    const help = await run(["--help"]);
    assert.equal(help.code, 0, help.stderr);
  });

  await t.step("list as a table needs cli-table3, so it fails there", async () => {
    const result = await run(["list", "--socket", qemu.socket]);
    assert.notEqual(result.code, 0);
    assert.equal(result.stdout, "");
    assert.match(result.stderr, /cli-table3/);
  });
});
