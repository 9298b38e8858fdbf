/**
 * The names sweep: one real QEMU (a paused pc machine with a virtio-scsi bus) and one
 * qemu-storage-daemon serving NBD, reused for every case. A case adds, over QMP, a socket
 * chardev, an NBD node reading an export from the daemon and a scsi-hd disk on it, all named by
 * a NameCase; spells the monitor socket as the case says; runs `list`, `list --json`, the yank
 * forms, `check` (text, json, prometheus) and `watch` in-process; checks that each exits with a
 * documented code, never says "Internal error", and shows every name verbatim (JSON exactly,
 * tables and logs terminal-safe); and removes what it added.
 */

import assert from "node:assert/strict";
import { main } from "../../lib/cli/main.ts";
import { captureIo } from "./capture_io.ts";
import type { QmpClient } from "../../lib/qmp/client.ts";
import { printable } from "../../lib/render/printable.ts";
import { findQemuProcess } from "../../lib/liveness/sample.ts";
import { MONITOR_CHARDEV_PATTERN } from "../../lib/yank/match.ts";
import { type LabProcess, type Qemu, QemuLab } from "./qemu_lab.ts";
import { byteLength, type NameCase } from "./wild_names.ts";

/** What a command printed and returned. */
interface Run {
  args: string[];
  code: number;
  stdout: string;
  stderr: string;
}

// The characters printable() escapes: none may reach a terminal raw.
// deno-lint-ignore no-control-regex -- finding control characters is the point.
const UNSAFE = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/u;

/** Exit codes documented for every command but check, and for check. */
const DOCUMENTED = [0, 1, 2, 3, 4, 5, 6];
const CHECK_DOCUMENTED = [0, 1, 2, 3];

/** The sweep's QEMU and NBD server, reused by every case. */
export class NameSweep implements AsyncDisposable {
  /** Cases run so far. */
  cases = 0;
  #lab: QemuLab;
  #qemu: Qemu;
  #admin: QmpClient;
  #qsd: QmpClient;

  private constructor(
    lab: QemuLab,
    qemu: Qemu,
    admin: QmpClient,
    qsd: QmpClient,
  ) {
    this.#lab = lab;
    this.#qemu = qemu;
    this.#admin = admin;
    this.#qsd = qsd;
  }

  /** Starts QEMU and qemu-storage-daemon in a new lab. */
  static async start(): Promise<NameSweep> {
    const lab = await QemuLab.create();
    try {
      const qemu = await lab.startQemu({
        monitors: 2,
        args: ["-M", "pc", "-S", "-m", "64", "-device", "virtio-scsi-pci,id=scsi0"],
      });
      const admin = await lab.qmp(qemu.extraSockets[0]!);
      const qsdSocket = lab.path("qsd.qmp");
      const qsdProcess = lab.spawn("qemu-storage-daemon", [
        "--blockdev",
        "driver=null-co,node-name=null0,size=1048576,read-zeroes=on",
        "--chardev",
        `socket,id=qsdmon,path=${qsdSocket},server=on,wait=off`,
        "--monitor",
        "chardev=qsdmon",
      ], lab.path("qsd.log"));
      const qsd = await connectWhenUp(lab, qsdSocket, qsdProcess);
      return new NameSweep(lab, qemu, admin, qsd);
    } catch (error) {
      await lab[Symbol.asyncDispose]();
      throw error;
    }
  }

  /** Runs one case; throws an AssertionError naming the command that misbehaved. */
  async run(c: NameCase): Promise<void> {
    const n = ++this.cases;
    // The chardev's socket, the NBD server's and the monitor's spelling each in a directory of
    // their own, so that no two names of a case can meet.
    const dir = this.#lab.path(`c${n}`);
    for (const sub of ["c", "n", "m"]) await Deno.mkdir(`${dir}/${sub}`, { recursive: true });
    const added = { chardev: false, node: false, device: false, export: false, server: false };
    try {
      // The NBD server and its export, then QEMU's node, disk and chardev.
      let server: { type: "unix"; path: string } | { type: "inet"; host: string; port: string };
      if (c.server.type === "unix") {
        server = { type: "unix", path: `${dir}/n/${c.server.name}` };
        await this.#qsd.execute("nbd-server-start", {
          addr: { type: "unix", data: { path: server.path } },
        });
      } else {
        const host = c.server.host;
        server = { type: "inet", host, port: String(await this.#startInetServer(host)) };
      }
      added.server = true;
      await this.#qsd.execute("block-export-add", {
        type: "nbd",
        id: `e${n}`,
        "node-name": "null0",
        name: c.export,
        writable: true,
      });
      added.export = true;
      await this.#admin.execute("blockdev-add", {
        driver: "nbd",
        "node-name": c.node,
        server,
        export: c.export,
      });
      added.node = true;
      await this.#admin.execute("device_add", { driver: "scsi-hd", id: c.device, drive: c.node });
      added.device = true;
      const chardevPath = `${dir}/c/${c.chardevSocket}`;
      await this.#admin.execute("chardev-add", {
        id: c.chardev,
        backend: {
          type: "socket",
          data: { addr: { type: "unix", data: { path: chardevPath } }, server: true, wait: false },
        },
      });
      added.chardev = true;

      const socket = await this.#spell(c, `${dir}/m`);
      // watch judges peers by QEMU's process, found through the listener ss shows: any
      // spelling of the socket must lead to it.
      assert.deepEqual(
        await findQemuProcess(socket),
        { pid: this.#qemu.process.pid },
        `QEMU's process not found through ${JSON.stringify(socket)}`,
      );
      // ss writes the odd path QEMU's chardev listens on as it is: read it back whole.
      assert.deepEqual(
        await findQemuProcess(chardevPath),
        { pid: this.#qemu.process.pid },
        `QEMU's process not found through its chardev's ${JSON.stringify(chardevPath)}`,
      );
      await this.#checkCommands(c, socket, server, chardevPath);
    } finally {
      await this.#remove(c, n, added);
    }
  }

  /**
   * Makes the monitor socket reachable as the case spells it. A relative spelling climbs from
   * the working directory to the root: chdir would move every test file of a parallel run.
   */
  async #spell(c: NameCase, dir: string): Promise<string> {
    const target = this.#qemu.socket;
    const base = target.slice(target.lastIndexOf("/") + 1);
    const [first, second] = c.monitor.names as [string, string];
    switch (c.monitor.kind) {
      case "direct":
        return target;
      case "symlink":
      case "relative": {
        await Deno.mkdir(`${dir}/${first}`);
        await Deno.symlink(target, `${dir}/${first}/${second}`);
        if (c.monitor.kind === "symlink") return `${dir}/${first}/${second}`;
        const up = "../".repeat(Deno.cwd().split("/").filter((p) => p !== "").length);
        return `${up}${dir.slice(1)}/${first}/${second}`;
      }
      case "dir-link":
        await Deno.symlink(this.#lab.dir, `${dir}/${first}`);
        return `${dir}/${first}/${base}`;
      case "dotdot":
        // dir is the case's m/, two levels below the lab, where the socket is.
        await Deno.mkdir(`${dir}/${first}`);
        return `${dir}/${first}/../../../${base}`;
      case "long": {
        // Directories of the case's names until the path is past what a socket address holds.
        let path = dir;
        for (let i = 0; byteLength(path) <= 120; i++) {
          path = `${path}/${c.monitor.names[i % c.monitor.names.length]}`;
          await Deno.mkdir(path, { recursive: true });
        }
        await Deno.symlink(target, `${path}/${second}`);
        return `${path}/${second}`;
      }
    }
  }

  async #checkCommands(
    c: NameCase,
    socket: string,
    server: { type: "unix"; path: string } | { type: "inet"; host: string; port: string },
    chardevPath: string,
  ): Promise<void> {
    const at = `--socket=${socket}`;
    const monitorLike = MONITOR_CHARDEV_PATTERN.test(c.chardev);
    const nbdWhere = server.type === "unix"
      ? `unix:${server.path}`
      : server.host.includes(":")
      ? `[${server.host}]:${server.port}`
      : `${server.host}:${server.port}`;

    // list: one row per instance, each name and peer as printable() shows it.
    const table = await this.#cli(["list", at]);
    assert.equal(table.code, 0, describe(table));
    assert.equal(table.stderr, "", describe(table));
    const rows = table.stdout.split("\n");
    const chardevRow = rows.find((row) => row.startsWith(`chardev     ${printable(c.chardev)} `));
    assert.ok(chardevRow, `no row for chardev ${JSON.stringify(c.chardev)}\n${describe(table)}`);
    assert.ok(
      chardevRow.includes(`unix:${printable(chardevPath)} (listening, no client)`),
      `chardev peer not verbatim\n${describe(table)}`,
    );
    const nodeRow = rows.find((row) => row.startsWith(`block-node  ${printable(c.node)} `));
    assert.ok(nodeRow, `no row for node ${JSON.stringify(c.node)}\n${describe(table)}`);
    assert.ok(nodeRow.endsWith(`  ${c.device}`), `disk not shown\n${describe(table)}`);

    // list --json: QEMU's strings exactly; the socket from YANK_SOCKET this time, unless its
    // path holds ":", which YANK_SOCKET takes as a separator (as PATH does).
    const json = socket.includes(":")
      ? await this.#cli(["list", "--json", at])
      : await this.#cli(["list", "--json"], DOCUMENTED, { YANK_SOCKET: socket });
    assert.equal(json.code, 0, describe(json));
    const items = JSON.parse(json.stdout) as Record<string, unknown>[];
    // QEMU cuts a node's filename at 4095 bytes: past that (a long export on a long path) the
    // export is unknown to any client, and the server is known only if written before the cut.
    const filename = items.find((i) => i["node-name"] === c.node)?.peer as
      | { filename?: string }
      | null;
    const filenameCut = byteLength(filename?.filename ?? "") >= 4095;
    if (filenameCut) {
      assert.doesNotMatch(nodeRow, / export /, describe(table));
    } else {
      assert.ok(
        nodeRow.includes(printable(`${nbdWhere} export ${c.export}`)),
        `NBD peer not verbatim\n${describe(table)}`,
      );
    }
    const chardev = items.find((i) => i.type === "chardev" && i.id === c.chardev);
    assert.ok(chardev, describe(json));
    assert.deepEqual(
      (chardev.peer as Record<string, unknown>).local,
      { type: "unix", path: chardevPath },
      describe(json),
    );
    const node = items.find((i) => i.type === "block-node" && i["node-name"] === c.node);
    assert.ok(node, describe(json));
    const peer = node.peer as Record<string, unknown> | null;
    if (!filenameCut || peer !== null) assert.deepEqual(peer?.server, server, describe(json));
    assert.equal(peer?.export, filenameCut ? undefined : c.export, describe(json));
    assert.equal(node.disk, c.device, describe(json));

    // A socket glob through the case's odd directory, its glob characters escaped: the one
    // socket in it, named in JSON exactly and in the table's SOCKET column terminal-safe.
    if (c.monitor.kind === "symlink" && !c.monitor.names[1]!.startsWith(".")) {
      const where = socket.slice(0, socket.lastIndexOf("/"));
      const pattern = `--socket=${where.replace(/[*?[\\]/g, "\\$&")}/*`;
      const multi = await this.#cli(["list", "--json", pattern]);
      assert.equal(multi.code, 0, describe(multi));
      const sockets = new Set(
        (JSON.parse(multi.stdout) as { socket: string }[]).map((i) => i.socket),
      );
      assert.deepEqual([...sockets], [socket], describe(multi));
      const checks = await this.#cli(["check", "--format", "json", pattern], CHECK_DOCUMENTED);
      const reports = JSON.parse(checks.stdout) as { sockets: { socket: string }[] };
      assert.deepEqual(reports.sockets.map((r) => r.socket), [socket], describe(checks));
      const multiTable = await this.#cli(["list", pattern]);
      assert.equal(multiTable.code, 0, describe(multiTable));
      assert.ok(
        multiTable.stdout.split("\n").slice(1, -1).every((row) =>
          row.startsWith(`${printable(socket)}  `)
        ),
        describe(multiTable),
      );
    }

    // The yank forms, planned: exact names, globs and the disk.
    const exact = await this.#cli([
      "--chardev",
      c.chardev,
      "--block-node",
      c.node,
      "--dry-run",
      "--json",
      at,
    ]);
    if (monitorLike) {
      assert.equal(exact.code, 2, describe(exact));
      assert.ok(exact.stderr.includes(JSON.stringify(c.chardev)), describe(exact));
    } else {
      assert.equal(exact.code, 0, describe(exact));
      assert.deepEqual(sortedNames(JSON.parse(exact.stdout)), [
        `block-node:${c.node}`,
        `chardev:${c.chardev}`,
      ], describe(exact));
    }
    const glob = await this.#cli(["--chardev", "*", "--dry-run", "--json", at]);
    if (monitorLike) {
      assert.equal(glob.code, 3, describe(glob));
    } else {
      assert.equal(glob.code, 0, describe(glob));
      assert.deepEqual(sortedNames(JSON.parse(glob.stdout)), [`chardev:${c.chardev}`]);
    }
    const disk = await this.#cli(["--disk", c.device, "--dry-run", at]);
    assert.equal(disk.code, 0, describe(disk));
    assert.equal(disk.stdout, `would yank block-node ${c.node}\n`, describe(disk));

    // check, in every format.
    const text = await this.#cli(["check", at], CHECK_DOCUMENTED);
    assert.match(text.stdout, /^YANK (OK|WARNING|CRITICAL|UNKNOWN) - /, describe(text));
    const checkJson = await this.#cli(["check", "--format", "json", at], CHECK_DOCUMENTED);
    const report = JSON.parse(checkJson.stdout) as { socket: string };
    assert.equal(report.socket, socket, describe(checkJson));
    const prometheus = await this.#cli(["check", "--format", "prometheus", at], CHECK_DOCUMENTED);
    const labels = [...prometheus.stdout.matchAll(/\{socket="((?:[^"\\]|\\.)*)"\}/g)]
      .map((m) => m[1]!.replace(/\\([\s\S])/g, (_, x: string) => x === "n" ? "\n" : x));
    assert.ok(labels.length > 0, describe(prometheus));
    for (const label of labels) assert.equal(label, socket, describe(prometheus));
    assert.equal(text.code, checkJson.code, describe(checkJson));

    await this.#watch(socket, ["--block-node", c.node, "--disk", c.device]);

    // Real yanks, last: they cut the chardev's listener and the NBD connection.
    if (monitorLike) {
      const refused = await this.#cli(["chardev", c.chardev, at]);
      assert.equal(refused.code, 2, describe(refused));
      assert.equal(refused.stdout, "", describe(refused));
    }
    const yanked = await this.#cli([
      "chardev",
      c.chardev,
      ...(monitorLike ? ["--force"] : []),
      at,
    ]);
    assert.equal(yanked.code, 0, describe(yanked));
    assert.equal(yanked.stdout, `yanked chardev ${c.chardev}\n`, describe(yanked));
    const cut = await this.#cli(["block-node", c.node, "--json", at]);
    assert.equal(cut.code, 0, describe(cut));
    assert.deepEqual(JSON.parse(cut.stdout), [{ type: "block-node", "node-name": c.node }]);
  }

  /** `yank watch` on the socket until it has connected and probed a few times. */
  async #watch(socket: string, selectors: string[]): Promise<void> {
    const controller = new AbortController();
    const io = captureIo({}, controller.signal);
    const args = ["watch", `--socket=${socket}`, "--interval", "0.1", ...selectors];
    const done = main(args, io);
    const deadline = performance.now() + 15_000;
    while (!/state=connected/.test(io.out.stderr) && performance.now() < deadline) {
      const ended = await Promise.race([done.then(() => true), sleep(20).then(() => false)]);
      if (ended) break;
    }
    await sleep(300);
    controller.abort();
    const code = await done;
    const run = { args, code, ...io.out };
    assert.equal(code, 0, describe(run));
    assert.match(run.stderr, /state=connected/, describe(run));
    assert.doesNotMatch(run.stderr, /Internal error|state=(unwatchable|restarting)/, describe(run));
    for (const line of run.stderr.split("\n").filter((l) => l !== "")) {
      assert.doesNotMatch(line, UNSAFE, `a raw control character in the log\n${describe(run)}`);
      assert.equal(logField(line, "socket"), socket, `socket not verbatim\n${describe(run)}`);
    }
  }

  /** Runs the CLI in-process; checks what every run must: documented exit, no bug, no raw controls. */
  async #cli(
    args: string[],
    documented = DOCUMENTED,
    env: Record<string, string> = {},
  ): Promise<Run> {
    const io = captureIo(env);
    const code = await main(args, io);
    const run = { args, code, ...io.out };
    assert.ok(documented.includes(code), `undocumented exit code\n${describe(run)}`);
    // The exposition format has escapes for a backslash, a quote and a newline only: a label
    // holds any other character raw, and the file is for a collector, not a terminal.
    const prometheus = args.includes("prometheus");
    for (const text of prometheus ? [run.stderr] : [run.stdout, run.stderr]) {
      assert.doesNotMatch(text, /Internal error|\n\s+at /, describe(run));
      assert.doesNotMatch(text, UNSAFE, `a raw control character\n${describe(run)}`);
    }
    assert.ok(!run.stderr.includes("\n") || run.stderr.endsWith("\n"), describe(run));
    return run;
  }

  async #startInetServer(host: string): Promise<number> {
    for (let attempt = 1;; attempt++) {
      const listener = Deno.listen({ hostname: host, port: 0 });
      const port = (listener.addr as Deno.NetAddr).port;
      listener.close();
      try {
        await this.#qsd.execute("nbd-server-start", {
          addr: { type: "inet", data: { host, port: String(port) } },
        });
        return port;
      } catch (error) {
        // Taken by someone else in the moment between: try another.
        if (attempt === 5) throw error;
      }
    }
  }

  /** Removes what a case added, waiting until QEMU has let go of each. */
  async #remove(
    c: NameCase,
    n: number,
    added: { chardev: boolean; node: boolean; device: boolean; export: boolean; server: boolean },
  ): Promise<void> {
    if (added.device) {
      await this.#admin.execute("device_del", { id: c.device });
      await until(async () => {
        const block = await this.#admin.execute("query-block") as { qdev?: string }[];
        return !block.some((b) => b.qdev === c.device);
      }, `scsi-hd ${c.device} to go`);
    }
    if (added.node) {
      await until(async () => {
        try {
          await this.#admin.execute("blockdev-del", { "node-name": c.node });
          return true;
        } catch {
          return false;
        }
      }, `node ${c.node} to go`);
    }
    if (added.chardev) await this.#admin.execute("chardev-remove", { id: c.chardev });
    if (added.export) {
      await this.#qsd.execute("block-export-del", { id: `e${n}`, mode: "hard" }).catch(() => {});
      await until(async () => {
        const exports = await this.#qsd.execute("query-block-exports") as { id: string }[];
        return !exports.some((e) => e.id === `e${n}`);
      }, `export e${n} to go`);
    }
    if (added.server) await this.#qsd.execute("nbd-server-stop");
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.#lab[Symbol.asyncDispose]();
  }
}

/** The value of one key of a logfmt line, JSON-unquoted. */
export function logField(line: string, key: string): string | undefined {
  const match = new RegExp(`(?:^| )${key}=("(?:[^"\\\\]|\\\\.)*"|\\S*)`).exec(line);
  if (!match) return undefined;
  return match[1]!.startsWith('"') ? JSON.parse(match[1]!) : match[1];
}

function sortedNames(items: Record<string, unknown>[]): string[] {
  return items.map((i) => `${i.type}:${i.id ?? i["node-name"] ?? ""}`).sort();
}

function describe(run: Run): string {
  return `yank ${run.args.map((a) => JSON.stringify(a)).join(" ")}: exit ${run.code}\n` +
    `stdout: ${JSON.stringify(run.stdout).slice(0, 3000)}\n` +
    `stderr: ${JSON.stringify(run.stderr).slice(0, 3000)}`;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function until(condition: () => Promise<boolean>, what: string): Promise<void> {
  const deadline = performance.now() + 10_000;
  while (!(await condition())) {
    if (performance.now() > deadline) throw new Error(`waited 10 s for ${what}`);
    await sleep(10);
  }
}

async function connectWhenUp(
  lab: QemuLab,
  socket: string,
  process: LabProcess,
): Promise<QmpClient> {
  let exited = false;
  process.status.then(() => exited = true);
  const deadline = performance.now() + 30_000;
  for (;;) {
    try {
      return await lab.qmp(socket);
    } catch (error) {
      if (exited || performance.now() > deadline) throw error;
      await sleep(20);
    }
  }
}
