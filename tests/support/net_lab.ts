/**
 * A network lab for the remote-peer tests: QEMU and yank in one network namespace (the VM's
 * side), each remote peer host in a namespace of its own, joined to the VM's by a veth pair,
 * with addresses from the benchmarking range 198.18.0.0/15 (a /30 per host). Nothing it does
 * reaches outside its namespaces: the links are created inside them, never in the host's own.
 *
 * Faults, set per host with iptables in the host's namespace (the kernel has no netem):
 *   blackhole  DROP every packet in and out: the host is gone without a word (QEMU's kernel
 *              retransmits for about 15 minutes);
 *   reject     answer TCP with RST: the host is up, the server is gone;
 *   heal       remove those rules.
 * A slow but alive peer is a relay process in the host's namespace that holds each segment
 * (`startDelayRelay`).
 *
 * Processes run in a namespace through `ip netns exec`, which execs them (their pid is theirs);
 * unix sockets (QEMU's monitors) work across namespaces, since they are files. Dispose stops
 * the processes (the QemuLab's, then anything else still in the namespaces) and deletes the
 * namespaces, which takes their links and rules with them. Namespaces are named
 * `yank-<pid>-<token>-<host>`, so labs in parallel test files never collide, and a lab also
 * deletes those of a test process that died without cleaning up (SIGKILL).
 *
 * iptables: the lab runs `iptables-nft`, the nf_tables backend that Debian 12 and 13 both use by
 * default (package iptables), whatever the host's `iptables` alternative points to; both of
 * its backends work on this machine, and only nf_tables is sure to stay in future kernels.
 */

import { type ShellLimits, spawnCli, type SpawnedCli } from "./cli.ts";
import { startWatch, type StartWatchOptions, type WatchOptions } from "./watch.ts";
import {
  type NbdTcpServer,
  type Qemu,
  QemuLab,
  type QemuOptions,
  waitForPort,
} from "./qemu_lab.ts";

const IPTABLES = "iptables-nft";
const RELAY = new URL("delay_relay.ts", import.meta.url).pathname;
const PREFIX = "yank-";

/** A peer host: a network namespace with one link to the VM's namespace. */
export interface NetHost {
  /** A short name, used in the namespace's name ("storage"). */
  name: string;
  /** Its network namespace. */
  netns: string;
  /** Its address (198.18.x.y). */
  address: string;
  /** The VM side's address on the same /30. */
  vmAddress: string;
}

/** A relay that delays every segment; it listens on its host's address. */
export interface DelayRelay {
  port: number;
  delayMs: number;
}

/** Runs a program to its end; throws with its stderr when it fails. */
async function run(program: string, args: string[]): Promise<string> {
  const output = await new Deno.Command(program, {
    args,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const decoder = new TextDecoder();
  if (!output.success) {
    throw new Error(
      `${program} ${args.join(" ")} failed: ${decoder.decode(output.stderr).trim() || output.code}`,
    );
  }
  return decoder.decode(output.stdout);
}

/** The network namespaces that exist (`ip netns list`). */
export async function listNetns(): Promise<string[]> {
  const listed = await run("ip", ["netns", "list"]);
  return listed.split("\n").map((line) => line.split(" ")[0]!).filter((name) => name !== "");
}

function processAlive(pid: number): boolean {
  try {
    Deno.statSync(`/proc/${pid}`);
    return true;
  } catch {
    return false;
  }
}

/** Pids of the processes in `netns`. */
async function pidsIn(netns: string): Promise<number[]> {
  const listed = await run("ip", ["netns", "pids", netns]).catch(() => "");
  return listed.split("\n").filter((line) => line !== "").map(Number);
}

/** Kills every process in `netns` (all of them were started by a lab) and deletes it. */
async function deleteNetns(netns: string): Promise<void> {
  for (const pid of await pidsIn(netns)) {
    try {
      Deno.kill(pid, "SIGKILL");
    } catch {
      // Gone meanwhile.
    }
  }
  await run("ip", ["netns", "delete", netns]);
}

/** Deletes the namespaces of lab processes that are no longer running. */
async function sweepAbandoned(): Promise<void> {
  for (const netns of await listNetns()) {
    const pid = /^yank-(\d+)-[0-9a-f]+-/.exec(netns)?.[1];
    if (pid !== undefined && !processAlive(Number(pid))) await deleteNetns(netns).catch(() => {});
  }
}

/**
 * The VM's namespace, the peer hosts' namespaces and every process started in them; dispose
 * to remove them all.
 */
export class NetLab implements AsyncDisposable {
  /** The QEMU lab: temp dir and processes. */
  readonly lab: QemuLab;
  /** The VM side's network namespace (QEMU, yank). */
  readonly vmNetns: string;
  #token: string;
  #subnet: number;
  #hosts: NetHost[] = [];
  #namespaces: string[] = [];

  private constructor(lab: QemuLab, token: string, subnet: number) {
    this.lab = lab;
    this.#token = token;
    this.#subnet = subnet;
    this.vmNetns = this.#netnsName("vm");
  }

  /** Makes the lab: a QemuLab and the VM's namespace (loopback up). */
  static async create(): Promise<NetLab> {
    if (Deno.uid() !== 0) {
      throw new Error("the network lab needs root (ip netns, iptables): run the tests as root");
    }
    await sweepAbandoned();
    const lab = await QemuLab.create();
    const token = crypto.getRandomValues(new Uint8Array(3)).reduce(
      (hex, byte) => hex + byte.toString(16).padStart(2, "0"),
      "",
    );
    // One /24 of 198.18.0.0/15 per lab (512 of them), a /30 per host in it. Namespaces are
    // private, so two labs could share addresses; distinct ones only read better in logs.
    const subnet = crypto.getRandomValues(new Uint16Array(1))[0]! % 512;
    const net = new NetLab(lab, token, subnet);
    try {
      await run("ip", ["netns", "add", net.vmNetns]);
      net.#namespaces.push(net.vmNetns);
      await run("ip", ["-n", net.vmNetns, "link", "set", "lo", "up"]);
    } catch (error) {
      await net[Symbol.asyncDispose]().catch(() => {});
      throw error;
    }
    return net;
  }

  #netnsName(host: string): string {
    return `${PREFIX}${Deno.pid}-${this.#token}-${host}`;
  }

  #address(host: number, side: 1 | 2): string {
    const offset = this.#subnet * 256 + host * 4 + side;
    return `198.${18 + (offset >> 16)}.${(offset >> 8) & 255}.${offset & 255}`;
  }

  /** Every namespace the lab made, the VM's first. */
  get namespaces(): readonly string[] {
    return [...this.#namespaces];
  }

  /** Adds a peer host: its namespace and a veth pair to the VM's, both ends up. */
  async addHost(name: string): Promise<NetHost> {
    const index = this.#hosts.length;
    if (index >= 63) throw new Error("a net lab holds at most 63 hosts");
    const host: NetHost = {
      name,
      netns: this.#netnsName(name),
      address: this.#address(index, 2),
      vmAddress: this.#address(index, 1),
    };
    await run("ip", ["netns", "add", host.netns]);
    this.#namespaces.push(host.netns);
    // Created inside the namespaces: the names need only be unique there.
    const vmLink = `to-${index}`;
    await run("ip", [
      "link",
      "add",
      vmLink,
      "netns",
      this.vmNetns,
      "type",
      "veth",
      "peer",
      "name",
      "eth0",
      "netns",
      host.netns,
    ]);
    await run("ip", ["-n", this.vmNetns, "addr", "add", `${host.vmAddress}/30`, "dev", vmLink]);
    await run("ip", ["-n", host.netns, "addr", "add", `${host.address}/30`, "dev", "eth0"]);
    for (
      const [netns, link] of [[this.vmNetns, vmLink], [host.netns, "eth0"], [host.netns, "lo"]]
    ) {
      await run("ip", ["-n", netns!, "link", "set", link!, "up"]);
    }
    this.#hosts.push(host);
    return host;
  }

  /** Runs iptables in `host`'s namespace. */
  async #iptables(host: NetHost, args: string[]): Promise<void> {
    await run("ip", ["netns", "exec", host.netns, IPTABLES, ...args]);
  }

  /** The host vanishes: every packet to and from it is dropped, none answered. */
  async blackhole(host: NetHost): Promise<void> {
    await this.#iptables(host, ["-A", "INPUT", "-j", "DROP"]);
    await this.#iptables(host, ["-A", "OUTPUT", "-j", "DROP"]);
  }

  /** The host is up, its servers gone: every TCP segment to it is answered with a reset. */
  async reject(host: NetHost): Promise<void> {
    await this.#iptables(host, [
      "-A",
      "INPUT",
      "-p",
      "tcp",
      "-j",
      "REJECT",
      "--reject-with",
      "tcp-reset",
    ]);
  }

  /** Removes every fault rule of `host`. */
  async heal(host: NetHost): Promise<void> {
    await this.#iptables(host, ["-F", "INPUT"]);
    await this.#iptables(host, ["-F", "OUTPUT"]);
  }

  /** The rules in `host`'s namespace, as `iptables -S` prints them. */
  async rules(host: NetHost): Promise<string[]> {
    const listed = await run("ip", ["netns", "exec", host.netns, IPTABLES, "-S"]);
    return listed.split("\n").filter((line) => line.startsWith("-A "));
  }

  /**
   * Starts QEMU (see QemuLab.startQemu) in the VM's namespace, or on a peer `host` (a migration
   * target).
   */
  startQemu(options: Omit<QemuOptions, "netns"> = {}, host?: NetHost): Promise<Qemu> {
    return this.lab.startQemu({ ...options, netns: host?.netns ?? this.vmNetns });
  }

  /** Serves a new raw image with qemu-nbd on `host`'s address, port `port` (default 10809). */
  startNbd(
    host: NetHost,
    options: { sizeMiB?: number; port?: number; shared?: number } = {},
  ): Promise<NbdTcpServer> {
    return this.lab.startNbdTcp(options.sizeMiB ?? 64, {
      netns: host.netns,
      host: host.address,
      port: options.port ?? 10809,
      ...(options.shared === undefined ? {} : { shared: options.shared }),
    });
  }

  /**
   * Starts a relay on `host` (its address, `port`) to `targetPort` on the same host, holding
   * every segment for `delayMs` each way: a peer that is slow but alive.
   */
  async startDelayRelay(
    host: NetHost,
    options: { port: number; targetPort: number; delayMs: number },
  ): Promise<DelayRelay> {
    const process = this.lab.spawn(
      Deno.execPath(),
      [
        "run",
        "--quiet",
        "--allow-net",
        RELAY,
        host.address,
        String(options.port),
        host.address,
        String(options.targetPort),
        String(options.delayMs),
      ],
      this.lab.path(`relay${options.port}.log`),
      host.netns,
    );
    if (!await waitForPort(options.port, process, host.netns)) {
      throw new Error(`the delay relay on ${host.address}:${options.port} exited`);
    }
    return { port: options.port, delayMs: options.delayMs };
  }

  /** Spawns the CLI (`yank watch`, ...) in the VM's namespace, where it sees QEMU's sockets. */
  spawnCli(args: string[], env: Record<string, string> = {}, limits: ShellLimits = {}): SpawnedCli {
    return spawnCli(
      args,
      { ...limits, wrapper: ["ip", "netns", "exec", this.vmNetns, ...(limits.wrapper ?? [])] },
      env,
    );
  }

  /** `startWatch` with the watch in the VM's namespace, as `spawnCli` runs it. */
  startWatch(options: WatchOptions, start: StartWatchOptions = {}): Promise<SpawnedCli> {
    return startWatch(options, {
      ...start,
      spawn: (args) => this.spawnCli(args, start.env, start.limits),
    });
  }

  /** `ss ARGS` in the VM's namespace (QEMU's TCP sockets, as watch sees them). */
  ss(args: string[]): Promise<string> {
    return run("ss", ["-N", this.vmNetns, ...args]);
  }

  /**
   * Stops the QemuLab's processes, then anything else still running in the namespaces, and
   * deletes the namespaces (their links and rules go with them). Every step is tried; the first
   * failure is thrown at the end.
   */
  async [Symbol.asyncDispose](): Promise<void> {
    const failures: unknown[] = [];
    await this.lab[Symbol.asyncDispose]().catch((error) => failures.push(error));
    for (const netns of this.#namespaces.toReversed()) {
      await deleteNetns(netns).catch((error) => failures.push(error));
    }
    if (failures.length > 0) throw failures[0];
  }
}
