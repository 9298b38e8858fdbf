/**
 * A real libvirt for integration tests: reuses a libvirtd that already answers on
 * qemu:///system, or starts virtlogd and libvirtd (system mode, as root: libvirt's QEMU driver
 * keeps its state under /run/libvirt whatever the config says, and a root libvirtd is always
 * privileged, so "private paths" come down to private pid files). It stops only the daemons
 * it started, by pid, and destroys only the transient domains it created.
 */

import { isInstalled } from "./debian.ts";

const URI = "qemu:///system";

/** Thrown when libvirt is missing or cannot run here: the tests fail (never skip). */
export class LibvirtMissingError extends Error {
  override name = "LibvirtMissingError";
}

/** What `virsh` printed. */
export interface VirshResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `virsh -c URI ARGS` (qemu:///system by default), killed after `timeoutMs`. */
export async function virsh(args: string[], timeoutMs = 60_000, uri = URI): Promise<VirshResult> {
  const child = new Deno.Command("virsh", {
    args: ["-c", uri, ...args],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let killed = false;
  const timer = setTimeout(() => {
    killed = true;
    child.kill("SIGKILL");
  }, timeoutMs);
  try {
    const output = await child.output();
    const decoder = new TextDecoder();
    const stderr = decoder.decode(output.stderr);
    return {
      code: output.code,
      stdout: decoder.decode(output.stdout),
      stderr: killed ? `${stderr}(virsh killed after ${timeoutMs / 1000} s)` : stderr,
    };
  } finally {
    clearTimeout(timer);
  }
}

/** Whether libvirtd answers at `uri`, waiting at most `timeoutMs`. */
async function answers(uri: string, timeoutMs: number): Promise<boolean> {
  return (await virsh(["version"], Math.max(1, Math.min(10_000, timeoutMs)), uri)).code === 0;
}

/** Options of LibvirtLab.create, for the lab's own tests. */
export interface LibvirtLabOptions {
  /** The libvirtd command to start when none answers; "libvirtd" by default. */
  libvirtd?: string;
  /**
   * The virtlogd command to start when none answers; "virtlogd" by default. The lab's own tests
   * pass a stand-in: a real virtlogd they started would be stopped when their test file ends,
   * under the feet of a libvirt test running beside them that found it answering.
   */
  virtlogd?: string;
  /** The connection URI; qemu:///system by default. */
  uri?: string;
  /** Bounds starting libvirtd until it answers, in milliseconds; 30 s by default. */
  startWithinMs?: number;
  /** The pid file of a libvirtd the host runs; /run/libvirtd.pid by default. */
  hostPidFile?: string;
}

/** How many lines of a daemon's log a failure quotes. */
const LOG_TAIL_LINES = 20;

/** Daemons this process started, stopped (SIGTERM, by pid) when it ends (see daemonFile). */
const daemonsToStop: number[] = [];

/**
 * Where the daemons this process starts keep their pid files and logs: outside any lab's dir,
 * since the daemons outlive the lab that started them, and libvirtd hands its log settings down
 * to every QEMU it starts (QEMU exited 125, "failed to open .../libvirtd.log", once the first
 * lab's dir was gone). Removed when the daemons are stopped.
 */
let daemonsDir: string | undefined;

/** The pids of the daemons this process started, for the lab's own tests. */
export function daemonsStartedHere(): readonly number[] {
  return [...daemonsToStop];
}

function daemonFile(name: string): string {
  if (daemonsDir === undefined) {
    daemonsDir = Deno.makeTempDirSync({ prefix: "yank-libvirt-daemons-" });
    // libvirtd's children (QEMU, as libvirt-qemu) open the log it hands down.
    Deno.chmodSync(daemonsDir, 0o755);
    globalThis.addEventListener("unload", () => {
      for (const daemon of daemonsToStop.reverse()) {
        try {
          Deno.kill(daemon, "SIGTERM");
        } catch {
          // Already gone.
        }
      }
      Deno.removeSync(daemonsDir!, { recursive: true });
    });
  }
  return `${daemonsDir}/${name}`;
}

/** The daemons a test uses, and which of them it started. */
export class LibvirtLab implements AsyncDisposable {
  readonly dir: string;
  #started: { name: string; pidFile: string }[] = [];
  #domains: string[] = [];

  private constructor(dir: string) {
    this.dir = dir;
  }

  /**
   * Makes sure libvirtd answers, starting virtlogd and libvirtd when none does. The lab dir is
   * world-searchable: QEMU runs as libvirt-qemu (Debian) or qemu (RHEL), not as root.
   */
  static async create(options: LibvirtLabOptions = {}): Promise<LibvirtLab> {
    const uri = options.uri ?? URI;
    const withinMs = options.startWithinMs ?? 30_000;
    for (const program of ["libvirtd", "virtlogd", "virsh"]) {
      if (!isInstalled(program)) {
        throw new LibvirtMissingError(
          `${program} is not installed: run "deno task test" as root (it installs libvirt-daemon-system and libvirt-clients)`,
        );
      }
    }
    if (Deno.uid() !== 0) {
      throw new LibvirtMissingError("the libvirt test needs root, to run libvirtd in system mode");
    }
    const dir = await Deno.makeTempDir({ prefix: "yank-libvirt-" });
    await Deno.chmod(dir, 0o755);
    const lab = new LibvirtLab(dir);
    try {
      if (!await answers(uri, 10_000)) {
        // Every wait below shares one deadline on the monotonic clock.
        const until = performance.now() + withinMs;
        const left = () => until - performance.now();
        if (!await lab.#socketAnswers("/run/libvirt/virtlogd-sock")) {
          await lab.#startDaemon("virtlogd", options.virtlogd ?? "virtlogd", left, withinMs);
        }
        // A second libvirtd would take over the sockets of a slow one and remove them when the
        // lab stops it, leaving the host's libvirtd unreachable: wait for that one instead.
        const host = livePid(options.hostPidFile ?? "/run/libvirtd.pid");
        if (host === undefined) {
          await lab.#startDaemon("libvirtd", options.libvirtd ?? "libvirtd", left, withinMs);
        }
        while (!await answers(uri, left())) {
          if (left() <= 0) {
            throw new LibvirtMissingError(
              host === undefined
                ? `libvirtd did not answer within ${withinMs / 1000} s${await lab.#logTail(
                  "libvirtd",
                )}`
                : `the host's libvirtd (pid ${host}) did not answer at ${uri} within ${
                  withinMs / 1000
                } s; the tests do not start a second one: see its log (journalctl -u libvirtd) and restart it`,
            );
          }
          await new Promise((resolve) => setTimeout(resolve, Math.min(200, Math.max(0, left()))));
        }
      }
    } catch (error) {
      await lab[Symbol.asyncDispose]();
      throw error;
    }
    return lab;
  }

  /** A path in the lab dir. */
  path(name: string): string {
    return `${this.dir}/${name}`;
  }

  async #socketAnswers(path: string): Promise<boolean> {
    try {
      (await Deno.connect({ transport: "unix", path })).close();
      return true;
    } catch {
      return false;
    }
  }

  /** The log file the lab points daemon `name` at. */
  #logFile(name: string): string {
    return daemonFile(`${name}.log`);
  }

  /** The last lines of daemon `name`'s log, for a failure message ("" when none). */
  async #logTail(name: string): Promise<string> {
    const path = this.#logFile(name);
    const text = await Deno.readTextFile(path).catch(() => undefined);
    if (text === undefined || text.trim() === "") return ` (${name} wrote nothing to ${path})`;
    const tail = text.trimEnd().split("\n").slice(-LOG_TAIL_LINES).join("\n");
    return `; the tail of ${name}'s log ${path}:\n${tail}`;
  }

  /** Starts a daemon (`--daemon`), killing the start after `left()` milliseconds. */
  async #startDaemon(
    name: string,
    command: string,
    left: () => number,
    withinMs: number,
  ): Promise<void> {
    const pidFile = daemonFile(`${name}.pid`);
    const child = new Deno.Command(command, {
      args: ["--daemon", "--pid-file", pidFile],
      // Warnings and errors to a file the lab can quote when the daemon does not come up.
      env: { LIBVIRT_LOG_OUTPUTS: `3:file:${this.#logFile(name)}` },
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    let killed = false;
    const timer = setTimeout(() => {
      killed = true;
      child.kill("SIGKILL");
    }, Math.max(0, left()));
    let output: Deno.CommandOutput;
    try {
      output = await child.output();
    } finally {
      clearTimeout(timer);
    }
    if (killed) {
      throw new LibvirtMissingError(
        `${name} did not start within ${withinMs / 1000} s${await this.#logTail(name)}`,
      );
    }
    if (!output.success) {
      throw new LibvirtMissingError(
        `${name} did not start: ${new TextDecoder().decode(output.stderr).trim()}${await this
          .#logTail(name)}`,
      );
    }
    this.#started.push({ name, pidFile });
  }

  /** Creates a transient domain from XML (destroyed on dispose). */
  async createDomain(name: string, xml: string): Promise<void> {
    const file = this.path(`${name}.xml`);
    await Deno.writeTextFile(file, xml);
    // libvirtd 9.0 re-probes QEMU's capabilities on every create on some hosts (tens of seconds,
    // seen here), and creates from test files running at the same time queue behind each other.
    const result = await virsh(["create", file], 240_000);
    if (result.code !== 0) throw new Error(`virsh create failed: ${result.stderr.trim()}`);
    this.#domains.push(name);
  }

  /** Destroys the domains it created and stops the daemons it started, by pid. */
  async [Symbol.asyncDispose](): Promise<void> {
    for (const name of this.#domains) await virsh(["destroy", name]).catch(() => {});
    // The daemons this lab started outlive it, for the next lab of this test process, which
    // finds them answering: stopping and restarting them between tests raced with their own
    // shutdown (a second lab met a virtlogd socket about to vanish). They stop when the
    // process ends, by pid, and only those this process started.
    for (const { pidFile } of this.#started.reverse()) {
      const pid = Number((await Deno.readTextFile(pidFile).catch(() => "")).trim());
      if (pid > 1) daemonsToStop.push(pid);
    }
    await Deno.remove(this.dir, { recursive: true }).catch(() => {});
  }
}

/** The pid in `pidFile` if that process lives. */
function livePid(pidFile: string): number | undefined {
  let pid: number;
  try {
    pid = Number(Deno.readTextFileSync(pidFile).trim());
  } catch {
    return undefined;
  }
  return pid > 1 && isAlive(pid) ? pid : undefined;
}

function isAlive(pid: number): boolean {
  try {
    Deno.kill(pid, "SIGCONT");
    return true;
  } catch {
    return false;
  }
}

/** The domain XML of a tiny TCG guest with an NBD disk, a TCP serial and a yank monitor. */
export function tinyDomainXml(options: {
  name: string;
  nbdSocket: string;
  serialPort: number;
  yankSocket: string;
}): string {
  return `<domain type='qemu' xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'>
  <name>${options.name}</name>
  <memory unit='MiB'>32</memory>
  <vcpu>1</vcpu>
  <os><type arch='x86_64' machine='pc'>hvm</type></os>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
    <disk type='network' device='disk'>
      <driver name='qemu' type='raw'/>
      <source protocol='nbd'><host transport='unix' socket='${options.nbdSocket}'/></source>
      <target dev='vda' bus='virtio'/>
    </disk>
    <serial type='tcp'>
      <source mode='connect' host='127.0.0.1' service='${options.serialPort}'>
        <reconnect enabled='yes' timeout='1'/>
      </source>
      <protocol type='raw'/>
    </serial>
    <video><model type='none'/></video>
    <memballoon model='none'/>
  </devices>
  <qemu:commandline>
    <qemu:arg value='-chardev'/>
    <qemu:arg value='socket,id=yankmon,path=${options.yankSocket},server=on,wait=off'/>
    <qemu:arg value='-mon'/>
    <qemu:arg value='chardev=yankmon,mode=control'/>
  </qemu:commandline>
</domain>
`;
}
