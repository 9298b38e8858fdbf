/**
 * The CLI's entry (lib/cli/main.ts): data on stdout and one line per failure on stderr, never a
 * stack trace, an exit code kept when output cannot be written; and what Deno reads when yank
 * starts: the one-shot commands (list, the yank forms, check) load no `node:` module and no npm
 * package, which would boot Deno's Node compatibility layer, and the modules only some runs need
 * (help, --domain, check, watch, completions) are not read ahead.
 */

import assert from "node:assert/strict";
import { alignedTable } from "./support/table.ts";
import { LAZY_MODULES, main } from "../lib/cli/main.ts";
import { captureIo } from "./support/capture_io.ts";
import { startFakeQmp } from "./support/fake_qmp.ts";
import {
  compilePermissionFlags,
  runCli,
  STARTUP_ALLOWANCE_MS,
  TIMEOUT_ALLOWANCE_MS,
} from "./support/cli.ts";
import { moduleGraph, nodeModulesLoaded, withoutNpm } from "./support/without_npm.ts";
import { chardevConnectedToPeer, QemuLab } from "./support/qemu_lab.ts";

const ROOT = new URL("../", import.meta.url);
const CLI = new URL("lib/cli/", ROOT);

Deno.test("the one-shot paths load no node: module and no npm package", async (t) => {
  await t.step("list and the yank forms: main.ts and what it reads at start-up", async () => {
    const graph = await moduleGraph(new URL("main.ts", ROOT));
    assert.ok(graph.modules.some((m) => m.endsWith("/lib/cli/commands/list.ts")));
    assert.deepEqual(graph.nodeOrNpm, []);
  });
  await t.step("check: the command's module and what it imports", async () => {
    const graph = await moduleGraph(new URL(LAZY_MODULES.check, CLI));
    assert.ok(graph.modules.some((m) => m.endsWith("/lib/health/probe.ts")));
    assert.deepEqual(graph.nodeOrNpm, []);
  });
  await t.step(
    "the check itself finds a node: or npm: import, static or literal dynamic",
    async () => {
      const dir = await Deno.makeTempDir({ prefix: "yank-graph-" });
      try {
        await Deno.writeTextFile(`${dir}/util.ts`, 'import "node:util";\n');
        await Deno.writeTextFile(
          `${dir}/entry.ts`,
          'import "./util.ts";\nif (Deno.args.length > 9) await import("node:fs");\n',
        );
        assert.deepEqual((await moduleGraph(`${dir}/entry.ts`)).nodeOrNpm, [
          "node:fs",
          "node:util",
        ]);
      } finally {
        await Deno.remove(dir, { recursive: true });
      }
    },
  );
});

Deno.test("list, the yank forms and check, run against QEMU, load no Node or npm module", async (t) => {
  await using lab = await QemuLab.create();
  const { qemu } = await chardevConnectedToPeer(lab);
  // Where no npm package can be had, too: a path that needed one would fail.
  await using noNpm = await withoutNpm();
  const runs: [string, string[], (stdout: string) => boolean][] = [
    ["list --json", ["list", "--json"], (out) => JSON.parse(out).length === 2],
    ["list (the table)", ["list"], (out) => out.startsWith("TYPE")],
    ["a dry run", ["chardev", "charnet0", "--dry-run"], (out) => out.startsWith("would yank")],
    ["a yank", ["chardev", "charnet0"], (out) => out === "yanked chardev charnet0\n"],
    ["check", ["check"], (out) => out.startsWith("YANK OK")],
    ["a usage error", ["list", "--bogus"], (out) => out === ""],
  ];
  for (const [label, args, expected] of runs) {
    await t.step(label, async () => {
      const run = await nodeModulesLoaded([...args, "--socket", qemu.socket], { env: noNpm.env });
      assert.ok(expected(run.stdout), `exit ${run.code}: ${run.stdout}`);
      assert.deepEqual(run.modules, []);
    });
  }
  await t.step("the check itself sees Node's modules, even behind a computed import", async () => {
    const entry = lab.path("computed_import.ts");
    await Deno.writeTextFile(entry, 'const name = "node:" + "util";\nawait import(name);\n');
    const run = await nodeModulesLoaded([], { entry });
    assert.equal(run.code, 0);
    assert.ok(run.modules.includes("ext:deno_node/util.ts"), run.modules.join(" "));
  });
});

Deno.test("modules only some runs need are not read at start-up", async (t) => {
  const startUp = (await moduleGraph(new URL("main.ts", ROOT))).modules;
  for (const [name, path] of Object.entries(LAZY_MODULES)) {
    await t.step(`${name} (${path}) is loaded when used, and compiled in`, () => {
      const url = new URL(path, CLI).href;
      assert.ok(!startUp.includes(url), `${url} is read at start-up`);
      const config = JSON.parse(Deno.readTextFileSync(new URL("deno.json", ROOT)));
      const included = [...config.tasks.compile.matchAll(/--include (\S+)/g)].map((m) => m[1]);
      assert.ok(
        included.map((file: string) => new URL(file, ROOT).href).includes(url),
        `the compile task lacks --include for ${path}`,
      );
    });
  }
});

/** The outcome of one in-process run. */
interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

async function runMain(args: string[], env: Record<string, string> = {}): Promise<Run> {
  const io = captureIo(env);
  const code = await main(args, io);
  return { code, ...io.out };
}

/** Asserts exactly one stderr line, starting "yank: ", that matches `pattern`. */
function assertOneError(stderr: string, pattern: RegExp): void {
  const lines = stderr.split("\n");
  assert.equal(lines.length, 2, `one line expected, got ${JSON.stringify(stderr)}`);
  assert.equal(lines[1], "");
  assert.match(lines[0]!, /^yank: /);
  assert.match(lines[0]!, pattern);
}

/** Asserts nothing looks like a stack trace or an uncaught error. */
function assertNoStackTrace(stderr: string): void {
  assert.doesNotMatch(stderr, /^\s+at /m);
  assert.doesNotMatch(stderr, /error: Uncaught/);
  assert.doesNotMatch(stderr, /Internal error/);
}

const NOT_FOUND = { error: { class: "CommandNotFound", desc: "not found" } } as const;

Deno.test("main() prints data on stdout and one line per failure on stderr", async (t) => {
  await t.step("exit 0: yank list prints a table", async () => {
    await using fake = await startFakeQmp({});
    const { path } = fake;
    const run = await runMain(["list", "--socket", path]);
    assert.deepEqual(run, {
      code: 0,
      stdout: alignedTable([
        ["TYPE", "NAME", "PEER", "DISK"],
        ["chardev", "compat_monitor0", "-", "-"],
        ["chardev", "charnet0", "-", "-"],
        ["block-node", "nbd0", "-", "-"],
      ]),
      stderr: "",
    });
  });

  await t.step("exit 0: yank chardev prints what it yanked", async () => {
    await using fake = await startFakeQmp({});
    const { path } = fake;
    const run = await runMain(["chardev", "charnet0", "--socket", path]);
    assert.deepEqual(run, { code: 0, stdout: "yanked chardev charnet0\n", stderr: "" });
  });

  await t.step("exit 0 with a warning line when the monitor offers no oob", async () => {
    await using fake = await startFakeQmp({ capabilities: [] });
    const { path } = fake;
    const run = await runMain(["list", "--json", "--socket", path]);
    assert.equal(run.code, 0);
    assert.equal(JSON.parse(run.stdout).length, 3);
    assertOneError(run.stderr, /^yank: warning: .* does not offer out-of-band execution/);
  });

  await t.step("exit 1: QEMU refuses the yank", async () => {
    await using fake = await startFakeQmp({
      reply: (c) =>
        c.name === "yank" ? { error: { class: "GenericError", desc: "nope" } } : undefined,
    });
    const { path } = fake;
    const run = await runMain(["chardev", "charnet0", "--socket", path]);
    assert.equal(run.code, 1);
    assert.equal(run.stdout, "");
    assertOneError(run.stderr, /refused yank: GenericError: nope/);
    assert.ok(run.stderr.includes(JSON.stringify(path)));
  });

  await t.step("exit 2: a usage error", async () => {
    const run = await runMain(["list", "--bogus"]);
    assert.equal(run.code, 2);
    assert.equal(run.stdout, "");
    assertOneError(run.stderr, /Unknown option "--bogus"/);
  });

  await t.step("exit 3: a name that matches nothing", async () => {
    await using fake = await startFakeQmp({});
    const { path } = fake;
    const run = await runMain(["chardev", "nope", "--socket", path]);
    assert.equal(run.code, 3);
    assert.equal(run.stdout, "");
    assertOneError(run.stderr, /No yank instance chardev "nope" on ".*qmp\.sock"/);
  });

  await t.step("exit 3: an instance that vanished before the yank", async () => {
    await using fake = await startFakeQmp({
      instances: [{ type: "migration" }],
      reply: (command, connection) => {
        if (command.name === "yank") connection.server.instances = [];
        return undefined;
      },
    });
    const { path } = fake;
    const run = await runMain(["migration", "--socket", path]);
    assert.equal(run.code, 3);
    assertOneError(run.stderr, /No yank instance migration .* any more/);
  });

  await t.step("exit 4: no such socket", async () => {
    const run = await runMain(["list", "--socket", "/nonexistent/yank-test.qmp"]);
    assert.deepEqual(run.code, 4);
    assert.equal(run.stdout, "");
    assertOneError(run.stderr, /Cannot connect to "\/nonexistent\/yank-test\.qmp": no such file/);
  });

  await t.step("exit 4: not a QMP server", async () => {
    await using fake = await startFakeQmp({ greeting: "SSH-2.0-OpenSSH\r\n" });
    const { path } = fake;
    const run = await runMain(["list", "--socket", path]);
    assert.equal(run.code, 4);
    assertOneError(run.stderr, /does not speak QMP/);
    assert.ok(run.stderr.includes(JSON.stringify(path)));
  });

  await t.step("exit 4: the connection is lost mid-command", async () => {
    await using fake = await startFakeQmp({
      reply: (c) => c.name === "query-yank" ? { close: true } : undefined,
    });
    const { path } = fake;
    const run = await runMain(["list", "--socket", path]);
    assert.equal(run.code, 4);
    assertOneError(run.stderr, /was lost while waiting for the reply to query-yank/);
  });

  await t.step("exit 5: a busy monitor (no greeting)", async () => {
    await using fake = await startFakeQmp({ greeting: null });
    const { path } = fake;
    const run = await runMain(["list", "--socket", path, "--timeout", "0.3"]);
    assert.equal(run.code, 5);
    assertOneError(
      run.stderr,
      /is busy or QEMU is still starting: connected, but no QMP greeting within 0\.3 s/,
    );
  });

  await t.step("exit 5: a hung main loop (no capabilities reply)", async () => {
    await using fake = await startFakeQmp({
      reply: (c) => c.name === "qmp_capabilities" ? { silent: true } : undefined,
    });
    const { path } = fake;
    const run = await runMain(["list", "--socket", path, "--timeout", "0.3"]);
    assert.equal(run.code, 5);
    assertOneError(run.stderr, /main loop is hung: .* did not answer qmp_capabilities/);
  });

  await t.step("exit 6: a QEMU without yank", async () => {
    await using fake = await startFakeQmp({
      version: { major: 5, minor: 2, micro: 0 },
      reply: (c) => c.name === "query-yank" ? NOT_FOUND : undefined,
    });
    const { path } = fake;
    const run = await runMain(["list", "--socket", path]);
    assert.equal(run.code, 6);
    assertOneError(run.stderr, /QEMU 5\.2\.0 at .* does not support yank/);
  });

  await t.step("several sockets: each failure is one line, the worst exit code wins", async () => {
    await using good = await startFakeQmp();
    await using busy = await startFakeQmp({ greeting: null });
    const run = await runMain([
      "list",
      "--json",
      "-t",
      "0.3",
      "-s",
      good.path,
      "-s",
      busy.path,
      "-s",
      "/nonexistent/x.qmp",
    ]);
    assert.equal(run.code, 5);
    const items = JSON.parse(run.stdout);
    assert.equal(items.length, 3);
    assert.equal(items[0].socket, good.path);
    const lines = run.stderr.trimEnd().split("\n");
    assert.equal(lines.length, 2);
    assert.match(lines[0]!, /^yank: The monitor .* is busy/);
    assert.match(lines[1]!, /^yank: Cannot connect to "\/nonexistent\/x\.qmp"/);
  });

  await t.step("YANK_SOCKET names the socket when --socket is absent", async () => {
    await using fake = await startFakeQmp({});
    const { path } = fake;
    const run = await runMain(["list", "--json"], { YANK_SOCKET: path });
    assert.equal(run.code, 0);
    assert.equal(JSON.parse(run.stdout).length, 3);
  });

  for (const code of [0, 1, 2, 3, 4, 5, 6]) {
    await t.step(`help lists exit code ${code}`, async () => {
      const run = await runMain(["--help"]);
      assert.match(run.stdout, new RegExp(`^  ${code}  `, "m"));
    });
  }
});

Deno.test("the spawned CLI never shows a stack trace", async (t) => {
  await t.step("usage error: exit 2, one line", async () => {
    const run = await runCli(["chardev", "[abc", "--socket", "/x.qmp"]);
    assert.equal(run.code, 2);
    assert.equal(run.stdout, "");
    assertOneError(run.stderr, /unclosed "\["/);
    assertNoStackTrace(run.stderr);
  });

  await t.step("list against a fake QEMU: exit 0, a table", async () => {
    await using fake = await startFakeQmp({});
    const { path } = fake;
    const run = await runCli(["list", "--socket", path]);
    assert.equal(run.stderr, "");
    assert.equal(run.code, 0);
    assert.match(run.stdout, /^TYPE {8}NAME {13}PEER {2}DISK\n/);
  });

  await t.step("garbage: exit 4, one line naming the socket", async () => {
    await using fake = await startFakeQmp({ greeting: "\x00\xff garbage" });
    const { path } = fake;
    const run = await runCli(["list", "--socket", path]);
    assert.equal(run.code, 4);
    assertOneError(run.stderr, /does not speak QMP/);
    assert.ok(run.stderr.includes(path));
    assertNoStackTrace(run.stderr);
  });

  await t.step("busy monitor: exit 5 within --timeout", async () => {
    await using fake = await startFakeQmp({ greeting: null });
    const { path } = fake;
    const run = await runCli(["chardev", "x", "--socket", path, "--timeout", "0.5"]);
    assert.equal(run.code, 5);
    assertOneError(run.stderr, /is busy/);
    assertNoStackTrace(run.stderr);
    const limit = 500 + TIMEOUT_ALLOWANCE_MS + STARTUP_ALLOWANCE_MS;
    assert.ok(run.elapsedMs < limit, `took ${run.elapsedMs} ms`);
  });

  await t.step("a socket path that is a directory: exit 4, one line", async () => {
    const dir = await Deno.makeTempDir();
    try {
      const run = await runCli(["list", "--socket", dir]);
      assert.equal(run.code, 4);
      assertOneError(run.stderr, /Cannot connect/);
      assertNoStackTrace(run.stderr);
    } finally {
      await Deno.remove(dir);
    }
  });
});

Deno.test("output that cannot be written keeps its exit code and blames no bug", async (t) => {
  const flags = compilePermissionFlags().join(" ");
  const main = new URL("../main.ts", import.meta.url).pathname;
  const shell = async (redirect: string, socket: string) => {
    const output = await new Deno.Command("bash", {
      args: [
        "-c",
        `"${Deno.execPath()}" run --quiet ${flags} "${main}" list -s "${socket}" ${redirect}`,
      ],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).output();
    return { code: output.code, stderr: new TextDecoder().decode(output.stderr) };
  };
  await using fake = await startFakeQmp();

  await t.step("stdout on a full disk: exit 1, says so", async () => {
    const run = await shell(">/dev/full", fake.path);
    assert.equal(run.code, 1);
    assertOneError(run.stderr, /^yank: Cannot write to standard output: No space left on device/);
    assert.doesNotMatch(run.stderr, /Internal error/);
  });

  await t.step("stderr closed by its reader: the documented exit code stays", async () => {
    const run = await shell("2>&1 | head -c 0; exit ${PIPESTATUS[0]}", `${fake.path}.missing`);
    assert.equal(run.code, 4);
  });

  await t.step("stdout closed by its reader: exit 0", async () => {
    const run = await shell("| head -c 0; exit ${PIPESTATUS[0]}", fake.path);
    assert.equal(run.code, 0);
  });
});
