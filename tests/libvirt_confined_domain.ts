/**
 * yank-domain@.service's user and capability against real libvirt 9.0: QEMU's monitor socket is
 * libvirt-qemu's, mode 0775, in /run/yank (0750, systemd/yank.conf); the status XML is 0600
 * root:root. As libvirt-qemu, --domain reads the XML with CAP_DAC_READ_SEARCH and nothing else,
 * sees QEMU's process (which peer judgement needs), and without the capability says why it fails.
 */

import assert from "node:assert/strict";
import { QemuLab } from "./support/qemu_lab.ts";
import { LibvirtLab, tinyDomainXml } from "./support/libvirt_lab.ts";
import { runCli } from "./support/cli.ts";

const USER = "libvirt-qemu";

/** This checkout, and what of it the CLI needs to run. */
const ROOT = new URL("..", import.meta.url).pathname.replace(/\/$/, "");
const CHECKOUT_FILES = ["main.ts", "deno.json", "deno.lock", "lib"];

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
  // The CLI runs from a copy libvirt-qemu can read, as an installed yank would be: the checkout
  // may sit where it cannot (CI clones under /root, 0700), and only the status XML may need the
  // capability.
  const checkout = libvirt.path("checkout");
  await Deno.mkdir(checkout, { mode: 0o755 });
  const copy = await new Deno.Command("cp", {
    args: [
      "-r",
      "--no-preserve=mode",
      ...CHECKOUT_FILES.map((file) => `${ROOT}/${file}`),
      checkout,
    ],
  }).output();
  assert.ok(copy.success, new TextDecoder().decode(copy.stderr));
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
      wrapper: setpriv(["dac_read_search"]),
      checkout,
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
    const listed = await runCli(["list", "--domain", name], { wrapper: setpriv([]), checkout });
    assert.equal(listed.code, 4, listed.stderr);
    assert.match(listed.stderr, /Cannot read libvirt's domain status .*\.xml/);
  });
});
