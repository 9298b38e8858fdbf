/**
 * yank against a real libvirt domain: a TCG guest with an NBD disk (qemu-nbd), a TCP serial
 * and a yank monitor added through <qemu:commandline>. Every libvirt test lives in this one file,
 * so they run one after the other in one process and share the daemons the first lab started: two
 * files would both find no libvirtd on a fresh machine and both start one.
 */

import assert from "node:assert/strict";
import { eventually, QemuLab } from "./support/qemu_lab.ts";
import { LibvirtLab, tinyDomainXml, virsh } from "./support/libvirt_lab.ts";
import { runCli } from "./support/cli.ts";
import { startWatch } from "./support/watch.ts";
import { asUserWrapper } from "./support/sandbox.ts";

/** Whether a process is stopped (state T in /proc/PID/stat), as SIGSTOP leaves it. */
function isStopped(pid: number): boolean {
  const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
  return stat.slice(stat.lastIndexOf(")") + 2).startsWith("T");
}

async function domstate(name: string): Promise<string> {
  return (await virsh(["domstate", name], 10_000)).stdout.trim();
}

Deno.test("yank under libvirt: monitors spared, --domain and --disk", async (t) => {
  await using lab = await QemuLab.create();
  await using libvirt = await LibvirtLab.create();
  // QEMU runs as libvirt-qemu (or qemu): it must reach the NBD socket and create its monitor.
  await Deno.chmod(lab.dir, 0o755);
  // Two clients at once, so that "yank reattach" can give the fresh node libvirt's name back.
  const nbd = await lab.startNbd(1, { shared: 2 });
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

  // The disk's top node: libvirt 9 puts a raw format node ("libvirt-1-format") above the NBD
  // node; libvirt 10 and later leave it out when nothing needs it, so the NBD node is the top.
  const block = await virsh(["qemu-monitor-command", name, '{"execute":"query-block"}'], 30_000);
  const devices = JSON.parse(block.stdout).return as { inserted?: { "node-name"?: string } }[];
  const top = devices.find((device) => device.inserted)?.inserted?.["node-name"];
  assert.match(top ?? "", /^libvirt-1-(format|storage)$/, block.stdout);
  // A pattern written before the failure, read back after the reattach. qemu-io prints on
  // QEMU's stdout, which libvirt gives a pipe: block-buffered, so each check is followed by
  // enough output (qemu-io's help, 1.6 KB each) to push the line out to libvirt's log.
  // Through the device (-d): its BlockBackend holds the write permission, which a node's own
  // BlockBackend would conflict with.
  const qdev = (devices as { qdev?: string; inserted?: unknown }[])
    .find((device) => device.inserted)?.qdev;
  assert.match(qdev ?? "", /^\/machine\/peripheral\/virtio-disk0\//, block.stdout);
  const hmp = async (command: string) => {
    const reply = await virsh(
      ["qemu-monitor-command", name, "--hmp", `qemu-io -d ${qdev} "${command}"`],
      120_000,
    );
    assert.equal(reply.stdout.trim(), "", `qemu-io ${command}: ${reply.stdout}`);
    return reply;
  };
  const log = `/var/log/libvirt/qemu/${name}.log`;
  const logCount = async (text: string) =>
    (await Deno.readTextFile(log).catch(() => "")).split(text).length - 1;
  const qemuIo = async (command: string, expected: string) => {
    const before = await logCount(expected);
    assert.equal((await hmp(command)).code, 0);
    for (let i = 0; i < 6; i++) await hmp("help");
    assert.equal(
      await eventually(async () => (await logCount(expected)) > before, 10_000),
      true,
      `"${expected}" in ${log} after qemu-io ${command}`,
    );
  };
  await qemuIo("write -P 0x5a 8192 4096", "wrote 4096/4096 bytes at offset 8192");

  await t.step("watch --disk vda yanks the frozen NBD node and virsh answers again", async () => {
    let stopped: { code: number; stderr: string };
    let hung: Promise<unknown> | undefined;
    let passed = false;
    const watch = await startWatch(
      { domain: name, disk: "vda", hangAfter: 2 },
      { until: /state=connected .*yanking on a hang/, untilMs: 60_000 },
    );
    try {
      assert.equal(
        watch.lines.some((line) => /state=warning/.test(line)),
        false,
        watch.lines.join("\n"),
      );
      await nbd.process.freeze();
      assert.equal(await eventually(() => isStopped(nbd.process.pid), 10_000), true);
      // Reading the disk in QEMU's main loop blocks it on the frozen server; virsh waits.
      const read = virsh(
        ["qemu-monitor-command", name, "--hmp", `qemu-io ${top} "read 0 4096"`],
        120_000,
      );
      hung = read;
      // Log values are logfmt: the quotes around a name are escaped.
      await watch.waitForLine(/state=hung .*block-node \\"libvirt-1-storage\\"/, 60_000);
      await watch.waitForLine(/state=yanking .*block-node \\"libvirt-1-storage\\"/, 30_000);
      await watch.waitForLine(/state=recovered/, 60_000);
      const hmp = await read;
      assert.equal(hmp.code, 0, hmp.stderr);
      // qemu-nbd is still frozen, so only the yank can have ended the read: with EIO, which
      // qemu-io prints on QEMU's stderr (libvirt's log of the domain), not in the HMP reply.
      assert.equal(isStopped(nbd.process.pid), true);
      const log = `/var/log/libvirt/qemu/${name}.log`;
      const failed = () =>
        Deno.readTextFile(log).then((text) => /read failed: Input\/output error/.test(text));
      assert.equal(await eventually(failed, 10_000), true, `no failed read in ${log}`);
      assert.equal(await domstate(name), "running");
      const info = await virsh(["qemu-monitor-command", name, "--hmp", "info status"], 30_000);
      assert.match(info.stdout, /running/);
      passed = true;
    } finally {
      nbd.process.thaw();
      await hung;
      // SIGTERM ends watch with 0; after a failure, SIGKILL ends it without waiting.
      stopped = await watch.stop(passed ? "SIGTERM" : "SIGKILL");
    }
    assert.equal(stopped.code, 0, stopped.stderr);
  });

  await t.step(
    "reattach --domain --disk vda brings the yanked disk back; virsh domblkinfo still works",
    async () => {
      // The watch above yanked the NBD node; the server answers again, the node does not.
      await qemuIo("read -P 0x5a 8192 4096", "read failed: Input/output error");
      const reattach = await runCli(["reattach", "--domain", name, "--disk", "vda"]);
      if (top === "libvirt-1-storage") {
        // libvirt 10 and later put no format node above it: nothing to swap it under.
        assert.equal(reattach.code, 2);
        assert.match(
          reattach.stderr,
          /^yank: Cannot reattach block-node "libvirt-1-storage" .* root node/,
        );
        return;
      }
      assert.equal(reattach.stderr, "");
      assert.equal(reattach.code, 0);
      assert.match(
        reattach.stdout,
        /^reattached block-node libvirt-1-storage \(unix:[^)]+\) under libvirt-1-format in \d+ ms\n$/,
      );
      await qemuIo("read -P 0x5a 8192 4096", "read 4096/4096 bytes at offset 8192");
      const info = await virsh(["domblkinfo", name, "vda"], 30_000);
      assert.equal(info.code, 0, info.stderr);
      assert.match(info.stdout, /Capacity:\s+1048576/);
      assert.equal(await domstate(name), "running");
    },
  );

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

/*
 * yank-domain@.service's user and capability against real libvirt 9.0: QEMU's monitor socket is
 * libvirt-qemu's, mode 0775, in /run/yank (0750, systemd/yank.conf); the status XML is 0600
 * root:root. As libvirt-qemu, --domain reads the XML with CAP_DAC_READ_SEARCH and nothing else,
 * sees QEMU's process (which peer judgement needs), and without the capability says why it fails.
 */

const USER = "libvirt-qemu";

function setpriv(capabilities: string[]): string[] {
  const caps = capabilities.map((c) => `+${c}`).join(",");
  return [
    "setpriv",
    "--reuid",
    USER,
    "--regid",
    USER,
    "--init-groups",
    "--no-new-privs",
    `--bounding-set=-all${caps === "" ? "" : `,${caps}`}`,
    ...(caps === "" ? ["--inh-caps=-all"] : [`--inh-caps=-all,${caps}`, `--ambient-caps=${caps}`]),
    "--",
  ];
}

Deno.test("as libvirt-qemu, --domain needs CAP_DAC_READ_SEARCH and nothing more", async (t) => {
  await using lab = await QemuLab.create();
  await using libvirt = await LibvirtLab.create();
  await Deno.chmod(lab.dir, 0o755);
  const nbd = await lab.startNbd(1);
  await Deno.chmod(nbd.socket, 0o666);
  const run = libvirt.path("yank");
  await Deno.mkdir(run);
  const chown = await new Deno.Command("chown", { args: [`${USER}:${USER}`, run] }).output();
  assert.ok(chown.success);
  await Deno.chmod(run, 0o750);
  const serial = lab.tcpPeer();
  const name = `yank-priv-${crypto.randomUUID().slice(0, 8)}`;
  const socket = `${run}/${name}.qmp`;
  await libvirt.createDomain(
    name,
    tinyDomainXml({ name, nbdSocket: nbd.socket, serialPort: serial.port, yankSocket: socket }),
  );
  await serial.accepted;

  await t.step(
    "what libvirt makes: the monitor 0775 libvirt-qemu, the status XML 0600 root",
    async () => {
      const uid = Number(new TextDecoder().decode(
        (await new Deno.Command("id", { args: ["-u", USER] }).output()).stdout,
      ));
      const monitor = await Deno.stat(socket);
      assert.equal(monitor.uid, uid);
      assert.equal(monitor.gid, uid);
      assert.equal(monitor.mode! & 0o777, 0o775);
      const status = await Deno.stat(`/run/libvirt/qemu/${name}.xml`);
      assert.equal(status.uid, 0);
      assert.equal(status.mode! & 0o777, 0o600);
    },
  );

  await t.step("with CAP_DAC_READ_SEARCH only, list --domain works", async () => {
    const listed = await runCli(["list", "--json", "--domain", name], {
      wrapper: asUserWrapper(USER, ["dac_read_search"], libvirt.dir),
    });
    assert.equal(listed.code, 0, listed.stderr);
    assert.match(listed.stdout, /"id":"yankmon"/);
  });

  await t.step("ss shows QEMU's process to its own user, which peer judgement needs", async () => {
    const ss = await new Deno.Command(setpriv([])[0]!, {
      args: [...setpriv([]).slice(1), "ss", "-xlnpH"],
    }).output();
    const line = new TextDecoder().decode(ss.stdout).split("\n").find((l) => l.includes(socket));
    assert.match(line ?? "", /users:\(\("qemu-system-x86",pid=\d+/);
  });

  await t.step("without it, --domain says it cannot read the status XML", async () => {
    const listed = await runCli(["list", "--domain", name], {
      wrapper: asUserWrapper(USER, [], libvirt.dir),
    });
    assert.equal(listed.code, 4, listed.stderr);
    assert.match(listed.stderr, /Cannot read libvirt's domain status .*\.xml/);
  });
});
