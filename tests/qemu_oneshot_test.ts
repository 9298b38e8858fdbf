/**
 * What an operator meets with the one-shot commands against real QEMU 7.2: deep socket paths,
 * socket names with glob characters, monitors that are busy for a moment, one monitor under
 * several spellings, unreadable directories, and a QEMU that has not finished starting.
 */

import assert from "node:assert/strict";
import { columnsBefore, withoutPeers } from "./support/table.ts";
import { runCli } from "./support/cli.ts";
import { startWatch } from "./support/watch.ts";
import { chardevConnectedToPeer, QemuLab } from "./support/qemu_lab.ts";

function assertOneLine(stderr: string, ...fragments: string[]): void {
  assert.equal(stderr.split("\n").filter((l) => l !== "").length, 1, `one line: ${stderr}`);
  assert.match(stderr, /^yank: /);
  for (const fragment of fragments) {
    assert.ok(stderr.includes(fragment), `"${fragment}" in ${stderr}`);
  }
}

/** A directory under the lab whose path alone is longer than a socket address holds. */
async function deepDir(lab: QemuLab): Promise<string> {
  const deep = lab.path(`${"d".repeat(60)}/${"e".repeat(60)}`);
  await Deno.mkdir(deep, { recursive: true });
  return deep;
}

Deno.test("a socket path over 108 bytes is reached like any other", async (t) => {
  await using lab = await QemuLab.create();
  const deep = await deepDir(lab);
  // QEMU cannot bind the long path itself: it binds through a short symlink to the directory.
  await Deno.symlink(deep, lab.path("short"));
  const { qemu } = await chardevConnectedToPeer(lab);
  const peerless = await lab.startQemu({ socket: lab.path("short/vm.qmp") });
  const socket = `${deep}/vm.qmp`;
  const link = `${deep}/link-to-vm1.qmp`;
  await Deno.symlink(qemu.socket, link);
  assert.ok(new TextEncoder().encode(socket).length > 108);
  assert.equal(Deno.statSync(socket).isSocket, true);
  const before = shortcuts(lab.dir);

  await t.step("list through a long path that is the socket itself", async () => {
    const run = await runCli(["list", "--socket", socket]);
    assert.equal(run.stderr, "");
    assert.equal(run.code, 0);
    assert.equal(columnsBefore(run.stdout, "PEER"), "TYPE     NAME\nchardev  compat_monitor0\n");
  });

  await t.step("yank through a long symlink to a short socket", async () => {
    const run = await runCli(["chardev", "charnet0", "--socket", link]);
    assert.equal(run.stderr, "");
    assert.equal(run.code, 0);
    assert.equal(run.stdout, "yanked chardev charnet0\n");
  });

  await t.step("check calls it OK", async () => {
    const run = await runCli(["check", "--socket", socket]);
    assert.equal(run.code, 0, run.stdout);
    assert.match(run.stdout, /^YANK OK - main loop answered/);
  });

  await t.step(
    "a long path that does not exist is 'no such file', not an address error",
    async () => {
      const run = await runCli(["list", "--socket", `${deep}/missing.qmp`]);
      assert.equal(run.code, 4);
      assertOneLine(run.stderr, "no such file");
    },
  );

  await t.step("watch connects through it", async () => {
    const watch = await startWatch({ socket }, { until: /state=connected /, untilMs: 15_000 });
    const end = await watch.stop();
    assert.equal(end.code, 0, end.stderr);
  });

  await t.step("no temporary symlink is left behind", () => {
    assert.deepEqual(shortcuts(lab.dir).filter((name) => !before.includes(name)), []);
  });
  void peerless;
});

/**
 * The private directories that hold a shortcut symlink to a long socket path under `labDir`
 * (other test files, running at the same time, may have their own).
 */
function shortcuts(labDir: string): string[] {
  const tmp = Deno.env.get("TMPDIR") ?? "/tmp";
  return [...Deno.readDirSync(tmp)].map((e) => e.name).filter((name) => {
    try {
      return name.startsWith("yank-") && Deno.readLinkSync(`${tmp}/${name}/s`).startsWith(labDir);
    } catch {
      return false;
    }
  });
}

Deno.test("a socket whose name holds glob characters is that socket, one named socket", async (t) => {
  await using lab = await QemuLab.create();
  const names = ["br[1].sock", "vm*.sock", "what?.sock", "back\\slash.sock"];
  for (const name of names) await lab.startQemu({ socket: lab.path(name) });
  for (const name of names) {
    await t.step(`list --socket '${name}'`, async () => {
      const run = await runCli(["list", "--socket", lab.path(name)]);
      assert.equal(run.stderr, "");
      assert.equal(run.code, 0);
      // One named socket: no SOCKET column.
      assert.equal(columnsBefore(run.stdout, "PEER"), "TYPE     NAME\nchardev  compat_monitor0\n");
    });
  }
  await t.step("a pattern that names no file is still a glob", async () => {
    const run = await runCli(["list", "--socket", lab.path("*.sock"), "--json"]);
    assert.equal(run.stderr, "");
    assert.equal(run.code, 0);
    const sockets = (JSON.parse(run.stdout) as { socket: string }[]).map((i) => i.socket);
    assert.deepEqual(sockets, names.map((n) => lab.path(n)).sort());
  });
});

Deno.test("ten one-shot commands started at once on one monitor all succeed", async () => {
  await using lab = await QemuLab.create();
  const qemu = await lab.startQemu();
  const runs = await Promise.all(
    Array.from({ length: 10 }, () => runCli(["list", "--socket", qemu.socket, "--timeout", "5"])),
  );
  for (const run of runs) {
    assert.equal(run.stderr, "");
    assert.equal(run.code, 0);
  }
});

Deno.test("a monitor whose queue is full for a moment is waited for, within --timeout", async () => {
  await using lab = await QemuLab.create();
  const qemu = await lab.startQemu();
  // One client holds the monitor and connections wait behind it until the queue is full.
  const holder = await lab.qmp(qemu.socket);
  const queued: Deno.UnixConn[] = [];
  for (;;) {
    try {
      queued.push(await Deno.connect({ transport: "unix", path: qemu.socket }));
    } catch (error) {
      assert.ok(error instanceof Deno.errors.WouldBlock, String(error));
      break;
    }
    assert.ok(queued.length < 10, "the queue never filled");
  }
  const run = runCli(["list", "--socket", qemu.socket, "--timeout", "10"]);
  // Released only after the CLI has met the full queue (it starts in well under 3 s).
  await new Promise((resolve) => setTimeout(resolve, 3000));
  holder.close();
  for (const conn of queued) conn.close();
  const done = await run;
  assert.equal(done.stderr, "");
  assert.equal(done.code, 0);
  assert.match(done.stdout, /compat_monitor0/);
});

Deno.test("a queue that stays full is 'busy' after --timeout, saying how long yank tried", async () => {
  await using lab = await QemuLab.create();
  const qemu = await lab.startQemu();
  await lab.qmp(qemu.socket);
  const queued: Deno.UnixConn[] = [];
  try {
    for (;;) queued.push(await Deno.connect({ transport: "unix", path: qemu.socket }));
  } catch {
    // Full.
  }
  try {
    const run = await runCli(["list", "--socket", qemu.socket, "--timeout", "1"]);
    assert.equal(run.code, 5);
    assertOneLine(run.stderr, "is busy", "stayed full for 1 s", qemu.socket);
    assert.ok(run.elapsedMs >= 1000, `gave up after ${run.elapsedMs} ms`);
  } finally {
    for (const conn of queued) conn.close();
  }
});

Deno.test("one monitor under several spellings is contacted once", async (t) => {
  await using lab = await QemuLab.create();
  const { qemu, peer } = await chardevConnectedToPeer(lab);
  const link = lab.path("alias.qmp");
  await Deno.symlink(qemu.socket, link);
  const dotted = qemu.socket.replace(/\/([^/]+)$/, "/./$1");
  const spellings = ["--socket", qemu.socket, "--socket", dotted, "--socket", link];

  await t.step("list: its instances once", async () => {
    const run = await runCli(["list", ...spellings, "--json"]);
    assert.equal(run.stderr, "");
    assert.equal(run.code, 0);
    assert.deepEqual(withoutPeers(JSON.parse(run.stdout)), [
      { socket: qemu.socket, type: "chardev", id: "compat_monitor0" },
      { socket: qemu.socket, type: "chardev", id: "charnet0" },
    ]);
  });

  await t.step("a selector yank: sent once", async () => {
    const run = await runCli(["--chardev", "charnet*", ...spellings, "--trace"]);
    assert.equal(run.code, 0, run.stderr);
    assert.equal(run.stdout, `${qemu.socket}: yanked chardev charnet0\n`);
    const yanks = run.stderr.split("\n").filter((l) => /-> \{"exec-oob":"yank"/.test(l));
    assert.equal(yanks.length, 1, run.stderr);
    await peer.closed;
  });
});

Deno.test("one socket with a tiny --timeout is tried, never 'not tried ... 64 at a time'", async () => {
  await using lab = await QemuLab.create();
  const qemu = await lab.startQemu();
  for (const command of ["list", "check"]) {
    const run = await runCli([command, "--socket", qemu.socket, "--timeout", "0.001"]);
    const said = run.stdout + run.stderr;
    assert.doesNotMatch(said, /not tried|at a time/, said);
    // Tried: it answered within a millisecond, or the failure names what happened to it.
    if (run.code !== 0) assert.ok(said.includes(qemu.socket), said);
  }
});

Deno.test("a glob over a directory yank cannot read says permission denied", async (t) => {
  await using lab = await QemuLab.create();
  const hidden = lab.path("hidden");
  await Deno.mkdir(hidden, { mode: 0o700 });
  await lab.startQemu({ socket: `${hidden}/vm.qmp` });
  // Root reads every directory; without CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH it reads only
  // its own, so the directory goes to nobody. setpriv (util-linux) drops those capabilities.
  await Deno.chown(hidden, 65534, null);
  const pattern = `${hidden}/*.qmp`;
  const asUnprivileged = (args: string[]) =>
    runCli(args, { wrapper: ["setpriv", "--bounding-set", "-dac_override,-dac_read_search"] });
  await t.step("list: exit 4, permission denied naming the directory", async () => {
    const run = await asUnprivileged(["list", "--socket", pattern]);
    assert.equal(run.code, 4, run.stderr);
    assert.equal(run.stdout, "");
    assertOneLine(run.stderr, "permission denied", JSON.stringify(hidden));
    assert.doesNotMatch(run.stderr, /no socket matches/);
  });
  await t.step("check: UNKNOWN, not CRITICAL", async () => {
    const run = await asUnprivileged(["check", "--socket", pattern, "--format", "json"]);
    assert.equal(run.code, 3, run.stdout);
    const report = JSON.parse(run.stdout).sockets[0];
    assert.equal(report.state, "UNKNOWN");
    assert.equal(report.reason, "denied");
    assert.match(report.message, /permission denied/);
  });
});

Deno.test("a QEMU still opening an NBD disk at start-up is not blamed on another client", async () => {
  await using lab = await QemuLab.create();
  const nbd = await lab.startNbd();
  await nbd.process.freeze();
  {
    const socket = lab.path("starting.qmp");
    lab.spawn("qemu-system-x86_64", [
      "-M",
      "none",
      "-nodefaults",
      "-display",
      "none",
      "-qmp",
      `unix:${socket},server=on,wait=off`,
      "-blockdev",
      `driver=nbd,node-name=nbd0,server.type=unix,server.path=${nbd.socket}`,
    ]);
    for (let i = 0; i < 500 && !exists(socket); i++) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    const run = await runCli(["list", "--socket", socket, "--timeout", "1"]);
    assert.equal(run.code, 5);
    assertOneLine(run.stderr, "no QMP greeting within 1 s", "still starting");
    assert.doesNotMatch(run.stderr, /another client holds it;/);
  }
});

function exists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}

Deno.test("--json --dry-run marks the plan as a plan; a real yank's JSON is unmarked", async () => {
  await using lab = await QemuLab.create();
  const { qemu, peer } = await chardevConnectedToPeer(lab);
  const plan = await runCli([
    "chardev",
    "charnet*",
    "--socket",
    qemu.socket,
    "--dry-run",
    "--json",
  ]);
  assert.equal(plan.stderr, "");
  assert.equal(plan.code, 0);
  assert.deepEqual(JSON.parse(plan.stdout), [{ type: "chardev", id: "charnet0", "dry-run": true }]);
  const many = await runCli([
    "--chardev",
    "charnet0",
    "--socket",
    qemu.socket,
    "--socket",
    lab.path("*.qmp"),
    "--dry-run",
    "--json",
  ]);
  assert.equal(many.code, 0, many.stderr);
  assert.deepEqual(JSON.parse(many.stdout), [
    { socket: qemu.socket, type: "chardev", id: "charnet0", "dry-run": true },
  ]);
  const real = await runCli(["chardev", "charnet*", "--socket", qemu.socket, "--json"]);
  assert.equal(real.code, 0, real.stderr);
  assert.deepEqual(JSON.parse(real.stdout), [{ type: "chardev", id: "charnet0" }]);
  await peer.closed;
});
