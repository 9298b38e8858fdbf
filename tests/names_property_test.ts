/**
 * Names from the wild, as properties: for seeded, generated odd but legal names of everything
 * yank reads from QEMU or libvirt or takes from the user (chardev ids, node-names, device ids,
 * NBD export names, socket paths and their spellings, libvirt domain names, disk targets and
 * aliases), `list`, `list --json`, the yank forms, `check` and `watch` against one real QEMU
 * exit only with documented codes, never say "Internal error", and show each name verbatim
 * (exactly in JSON, terminal-safe in tables and logs). Domain names are read back through the
 * status XML reader by the hundred (no libvirtd could create that many in seconds), and a few
 * through the real CLI. `deno task fuzz --names` runs the same sweeps for minutes.
 * YANK_NAMES_SEED picks another seed; a failure prints the seed, the path and the case.
 */

import assert from "node:assert/strict";
import fc from "./support/fast_check.ts";
import { NameSweep } from "./support/names_sweep.ts";
import { domainName, fileName, nameCase } from "./support/wild_names.ts";
import { domainCase, DomainSweep, statusXml } from "./support/domain_sweep.ts";
import { QemuLab } from "./support/qemu_lab.ts";
import { runCli } from "./support/cli.ts";
import { startWatch } from "./support/watch.ts";
import { printable } from "../lib/render/printable.ts";

/**
 * Cases of the sweep in the suite (about 0.6 s each); `deno task fuzz --names` runs hundreds. A
 * failing case is reported as found, not shrunk: each try is a round of real QEMU commands.
 */
const SUITE_CASES = 24;
/** Domains read back through the status XML reader: no QEMU, so many more. */
const DOMAIN_CASES = 300;
const SEED = Number(Deno.env.get("YANK_NAMES_SEED") ?? 18_2026);

Deno.test("odd but legal names reach list, the yank forms, check and watch verbatim", async () => {
  await using sweep = await NameSweep.start();
  await fc.assert(
    fc.asyncProperty(nameCase(), (c) => sweep.run(c)),
    { seed: SEED, numRuns: SUITE_CASES, endOnFailure: true },
  );
});

Deno.test("odd but legal libvirt domain names, disk targets and monitor paths are read verbatim", async () => {
  await using sweep = await DomainSweep.start();
  await fc.assert(
    fc.asyncProperty(domainCase(), (c) => sweep.run(c)),
    { seed: SEED, numRuns: DOMAIN_CASES },
  );
});

// Runs the CLI with a private /run in which the sweep's directory stands for libvirt's
// /run/libvirt/qemu; $0 is that directory, the rest the CLI's argv.
const PRIVATE_LIBVIRT_RUN = String.raw`set -eu
mount -n -t tmpfs yank-run /run
mkdir -p /run/libvirt/qemu
mount -n --bind "$0" /run/libvirt/qemu
exec "$@"`;

Deno.test("--domain with odd but legal domain names, through the real CLI and a real QEMU", async () => {
  await using lab = await QemuLab.create();
  const [monitor] = fc.sample(fileName(40), { seed: SEED, numRuns: 1 });
  const socket = lab.path(monitor!);
  await lab.startQemu({
    args: [
      "-chardev",
      `socket,id=yankmon,path=${socket.replaceAll(",", ",,")},server=on,wait=off`,
      "-mon",
      "chardev=yankmon,mode=control",
    ],
  });
  await using domains = await DomainSweep.start();
  const names = fc.sample(domainName(), { seed: SEED, numRuns: 3 });
  const wrapper = [
    "unshare",
    "-m",
    "--propagation",
    "private",
    "sh",
    "-c",
    PRIVATE_LIBVIRT_RUN,
    domains.runDir,
  ];
  for (const [i, name] of names.entries()) {
    const c = { name, monitor: "", form: "chardev" as const, chardev: `yankmon`, disks: [] };
    await Deno.writeTextFile(`${domains.runDir}/${name}.xml`, statusXml(c, socket));
    const list = await runCli(["list", "--json", "--domain", name], { wrapper });
    const describe = `${JSON.stringify(name)}: exit ${list.code}\n${list.stdout}${list.stderr}`;
    assert.equal(list.code, 0, describe);
    const ids = JSON.parse(list.stdout).map((item: { id?: string }) => item.id);
    assert.ok(ids.includes("yankmon") && ids.includes("compat_monitor0"), describe);
    if (i > 0) continue;
    const gone = `${name}-gone`;
    const check = await runCli(["check", "--domain", name, "--domain", gone], { wrapper });
    const said = `${check.stdout}${check.stderr}`;
    assert.equal(check.code, 3, said);
    assert.match(check.stdout, /^YANK UNKNOWN - /, said);
    assert.ok(check.stdout.includes(printable(JSON.stringify(gone))), said);
    assert.doesNotMatch(said, /Internal error/);
    // Globs never match a monitor's chardev: nothing to yank here, and the documented exit 3.
    const plan = await runCli(["--domain", name, "--chardev", "*", "--dry-run"], { wrapper });
    assert.equal(plan.code, 3, `${plan.stdout}${plan.stderr}`);
    assert.equal(plan.stdout, "");
    const watch = await startWatch({ domain: name }, { limits: { wrapper }, untilMs: 30_000 });
    const watched = await watch.stop();
    assert.equal(watched.code, 0, watched.stderr);
    assert.doesNotMatch(watched.stderr, /Internal error|state=(unwatchable|restarting)/);
  }
});
