/**
 * Colour only on a terminal, never with NO_COLOR set or when piped: main() run in-process with
 * a fake CliIo against real QEMU, and once for real under a pseudo-terminal (util-linux script).
 */

import assert from "node:assert/strict";
import { main } from "../lib/cli/main.ts";
import type { CliIo } from "../lib/cli/io.ts";
import { chardevConnectedToPeer, QemuLab } from "./support/qemu_lab.ts";
import { alignedTable } from "./support/table.ts";
import { compilePermissionFlags } from "./support/cli.ts";

const ESC = "\x1b";

interface Captured {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs main() in-process with the given terminal flags and NO_COLOR value. */
async function runMain(
  args: string[],
  options: { terminal: boolean; noColor?: string },
): Promise<Captured> {
  let stdout = "";
  let stderr = "";
  const io: CliIo = {
    stdout: (text) => stdout += text,
    stderr: (text) => stderr += text,
    env: (name) => name === "NO_COLOR" ? options.noColor : undefined,
    stdoutIsTerminal: options.terminal,
    stderrIsTerminal: options.terminal,
    now: () => Date.now(),
  };
  const code = await main(args, io);
  return { code, stdout, stderr };
}

// deno-lint-ignore no-control-regex -- removing escape sequences is the point.
const stripSgr = (text: string) => text.replace(/\x1b\[\d+m/g, "");

Deno.test("colour is used on a terminal only, and never with NO_COLOR", async (t) => {
  await using lab = await QemuLab.create();
  const { qemu, peer } = await chardevConnectedToPeer(lab);
  const list = ["list", "--socket", qemu.socket];
  const table = alignedTable([
    ["TYPE", "NAME", "PEER", "DISK"],
    ["chardev", "compat_monitor0", `unix:${qemu.socket} (listening, connected)`, "-"],
    ["chardev", "charnet0", `127.0.0.1:${peer.port}`, "-"],
  ]);
  const piped = await runMain(list, { terminal: false });
  assert.equal(piped.code, 0);

  await t.step("piped: no escape sequence at all", () => {
    assert.ok(!piped.stdout.includes(ESC), JSON.stringify(piped.stdout));
    assert.equal(piped.stdout, table);
  });

  await t.step("terminal: the header is bold, the columns align as when piped", async () => {
    const run = await runMain(list, { terminal: true });
    assert.equal(run.code, 0);
    const [head, ...rows] = run.stdout.split("\n");
    assert.ok(head!.startsWith(`${ESC}[1mTYPE${ESC}[22m     ${ESC}[1mNAME${ESC}[22m`), head);
    assert.ok(!rows.join("\n").includes(ESC), "only the header is styled");
    assert.equal(stripSgr(run.stdout), piped.stdout);
  });

  await t.step("terminal with NO_COLOR=1: no escape sequence", async () => {
    const run = await runMain(list, { terminal: true, noColor: "1" });
    assert.equal(run.stdout, piped.stdout);
  });

  await t.step(
    "terminal with NO_COLOR empty: colour (an empty NO_COLOR does not count)",
    async () => {
      const run = await runMain(list, { terminal: true, noColor: "" });
      assert.ok(run.stdout.includes(`${ESC}[1m`));
    },
  );

  await t.step("a failure: red yank: on a terminal, plain when piped or NO_COLOR", async () => {
    const args = ["chardev", "nosuch", "--socket", qemu.socket];
    const terminal = await runMain(args, { terminal: true });
    assert.equal(terminal.code, 3);
    const red = `${ESC}[31myank:${ESC}[39m `;
    assert.ok(terminal.stderr.startsWith(`${red}No yank instance chardev "nosuch"`));
    assert.equal(terminal.stderr.split("\n").length, 2, "still one line");
    const plain = await runMain(args, { terminal: false });
    assert.equal(plain.stderr, stripSgr(terminal.stderr));
    assert.ok(!plain.stderr.includes(ESC));
    const noColor = await runMain(args, { terminal: true, noColor: "1" });
    assert.equal(noColor.stderr, plain.stderr);
  });

  await t.step("a usage error: red yank: on a terminal too", async () => {
    const run = await runMain(["chardev"], { terminal: true });
    assert.equal(run.code, 2);
    assert.ok(run.stderr.startsWith(`${ESC}[31myank:${ESC}[39m "yank chardev" needs`));
  });

  await t.step("yanked is green on a terminal; --dry-run and --json stay plain", async () => {
    const dry = await runMain(["chardev", "charnet0", "--dry-run", "--socket", qemu.socket], {
      terminal: true,
    });
    assert.equal(dry.stdout, "would yank chardev charnet0\n");
    const json = await runMain(["chardev", "charnet0", "--json", "--socket", qemu.socket], {
      terminal: true,
    });
    assert.ok(!json.stdout.includes(ESC));
    const run = await runMain(["chardev", "charnet0", "--socket", qemu.socket], {
      terminal: true,
    });
    assert.equal(run.stdout, `${ESC}[32myanked${ESC}[39m chardev charnet0\n`);
  });
});

Deno.test("under a real pseudo-terminal the header is bold, unless NO_COLOR is set", async () => {
  await using lab = await QemuLab.create();
  const { qemu, peer } = await chardevConnectedToPeer(lab);
  const main = new URL("../main.ts", import.meta.url).pathname;
  const quote = (word: string) => `'${word.replace(/'/g, `'\\''`)}'`;
  const line = [Deno.execPath(), "run", "--quiet", ...compilePermissionFlags(), main, "list"]
    .map(quote).join(" ");
  const underPty = async (env: Record<string, string>) => {
    const output = await new Deno.Command("script", {
      args: ["-qec", line, "/dev/null"],
      env: { PATH: Deno.env.get("PATH") ?? "", YANK_SOCKET: qemu.socket, ...env },
      clearEnv: true,
      stdin: "null",
    }).output();
    assert.ok(output.success, new TextDecoder().decode(output.stderr));
    return new TextDecoder().decode(output.stdout).replace(/\r\n/g, "\n");
  };
  const colour = await underPty({});
  assert.ok(colour.startsWith(`${ESC}[1mTYPE${ESC}[22m`), JSON.stringify(colour));
  const plain = await underPty({ NO_COLOR: "1" });
  assert.equal(
    plain,
    alignedTable([
      ["TYPE", "NAME", "PEER", "DISK"],
      ["chardev", "compat_monitor0", `unix:${qemu.socket} (listening, connected)`, "-"],
      ["chardev", "charnet0", `127.0.0.1:${peer.port}`, "-"],
    ]),
  );
});
