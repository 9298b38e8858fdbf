/**
 * yank against a real libvirt domain: a TCG guest with an NBD disk (qemu-nbd), a TCP serial
 * and a yank monitor added through <qemu:commandline>.
 */

import assert from "node:assert/strict";
import { QemuLab } from "./support/qemu_lab.ts";
import { LibvirtLab, tinyDomainXml, virsh } from "./support/libvirt_lab.ts";
import { runCli, spawnCli } from "./support/cli.ts";

async function domstate(name: string): Promise<string> {
  return (await virsh(["domstate", name], 10_000)).stdout.trim();
}

Deno.test("yank under libvirt: monitors spared, --domain and --disk", async (t) => {
  await using lab = await QemuLab.create();
  await using libvirt = await LibvirtLab.create();
  // QEMU runs as libvirt-qemu (or qemu): it must reach the NBD socket and create its monitor.
  await Deno.chmod(lab.dir, 0o755);
  const nbd = await lab.startNbd(1);
  await Deno.chmod(nbd.socket, 0o666);
  const run = libvirt.path("run");
  await Deno.mkdir(run, { mode: 0o777 });
  await Deno.chmod(run, 0o777);
  const serial = lab.tcpPeer();
  const name = `yank-test-${crypto.randomUUID().slice(0, 8)}`;
  const yankSocket = `${run}/${name}.qmp`;
  await libvirt.createDomain(
    name,
    tinyDomainXml({ name, nbdSocket: nbd.socket, serialPort: serial.port, yankSocket }),
  );
  await serial.accepted;

  await t.step("watch --disk vda yanks the frozen NBD node and virsh answers again", async () => {
    let stopped: { code: number; stderr: string };
    const watch = spawnCli([
      "watch",
      "--domain",
      name,
      "--disk",
      "vda",
      "--interval",
      "0.2",
      "--hang-after",
      "2",
    ]);
    try {
      await watch.waitForLine(/state=connected .*yanking on a hang/, 30_000);
      assert.equal(
        watch.lines.some((line) => /state=warning/.test(line)),
        false,
        watch.lines.join("\n"),
      );
      nbd.process.freeze();
      // Let the stop take effect before QEMU sends the read.
      await new Promise((resolve) => setTimeout(resolve, 500));
      // Reading the disk in QEMU's main loop blocks it on the frozen server; virsh waits.
      const hung = virsh(
        ["qemu-monitor-command", name, "--hmp", 'qemu-io libvirt-1-format "read 0 4096"'],
        120_000,
      );
      await watch.waitForLine(/state=yanking .*block-node "libvirt-1-storage"/, 20_000);
      await watch.waitForLine(/state=recovered/, 60_000);
      const hmp = await hung;
      assert.equal(hmp.code, 0, hmp.stderr);
      assert.equal(await domstate(name), "running");
      const info = await virsh(["qemu-monitor-command", name, "--hmp", "info status"], 30_000);
      assert.match(info.stdout, /running/);
    } finally {
      nbd.process.thaw();
      // SIGTERM ends watch with 0; checked after the steps above, so a failure there shows.
      stopped = await watch.stop();
    }
    assert.equal(stopped.code, 0, stopped.stderr);
  });

  await t.step("--domain lists the instances through the yank monitor", async () => {
    const list = await runCli(["list", "--domain", name]);
    assert.deepEqual([list.code, list.stderr], [0, ""]);
    for (
      const row of [/chardev +charmonitor/, /chardev +charserial0/, /block-node +libvirt-1-storage/]
    ) {
      assert.match(list.stdout, row);
    }
    const glob = await runCli(["list", "--json", "--domain", "yank-test-*"]);
    assert.equal(glob.code, 0, glob.stderr);
    const items = JSON.parse(glob.stdout) as { socket: string }[];
    assert.equal(items.some((item) => item.socket === yankSocket), true);
  });

  await t.step("check --domain answers OK", async () => {
    const check = await runCli(["check", "--domain", name]);
    assert.equal(check.code, 0, check.stdout + check.stderr);
    assert.match(check.stdout, /^YANK OK/);
  });

  await t.step("a domain yank cannot use is one line and exit 3", async () => {
    const missing = await runCli(["list", "--domain", `${name}-absent`]);
    assert.equal(missing.code, 3);
    assert.equal(missing.stdout, "");
    assert.match(missing.stderr, /^yank: No running libvirt domain "[^"]+" \(.*virsh list.*\)\n$/);
  });

  await t.step("'*' spares charmonitor and the domain keeps running", async () => {
    const yank = await runCli(["--chardev", "*", "--domain", name]);
    assert.deepEqual([yank.code, yank.stdout, yank.stderr], [
      0,
      "yanked chardev charserial0\n",
      "",
    ]);
    await serial.closed;
    assert.equal(await domstate(name), "running");
    const info = await virsh(["qemu-monitor-command", name, "--hmp", "info status"], 30_000);
    assert.match(info.stdout, /running/);
  });

  await t.step("libvirt's own monitor needs --force even by exact name", async () => {
    const refused = await runCli(["chardev", "charmonitor", "--domain", name]);
    assert.equal(refused.code, 2);
    assert.match(refused.stderr, /Refusing to yank chardev "charmonitor".*--force/);
    assert.equal(await domstate(name), "running");
  });
});
