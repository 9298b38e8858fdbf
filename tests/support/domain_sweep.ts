/**
 * The libvirt half of the names sweep: odd but legal domain names, disk targets, device aliases
 * and yank monitor paths, written as the status XML libvirt keeps for a running domain in a
 * directory of the sweep's own, and read back through `findDomains` as `--domain` reads them:
 * by the exact name (glob characters and all), by a glob, and as a missing domain whose error
 * names it. Hundreds of cases a second, with no libvirtd: creating that many domains would
 * take minutes.
 */

import assert from "node:assert/strict";
import fc from "./fast_check.ts";
import { findDomains } from "../../lib/libvirt/domains.ts";
import { messageFor } from "../../lib/cli/exit_codes.ts";
import { printable } from "../../lib/render/printable.ts";
import { diskTarget, domainName, fileName, qemuId, userAlias, xmlEscape } from "./wild_names.ts";

/** One domain of the sweep. */
export interface DomainCase {
  name: string;
  /** The file name of its yank monitor's socket (the path may hold `,`, which QEMU doubles). */
  monitor: string;
  /** How the monitor is given on QEMU's command line. */
  form: "qmp" | "chardev";
  /** The chardev id of a `-chardev`/`-mon` pair. */
  chardev: string;
  disks: { target: string; alias: string }[];
}

/** A DomainCase. */
export function domainCase(): fc.Arbitrary<DomainCase> {
  return fc.record({
    name: domainName(),
    monitor: fileName(60),
    form: fc.constantFrom<DomainCase["form"]>("qmp", "chardev"),
    chardev: qemuId(30),
    disks: fc.uniqueArray(
      fc.record({ target: diskTarget(), alias: fc.oneof(userAlias(), qemuId(30)) }),
      { maxLength: 3, selector: (d) => d.target },
    ),
  }).map((c) =>
    // QEMU reads `-qmp unix:A=B` as an option A, so a path with "=" goes in a -chardev.
    c.form === "qmp" && c.monitor.includes("=") ? { ...c, form: "chardev" as const } : c
  );
}

/** `text` as a glob that matches only `text`: every glob character escaped. */
export function globEscape(text: string): string {
  return text.replace(/[*?[\\]/g, "\\$&");
}

/** The sweep's run directory, standing for libvirt's /run/libvirt/qemu. */
export class DomainSweep implements AsyncDisposable {
  /** Cases run so far. */
  cases = 0;

  private constructor(readonly runDir: string) {}

  /** Makes a run directory. */
  static async start(): Promise<DomainSweep> {
    return new DomainSweep(await Deno.makeTempDir({ prefix: "yank-domains-" }));
  }

  /** Writes the case's status XML and reads it back every way `--domain` does. */
  async run(c: DomainCase): Promise<void> {
    this.cases++;
    const socket = `/run/yank/${c.monitor}`;
    const file = `${this.runDir}/${c.name}.xml`;
    await Deno.writeTextFile(file, statusXml(c, socket));
    try {
      const expected = {
        socket,
        disks: c.disks.map((d) => ({ target: d.target, alias: d.alias })),
      };
      const exact = await findDomains([c.name], this.runDir);
      assert.deepEqual(exact.failures, [], `by name ${JSON.stringify(c.name)}`);
      assert.deepEqual(
        exact.found.map((f) => ({ socket: f.socket, disks: f.domain.disks })),
        [expected],
        `by name ${JSON.stringify(c.name)}`,
      );
      const glob = await findDomains([globEscape(c.name)], this.runDir);
      assert.deepEqual(glob.failures, [], `by glob ${JSON.stringify(globEscape(c.name))}`);
      assert.deepEqual(glob.found.map((f) => f.socket), [socket]);
      const missing = `${c.name}-gone`;
      const absent = await findDomains([missing], this.runDir);
      assert.equal(absent.found.length, 0);
      assert.equal(absent.failures.length, 1);
      const message = messageFor(absent.failures[0]);
      assert.doesNotMatch(message, /Internal error/, message);
      assert.ok(message.includes(printable(JSON.stringify(missing))), message);
      // deno-lint-ignore no-control-regex -- finding control characters is the point.
      assert.doesNotMatch(message, /[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/u);
    } finally {
      await Deno.remove(file);
    }
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await Deno.remove(this.runDir, { recursive: true }).catch(() => {});
  }
}

/** A status XML as libvirt writes it for a running domain with a yank monitor and disks. */
export function statusXml(c: DomainCase, socket: string): string {
  const path = socket.replaceAll(",", ",,");
  const args = c.form === "qmp" ? ["-qmp", `unix:${path},server=on,wait=off`] : [
    "-chardev",
    `socket,id=${c.chardev},path=${path},server=on,wait=off`,
    "-mon",
    `chardev=${c.chardev},mode=control`,
  ];
  const disks = c.disks.map((d) =>
    `    <disk type='network' device='disk'>\n` +
    `      <target dev='${xmlEscape(d.target)}' bus='virtio'/>\n` +
    `      <alias name='${xmlEscape(d.alias)}'/>\n` +
    `    </disk>\n`
  ).join("");
  return `<domstatus state='running' reason='booted' pid='1'>
  <monitor path='/var/lib/libvirt/qemu/domain-1-x/monitor.sock' type='unix'/>
  <domain type='kvm' id='1' xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'>
    <name>${xmlEscape(c.name)}</name>
    <devices>
${disks}    </devices>
    <qemu:commandline>
${args.map((a) => `      <qemu:arg value='${xmlEscape(a)}'/>`).join("\n")}
    </qemu:commandline>
  </domain>
</domstatus>
`;
}
