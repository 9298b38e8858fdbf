/**
 * `yank check` (lib/cli/commands/check.ts) where sockets or domains are missing.
 *
 * `check --domain` with a domain that is not there: the missing domain is UNKNOWN, combined
 * with the sockets' states in the Monitoring Plugins' order (CRITICAL > WARNING > UNKNOWN > OK),
 * and stdout's status line always says the state the exit code says. The domain lookup runs
 * against the host's real libvirt run directory; the monitors are fake.
 *
 * On a host where a glob matches no monitor (every VM stopped): OK, said in one line, and never
 * a Prometheus series labelled with the glob itself.
 */

import assert from "node:assert/strict";
import { runCli, runMain } from "./support/cli.ts";
import { startFakeQmp } from "./support/fake_qmp.ts";
import { QemuLab } from "./support/qemu_lab.ts";

const MISSING = `yank-test-absent-${crypto.randomUUID().slice(0, 8)}`;
const EXIT: Record<string, number> = { OK: 0, WARNING: 1, CRITICAL: 2, UNKNOWN: 3 };

function statusState(stdout: string): string | undefined {
  const lines = stdout.split("\n").filter((line) => line.startsWith("YANK "));
  assert.equal(lines.length, 1, stdout);
  assert.ok(stdout.startsWith("YANK "), stdout);
  return /^YANK (OK|WARNING|CRITICAL|UNKNOWN) - /.exec(lines[0]!)?.[1];
}

Deno.test("check --domain with nothing resolved: one YANK UNKNOWN line, exit 3", async () => {
  const run = await runMain(["check", "--domain", MISSING]);
  assert.equal(run.code, 3);
  assert.equal(statusState(run.stdout), "UNKNOWN");
  assert.ok(run.stdout.includes(MISSING), run.stdout);
});

Deno.test("check --domain missing beside sockets: worst state first, stdout and exit agree", async (t) => {
  await using ok = await startFakeQmp();
  await using noOob = await startFakeQmp({ capabilities: [] });
  const cases: [string, string[], string][] = [
    ["an OK socket and a missing domain are UNKNOWN", ["--socket", ok.path], "UNKNOWN"],
    ["a WARNING socket outranks the missing domain", ["--socket", noOob.path], "WARNING"],
    ["a CRITICAL socket outranks it too", ["--socket", `${ok.path}.none`], "CRITICAL"],
  ];
  for (const [name, sockets, state] of cases) {
    await t.step(name, async () => {
      for (const format of [[], ["--format", "json"]]) {
        const run = await runMain(["check", ...format, ...sockets, "--domain", MISSING]);
        assert.equal(run.code, EXIT[state], `${run.stdout}${run.stderr}`);
        if (format.length === 0) assert.equal(statusState(run.stdout), state);
        else {
          const reports = JSON.parse(run.stdout);
          assert.ok(JSON.stringify(reports).includes(MISSING), run.stdout);
        }
      }
    });
  }
});

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
