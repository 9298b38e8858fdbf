/**
 * A throwaway lab of real processes for integration tests and the demo: QEMU (no guest, no
 * KVM), qemu-nbd, and TCP peers on 127.0.0.1, all in a temp dir. The lab stops only what it
 * started, by pid, resumes what it froze, and removes its dir.
 *
 * Recipes reproduce the hangs yank exists for (docs/qmp.md, Reproducing hangs): a chardev
 * connected to a peer, a block job stuck on a frozen NBD server, a hung main loop, a stuck
 * migration.
 */

import { QmpClient } from "../../lib/qmp/client.ts";
import { QmpConnectError, QmpDisconnectedError } from "../../lib/qmp/errors.ts";
import { runSs } from "../../lib/liveness/sample.ts";

/** Thrown when QEMU is missing: integration tests fail (never skip) without it. */
export class QemuMissingError extends Error {
  override name = "QemuMissingError";
}

const QEMU = "qemu-system-x86_64";

function requireProgram(name: string): string {
  if (name.startsWith("/")) return name;
  for (const dir of (Deno.env.get("PATH") ?? "/usr/bin").split(":")) {
    try {
      const path = `${dir}/${name}`;
      if (Deno.statSync(path).isFile) return path;
    } catch {
      // Not in this dir.
    }
  }
  throw new QemuMissingError(
    `${name} is not installed: run "deno task test" (it installs QEMU when run as root) or "apt-get install -y qemu-system-x86 qemu-utils"`,
  );
}

/** The version of the installed qemu-system-x86_64 ("7.2.22", "10.0.13"), as QEMU reports it. */
export async function installedQemuVersion(): Promise<string> {
  const { stdout } = await new Deno.Command("qemu-system-x86_64", { args: ["--version"] }).output();
  const version = /version (\d+\.\d+\.\d+)/.exec(new TextDecoder().decode(stdout))?.[1];
  if (version === undefined) throw new Error("qemu-system-x86_64 --version printed no version");
  return version;
}

/** True when every thread of `pid` is stopped ("T" in /proc), or the process is gone. */
function allThreadsStopped(pid: number): boolean {
  let tasks: Deno.DirEntry[];
  try {
    tasks = [...Deno.readDirSync(`/proc/${pid}/task`)];
  } catch {
    return true;
  }
  return tasks.every(({ name }) => {
    try {
      const stat = Deno.readTextFileSync(`/proc/${pid}/task/${name}/stat`);
      // The state follows the command name, which is in parentheses and may hold any byte.
      const state = stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3);
      return state === "T" || state === "t" || state === "Z" || state === "X";
    } catch {
      return true;
    }
  });
}

/** A process the lab started. */
export class LabProcess {
  #child: Deno.ChildProcess;
  #stopped = false;
  #frozen = false;
  /** Resolves with the exit status once the process has ended. */
  readonly status: Promise<Deno.CommandStatus>;

  constructor(readonly name: string, child: Deno.ChildProcess) {
    this.#child = child;
    this.status = child.status;
  }

  /** The process id. */
  get pid(): number {
    return this.#child.pid;
  }

  /**
   * SIGSTOP: the process stops answering, as a dead peer would. Resolves once every thread of
   * it has stopped: the kernel stops each thread only when it next runs, and on a loaded machine
   * a thread of a multi-threaded server (nbdkit) can still answer a request after kill returns.
   */
  async freeze(): Promise<void> {
    this.#child.kill("SIGSTOP");
    this.#frozen = true;
    const deadline = performance.now() + 10_000;
    while (!allThreadsStopped(this.#child.pid)) {
      if (performance.now() > deadline) throw new Error(`${this.name} did not stop within 10 s`);
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  }

  /** SIGCONT. */
  thaw(): void {
    if (!this.#frozen) return;
    this.#child.kill("SIGCONT");
    this.#frozen = false;
  }

  /** SIGKILL, as a crash: QEMU leaves its socket files behind. Waits for the end. */
  async kill(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    this.thaw();
    this.#child.kill("SIGKILL");
    await this.status;
  }

  /** Stops the process (SIGTERM, then SIGKILL after a second) and waits for it. */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    try {
      this.thaw();
      this.#child.kill("SIGTERM");
    } catch {
      // Already gone.
    }
    const timer = setTimeout(() => {
      try {
        this.#child.kill("SIGKILL");
      } catch {
        // Already gone.
      }
    }, 1000);
    await this.status;
    clearTimeout(timer);
  }
}

/** A running QEMU and its monitor sockets. */
export interface Qemu {
  process: LabProcess;
  /** The first QMP monitor (chardev `compat_monitor0`): the one under test. */
  socket: string;
  /** Further QMP monitors (`compat_monitor1`, ...), e.g. to start a hang from. */
  extraSockets: string[];
  /** File with QEMU's stderr, for diagnosis. */
  log: string;
}

/** Options of `QemuLab.startQemu`. */
export interface QemuOptions {
  /** Monitors in all (default 1); the first is `socket`. */
  monitors?: number;
  /** Further command-line arguments. */
  args?: string[];
  /** Name prefix of the sockets (default "vm"). */
  name?: string;
  /** Path of the first monitor socket, e.g. to restart "the same VM" (default: in the lab). */
  socket?: string;
  /**
   * Wait, through the first monitor, until QEMU's main loop answers (default true). False when
   * a client under test (a watch waiting for the socket) may take that monitor first: QEMU
   * serves one client per monitor, so the wait would never get a greeting.
   */
  awaitMainLoop?: boolean;
  /** Run QEMU as this user and its groups (through setpriv), as libvirt runs it (default root). */
  user?: string;
  /** Run QEMU in this network namespace (`ip netns exec`); its unix monitors work from any. */
  netns?: string;
  /**
   * Line-buffer QEMU's stdout (coreutils' stdbuf), where qemu-io run through HMP prints its
   * results: into a pipe they would otherwise stay in QEMU's buffer, out of the log.
   */
  lineBuffered?: boolean;
}

/** QEMU ended before its main loop answered. */
class QemuEndedError extends Error {
  override name = "QemuEndedError";
  constructor(readonly status: Deno.CommandStatus, message: string) {
    super(message);
  }
}

/** A TCP peer on 127.0.0.1 that accepts one connection and reports when it ends. */
export interface TcpPeer {
  port: number;
  /** Resolves when a connection is accepted. */
  accepted: Promise<Deno.Conn>;
  /** Resolves when the accepted connection sees EOF or a reset (only if `read` is true). */
  closed: Promise<void>;
}

/** A qemu-nbd server exporting a raw image over a unix socket. */
export interface NbdServer {
  process: LabProcess;
  socket: string;
}

/** An NBD server on 127.0.0.1 (TCP). */
export interface NbdTcpServer {
  process: LabProcess;
  port: number;
}

/** A qemu-storage-daemon exporting a raw image over NBD on a unix socket. */
export interface StorageDaemon extends NbdServer {
  /** The export's name (QEMU's nbd node must ask for it). */
  export: string;
}

/** A temp dir plus every process started in it; dispose to clean up. */
export class QemuLab implements AsyncDisposable {
  readonly dir: string;
  #processes: LabProcess[] = [];
  #clients: QmpClient[] = [];
  #listeners: Deno.Listener[] = [];
  #conns: Deno.Conn[] = [];
  #counter = 0;

  private constructor(dir: string) {
    this.dir = dir;
  }

  /** Makes a lab in a new temp dir. Throws QemuMissingError if QEMU is not installed. */
  static async create(): Promise<QemuLab> {
    requireProgram(QEMU);
    return new QemuLab(await Deno.makeTempDir({ prefix: "yank-lab-" }));
  }

  /** A fresh path in the lab dir. */
  path(name: string): string {
    return `${this.dir}/${name}`;
  }

  /**
   * Starts a process in the lab, in network namespace `netns` if given; it is stopped on
   * dispose. `ip netns exec` execs the program, so the pid is the program's own.
   */
  spawn(program: string, args: string[], log?: string, netns?: string): LabProcess {
    const path = requireProgram(program);
    const [command, commandArgs] = netns === undefined
      ? [path, args]
      : [requireProgram("ip"), ["netns", "exec", netns, path, ...args]];
    const child = new Deno.Command(command, {
      args: commandArgs,
      stdin: "null",
      // qemu-io run through HMP prints its result on QEMU's stdout: the log gets both.
      stdout: log ? "piped" : "null",
      stderr: log ? "piped" : "null",
    }).spawn();
    if (log) {
      // Chunk by chunk, as they come: a pipeTo into the file's writable holds them back while
      // the process runs, and a test reads the log while it does.
      for (const stream of [child.stdout, child.stderr]) {
        const file = Deno.openSync(log, { write: true, create: true, append: true });
        (async () => {
          try {
            for await (const chunk of stream) file.writeSync(chunk);
          } finally {
            file.close();
          }
        })().catch(() => {});
      }
    }
    const process = new LabProcess(program, child);
    this.#processes.push(process);
    return process;
  }

  /**
   * Starts QEMU with no machine and waits until its main loop answers on the first monitor.
   * A QEMU killed by a signal before that (QEMU 7.2 died of SIGSEGV at start-up, twice in many
   * fresh-root runs under load, never on an idle host) is reported on stderr and started once
   * more; a second such death fails the test.
   */
  async startQemu(options: QemuOptions = {}): Promise<Qemu> {
    try {
      return await this.#startQemuOnce(options);
    } catch (error) {
      if (!(error instanceof QemuEndedError) || error.status.signal === null) throw error;
      console.error(`qemu lab: ${error.message}; starting it once more`);
      return await this.#startQemuOnce(options);
    }
  }

  async #startQemuOnce(options: QemuOptions): Promise<Qemu> {
    const name = `${options.name ?? "vm"}${++this.#counter}`;
    const sockets = Array.from(
      { length: options.monitors ?? 1 },
      (_, i) => this.path(i === 0 ? `${name}.qmp` : `${name}-extra${i}.qmp`),
    );
    if (options.socket !== undefined) sockets[0] = options.socket;
    const log = this.path(`${name}.log`);
    const prefix = [
      ...(options.user === undefined
        ? []
        : ["setpriv", "--reuid", options.user, "--regid", options.user, "--init-groups", "--"]),
      ...(options.lineBuffered ? ["stdbuf", "-oL"] : []),
    ];
    const process = this.spawn(
      prefix[0] ?? QEMU,
      [
        ...prefix.slice(1),
        ...(prefix.length > 0 ? [QEMU] : []),
        "-M",
        "none",
        "-nodefaults",
        "-display",
        "none",
        ...sockets.flatMap((s) => ["-qmp", `unix:${s},server=on,wait=off`]),
        ...(options.args ?? []),
      ],
      log,
      options.netns,
    );
    // A socket file appears at bind(), before QEMU listens on it: wait until each accepts.
    for (const socket of sockets) await waitForSocket(socket, process, log);
    // The monitor greets early in QEMU's start-up, but in-band commands wait until start-up is
    // done (seconds, on a loaded machine). Wait for that here, so that a test's first command
    // never meets a QEMU that merely looks hung.
    // Under load QEMU now and then drops a connection made right after the probe connection
    // above, before greeting it: connect again (bounded), as a test's own connection never does.
    // A refusal (seen once in a fresh root under load) is retried too, while QEMU runs; if QEMU
    // has ended, the failure says so, with its log.
    let exited: Deno.CommandStatus | undefined;
    process.status.then((status) => exited = status);
    for (let attempt = 1; options.awaitMainLoop !== false; attempt++) {
      let ready: QmpClient;
      try {
        ready = await QmpClient.connect(sockets[0]!, { timeoutMs: 30_000 });
      } catch (error) {
        const retried = error instanceof QmpDisconnectedError ||
          (error instanceof QmpConnectError && exited === undefined);
        if (exited !== undefined) {
          const output = await Deno.readTextFile(log).catch(() => "");
          throw new QemuEndedError(
            exited,
            `QEMU (pid ${process.pid}) ended (${
              exited.signal ?? `exit ${exited.code}`
            }) before its main loop answered on ${sockets[0]}: ${output.trim() || "(no output)"}`,
          );
        }
        if (!retried || attempt === 8) throw error;
        await new Promise((resolve) => setTimeout(resolve, 50 * attempt));
        continue;
      }
      try {
        await ready.execute("query-status");
      } finally {
        ready.close();
      }
      break;
    }
    return { process, socket: sockets[0]!, extraSockets: sockets.slice(1), log };
  }

  /** Connects a negotiated QMP client for test set-up; closed on dispose. */
  async qmp(socket: string, timeoutMs = 10_000): Promise<QmpClient> {
    const client = await QmpClient.connect(socket, { timeoutMs });
    this.#clients.push(client);
    return client;
  }

  /** Listens on 127.0.0.1 (ephemeral port) for one connection; never writes to it. */
  tcpPeer(options: { read?: boolean } = {}): TcpPeer {
    const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    this.#listeners.push(listener);
    const accepted = listener.accept().then((conn) => {
      this.#conns.push(conn);
      return conn;
    });
    const closed = options.read === false ? new Promise<void>(() => {}) : accepted.then(
      async (conn) => {
        const buffer = new Uint8Array(4096);
        try {
          while ((await conn.read(buffer)) !== null) {
            // Drain until EOF.
          }
        } catch {
          // A reset ends the connection too.
        }
      },
    );
    // A test that fails before its peer is reached never awaits these; the lab's disposal then
    // closes the listener, which must not surface as an uncaught error hiding the real one.
    accepted.catch(() => {});
    closed.catch(() => {});
    return { port: (listener.addr as Deno.NetAddr).port, accepted, closed };
  }

  /** Creates a raw image of `sizeMiB` in the lab dir. */
  async #createImage(sizeMiB: number): Promise<string> {
    const image = this.path(`disk${++this.#counter}.img`);
    const create = await new Deno.Command(requireProgram("qemu-img"), {
      args: ["create", "-q", "-f", "raw", image, `${sizeMiB}M`],
      stdout: "null",
      stderr: "piped",
    }).output();
    if (!create.success) throw new Error(`qemu-img create failed: ${decode(create.stderr)}`);
    return image;
  }

  /**
   * Creates a raw image and serves it with qemu-nbd on a unix socket (its path, export name and
   * how many clients it serves at once, `--shared`, default 1, may be given).
   */
  async startNbd(
    sizeMiB = 64,
    options: { exportName?: string; socket?: string; shared?: number } = {},
  ): Promise<NbdServer> {
    const image = await this.#createImage(sizeMiB);
    const socket = options.socket ?? this.path(`nbd${this.#counter}.sock`);
    const log = this.path(`nbd${this.#counter}.log`);
    const named = options.exportName === undefined ? [] : ["-x", options.exportName];
    const shared = options.shared === undefined ? [] : ["--shared", String(options.shared)];
    const process = this.spawn(
      "qemu-nbd",
      ["-f", "raw", "-k", socket, "-t", ...shared, ...named, image],
      log,
    );
    // Not a test connection: qemu-nbd serves one client at a time.
    await waitForListening(socket, process, log);
    return { process, socket };
  }

  /**
   * Creates a raw image and serves it with qemu-nbd over TCP: by default on 127.0.0.1, on a port
   * that was free a moment before (taken from a listener on port 0, then closed; another port is
   * tried if something took it meanwhile). In a network namespace of a test's own (`netns`),
   * where nothing else listens, on the `host` and `port` given. `shared` lets that many clients
   * in at once (qemu-nbd's `--shared`; default 1).
   */
  async startNbdTcp(
    sizeMiB = 64,
    options: { netns?: string; host?: string; port?: number; shared?: number } = {},
  ): Promise<NbdTcpServer> {
    const image = await this.#createImage(sizeMiB);
    const log = this.path(`nbd${this.#counter}.log`);
    const host = options.host ?? "127.0.0.1";
    for (let attempt = 1;; attempt++) {
      let port = options.port;
      if (port === undefined) {
        const probe = Deno.listen({ hostname: "127.0.0.1", port: 0 });
        port = (probe.addr as Deno.NetAddr).port;
        probe.close();
      }
      const shared = options.shared === undefined ? [] : ["--shared", String(options.shared)];
      const process = this.spawn(
        "qemu-nbd",
        ["-f", "raw", "-b", host, "-p", String(port), "-t", ...shared, image],
        log,
        options.netns,
      );
      if (await waitForPort(port, process, options.netns)) return { process, port };
      if (attempt === 5 || options.port !== undefined) {
        const output = await Deno.readTextFile(log).catch(() => "");
        throw new Error(`qemu-nbd did not listen on ${host}: ${output.trim() || "(no output)"}`);
      }
    }
  }

  /**
   * Creates a raw image and exports it with qemu-storage-daemon over NBD on a unix socket, as
   * export `disk0` of node `file0`.
   */
  async startStorageDaemon(sizeMiB = 64): Promise<StorageDaemon> {
    const image = await this.#createImage(sizeMiB);
    const socket = this.path(`qsd${this.#counter}.sock`);
    const log = this.path(`qsd${this.#counter}.log`);
    const name = "disk0";
    const process = this.spawn("qemu-storage-daemon", [
      "--blockdev",
      `driver=file,filename=${image},node-name=file0`,
      "--nbd-server",
      `addr.type=unix,addr.path=${socket}`,
      "--export",
      `type=nbd,id=exp0,node-name=file0,name=${name},writable=on`,
    ], log);
    await waitForSocket(socket, process, log);
    return { process, socket, export: name };
  }

  /** Serves `sizeMiB` of memory with nbdkit (in the foreground) on a unix socket. */
  async startNbdkit(sizeMiB = 64): Promise<NbdServer> {
    const socket = this.path(`nbdkit${++this.#counter}.sock`);
    const log = this.path(`nbdkit${this.#counter}.log`);
    const process = this.spawn(
      "nbdkit",
      ["-f", "--unix", socket, "memory", `${sizeMiB}M`],
      log,
    );
    await waitForSocket(socket, process, log);
    return { process, socket };
  }

  /** Stops everything the lab started, resuming frozen processes first; removes the dir. */
  async [Symbol.asyncDispose](): Promise<void> {
    for (const client of this.#clients) client.close();
    for (const conn of this.#conns) tryClose(conn);
    for (const listener of this.#listeners) tryClose(listener);
    await Promise.all(this.#processes.map((p) => p.stop()));
    await Deno.remove(this.dir, { recursive: true }).catch(() => {});
  }
}

function tryClose(closable: { close(): void }): void {
  try {
    closable.close();
  } catch {
    // Already closed.
  }
}

function decode(bytes: Uint8Array): string {
  return new TextDecoder().decode(bytes).trim();
}

/**
 * Waits until a unix socket at `path` is listening, as the kernel lists it in /proc/net/unix
 * (flag __SO_ACCEPTCON), without connecting: the file appears at bind(), before listen().
 */
async function waitForListening(path: string, process: LabProcess, log: string): Promise<void> {
  await waitForFile(path, process, log);
  const listening = () =>
    Deno.readTextFileSync("/proc/net/unix").split("\n").some((line) => {
      // The path is the rest of the line, as the kernel has it (it may hold spaces).
      const fields = line.trim().split(/\s+/);
      return fields[3] === "00010000" && line.endsWith(` ${path}`);
    });
  for (let waited = 0; waited < 10_000; waited += 10) {
    if (listening()) return;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  throw new Error(`${process.name} does not listen on ${path}`);
}

async function waitForFile(path: string, process: LabProcess, log: string): Promise<void> {
  let exited = false;
  process.status.then(() => exited = true);
  for (let waited = 0; waited < 10_000; waited += 10) {
    try {
      Deno.statSync(path);
      return;
    } catch {
      if (exited) break;
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }
  const output = await Deno.readTextFile(log).catch(() => "");
  throw new Error(`${process.name} did not create ${path}: ${output.trim() || "(no output)"}`);
}

async function waitForSocket(path: string, process: LabProcess, log: string): Promise<void> {
  await waitForFile(path, process, log);
  for (let waited = 0; waited < 10_000; waited += 10) {
    try {
      (await Deno.connect({ transport: "unix", path })).close();
      return;
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }
  throw new Error(`${path} does not accept connections`);
}

/**
 * Waits until `process` listens on TCP `port` (true), or exits (false: the port was taken), in
 * network namespace `netns` if given. Asks ss rather than connecting: a qemu-nbd serves one
 * client at a time.
 */
export async function waitForPort(
  port: number,
  process: LabProcess,
  netns?: string,
): Promise<boolean> {
  let exited = false;
  process.status.then(() => exited = true);
  for (let waited = 0; waited < 10_000 && !exited; waited += 20) {
    // One kind of socket: ss leaves out the Netid column, so this is not parseSs's format.
    const inNetns = netns === undefined ? [] : ["-N", netns];
    const listening = await runSs([...inNetns, "-tlnpH", `sport = :${port}`]);
    if (listening.includes(`pid=${process.pid},`)) return true;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  if (!exited) throw new Error(`${process.name} does not listen on port ${port}`);
  return false;
}

/** QEMU with a socket chardev `charnet0` connected to a TCP peer on 127.0.0.1. */
export async function chardevConnectedToPeer(lab: QemuLab): Promise<{ qemu: Qemu; peer: TcpPeer }> {
  const peer = lab.tcpPeer();
  const qemu = await lab.startQemu({
    args: ["-chardev", `socket,id=charnet0,host=127.0.0.1,port=${peer.port},server=off`],
  });
  await peer.accepted;
  return { qemu, peer };
}

/** QEMU with an NBD node `nbd0` on a frozen qemu-nbd and a backup job `job0` stuck on it. */
export async function stuckBackupJob(
  lab: QemuLab,
  options: { monitors?: number } = {},
): Promise<{ qemu: Qemu; nbd: NbdServer; setup: QmpClient }> {
  const qemu = await lab.startQemu({ monitors: options.monitors ?? 2 });
  const nbd = await lab.startNbd();
  // Set up through the last monitor so that the one under test stays free.
  const setup = await lab.qmp(qemu.extraSockets.at(-1) ?? qemu.socket);
  await addNbdNode(setup, nbd);
  await setup.execute("blockdev-add", { driver: "null-co", "node-name": "tgt", size: 64 << 20 });
  await nbd.process.freeze();
  await setup.execute("blockdev-backup", {
    "job-id": "job0",
    device: "nbd0",
    target: "tgt",
    sync: "full",
    "auto-dismiss": false,
  });
  return { qemu, nbd, setup };
}

/** Adds node `node` (nbd0 unless given), a client of the NBD server on `nbd.socket`, to QEMU. */
export async function addNbdNode(
  client: QmpClient,
  nbd: Pick<NbdServer, "socket">,
  node = "nbd0",
): Promise<void> {
  await client.execute("blockdev-add", {
    driver: "nbd",
    "node-name": node,
    server: { type: "unix", path: nbd.socket },
  });
}

/** The state of a job from `query-jobs` (undefined once it is gone). */
export async function jobState(
  client: QmpClient,
  id: string,
): Promise<{ status: string; error?: string } | undefined> {
  const jobs = await client.execute("query-jobs") as { id: string; status: string }[];
  return jobs.find((job) => job.id === id);
}

/**
 * QEMU whose main loop is hung: an in-band `qemu-io` read on an NBD node whose server is
 * frozen, started by `hangClient` on the last of three monitors. The first monitor (`socket`) is
 * free; the second can be given a client negotiated before the hang (`beforeHang`).
 */
export async function hungMainLoop(
  lab: QemuLab,
  options: { beforeHang?: (qemu: Qemu) => Promise<void> } = {},
): Promise<{ qemu: Qemu; nbd: NbdServer; hang: Promise<unknown>; hangClient: QmpClient }> {
  const qemu = await lab.startQemu({ monitors: 3 });
  const nbd = await lab.startNbd();
  const setup = await lab.qmp(qemu.extraSockets[1]!);
  await addNbdNode(setup, nbd);
  await options.beforeHang?.(qemu);
  await nbd.process.freeze();
  const hang = readInMainLoop(setup, "nbd0");
  // In-band commands on one monitor run in order: a probe queued behind the read that stays
  // unanswered proves the main loop is blocked in it.
  const probe = await setup.execute("query-status", undefined, { timeoutMs: 500 }).then(
    () => "answered",
    (error) => error,
  );
  if (probe === "answered") throw new Error("the main loop did not hang");
  return { qemu, nbd, hang, hangClient: setup };
}

/**
 * Reads 4 KiB from block node `node` in QEMU's main loop (HMP `qemu-io`, in-band), the way a
 * guest's synchronous I/O would. On a frozen NBD server this blocks the main loop until the node
 * is yanked; the promise settles then.
 */
export function readInMainLoop(client: QmpClient, node: string): Promise<unknown> {
  const read = client.execute(
    "human-monitor-command",
    { "command-line": `qemu-io ${node} "read 0 4096"` },
    { timeoutMs: 600_000 },
  );
  read.catch(() => {});
  return read;
}

/** QEMU (8 GiB of RAM) migrating to a TCP peer that accepts and never reads. */
export async function stuckMigration(lab: QemuLab): Promise<{ qemu: Qemu; setup: QmpClient }> {
  const peer = lab.tcpPeer({ read: false });
  const qemu = await lab.startQemu({ monitors: 2, args: ["-m", "8G"] });
  const setup = await lab.qmp(qemu.extraSockets[0]!);
  await setup.execute("migrate", { uri: `tcp:127.0.0.1:${peer.port}` });
  await peer.accepted;
  return { qemu, setup };
}

/** The migration status from `query-migrate`. */
export async function migrationStatus(client: QmpClient): Promise<string | undefined> {
  const info = await client.execute("query-migrate") as { status?: string };
  return info.status;
}

/** Polls `check` every 20 ms until it returns true or `timeoutMs` passes. */
export async function eventually(
  check: () => Promise<boolean> | boolean,
  timeoutMs = 5000,
): Promise<boolean> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    if (await check()) return true;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return await check();
}
