/**
 * `yank check` on a host where a glob matches no monitor (every VM stopped): OK, said in one
 * line, and never a Prometheus series labelled with the glob itself.
 */

import assert from "node:assert/strict";
import { runCli } from "./support/cli.ts";
import { QemuLab } from "./support/qemu_lab.ts";

Deno.test("check: a glob that matches no socket is OK and never becomes a label", async (t) => {
  await using lab = await QemuLab.create();
  const glob = `${lab.dir}/*.qmp`;

  await t.step("text: OK, saying that nothing matches", async () => {
    const run = await runCli(["check", "--socket", glob]);
    assert.equal(run.code, 0, run.stderr);
    assert.equal(run.stderr, "");
    assert.equal(
      run.stdout,
      `YANK OK - no monitor socket matches ${
        JSON.stringify(glob)
      } | critical=0 warning=0 unknown=0 ok=0\n`,
    );
  });

  await t.step("prometheus: no series at all, and no glob as a label", async () => {
    const run = await runCli(["check", "--socket", glob, "--format", "prometheus"]);
    assert.equal(run.code, 0, run.stderr);
    assert.doesNotMatch(run.stdout, /^yank_/m);
    assert.ok(!run.stdout.includes(glob));
  });

  await t.step("beside a running VM, the VM alone is reported", async () => {
    const qemu = await lab.startQemu();
    const nothing = `${lab.dir}/*.nosuch`;
    const run = await runCli([
      "check",
      "--socket",
      qemu.socket,
      "--socket",
      nothing,
      "--format",
      "prometheus",
    ]);
    assert.equal(run.code, 0, run.stdout);
    assert.match(run.stdout, new RegExp(`^yank_state\\{socket="${qemu.socket}"\\} 0$`, "m"));
    assert.ok(!run.stdout.includes(nothing));
  });
});
