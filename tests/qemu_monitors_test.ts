/**
 * Real QEMU with several monitors: a glob, sent through one monitor, never yanks another
 * monitor's chardev (QEMU's compat_monitorN, libvirt's charmonitor, a --spare one).
 */

import assert from "node:assert/strict";
import { QemuLab } from "./support/qemu_lab.ts";
import { runCli } from "./support/cli.ts";

Deno.test("globs spare every monitor's chardev on a real QEMU", async (t) => {
  await using lab = await QemuLab.create();
  const peer = lab.tcpPeer();
  const yankmon = lab.path("yankmon.qmp");
  const libvirtLike = lab.path("charmonitor.qmp");
  const qemu = await lab.startQemu({
    args: [
      "-chardev",
      `socket,id=mon-yankmon,path=${yankmon},server=on,wait=off`,
      "-mon",
      "chardev=mon-yankmon,mode=control",
      "-chardev",
      `socket,id=charmonitor,path=${libvirtLike},server=on,wait=off`,
      "-mon",
      "chardev=charmonitor,mode=control",
      "-chardev",
      `socket,id=charextra,path=${lab.path("extra.sock")},server=on,wait=off`,
      "-chardev",
      `socket,id=charnet0,host=127.0.0.1,port=${peer.port},server=off`,
    ],
  });
  await peer.accepted;
  // Clients holding the other monitors, as libvirt holds charmonitor.
  const onCompat = await lab.qmp(qemu.socket);
  const onCharmonitor = await lab.qmp(libvirtLike);

  await t.step(
    "'*' through one monitor plans only the chardevs that are no monitor's",
    async () => {
      const run = await runCli(["--chardev", "*", "--dry-run", "--socket", yankmon]);
      assert.deepEqual([run.code, run.stderr], [0, ""]);
      assert.deepEqual(run.stdout.split("\n").filter(Boolean).sort(), [
        "would yank chardev charextra",
        "would yank chardev charnet0",
      ]);
    },
  );

  await t.step("--spare keeps more chardevs out of globs", async () => {
    const run = await runCli([
      "--chardev",
      "char*",
      "--spare",
      "charex*",
      "--dry-run",
      "--socket",
      yankmon,
    ]);
    assert.deepEqual([run.code, run.stdout, run.stderr], [0, "would yank chardev charnet0\n", ""]);
    const only = await runCli(["--chardev", "charex*", "--spare", "charextra", "-s", yankmon]);
    assert.equal(only.code, 3);
    assert.match(
      only.stderr,
      /matched only monitor chardevs, which a glob never yanks: "charextra"/,
    );
  });

  await t.step("naming another monitor's chardev exactly needs --force", async () => {
    for (const id of ["charmonitor", "compat_monitor0", "charextra"]) {
      const spare = id === "charextra" ? ["--spare", "charextra"] : [];
      const run = await runCli(["chardev", id, ...spare, "--socket", yankmon]);
      assert.equal(run.code, 2, id);
      assert.equal(run.stdout, "");
      assert.match(
        run.stderr,
        new RegExp(
          `^yank: Refusing to yank chardev "${id}": .* \\(add --force to do it anyway\\)\\n$`,
        ),
      );
    }
  });

  await t.step("'*' yanks charnet0 and leaves every monitor connected", async () => {
    const run = await runCli(["--chardev", "*", "--socket", yankmon]);
    assert.equal(run.code, 0, run.stderr);
    assert.equal(run.stdout.includes("yanked chardev charnet0"), true);
    assert.equal(/monitor/.test(run.stdout), false, run.stdout);
    await peer.closed;
    // QEMU 8.1 dropped query-status's deprecated "singlestep"; compare what every version has.
    const { status, running } = await onCompat.execute("query-status") as Record<string, unknown>;
    assert.deepEqual({ status, running }, { status: "running", running: true });
    await onCharmonitor.execute("query-status");
  });

  await t.step("--force yanks a monitor's chardev named exactly", async () => {
    const run = await runCli(["chardev", "charmonitor", "--force", "--socket", yankmon]);
    assert.deepEqual([run.code, run.stdout, run.stderr], [0, "yanked chardev charmonitor\n", ""]);
    await onCharmonitor.closed;
  });
});
