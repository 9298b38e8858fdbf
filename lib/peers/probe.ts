/**
 * Reading the kernel's socket tables for one QEMU process: finding QEMU's pid from its monitor
 * socket, and sampling its connections to judge which peers are dead. The side effects of peer
 * judgement live here; the parsing (sockets.ts) and the judgement (judge.ts) are pure.
 */

import { type KernelSocket, listeningInode, parseProcNetTcp, parseSsUnix } from "./sockets.ts";
import {
  type Connection,
  connectionsOf,
  judgePeer,
  type PeerEndpoint,
  type PeerVerdict,
  type SocketSnapshot,
} from "./judge.ts";

/** QEMU's process, or why it could not be found. */
export type QemuProcess = { pid: number } | { error: string };

/**
 * Finds the process that listens on the monitor socket `path`: its listening socket's inode in
 * `/proc/net/unix`, then the process holding `socket:[INODE]` among `/proc/PID/fd`. Reading
 * another user's fds needs root (or the same user as QEMU).
 */
export async function findQemuProcess(path: string): Promise<QemuProcess> {
  let inode: string | undefined;
  try {
    inode = listeningInode(await Deno.readTextFile("/proc/net/unix"), path);
  } catch (error) {
    return { error: `cannot read /proc/net/unix: ${errorText(error)}` };
  }
  if (inode === undefined) {
    return { error: `no socket listens on ${JSON.stringify(path)} in /proc/net/unix` };
  }
  const target = `socket:[${inode}]`;
  let denied = 0;
  const pids: number[] = [];
  for await (const entry of Deno.readDir("/proc")) {
    if (/^\d+$/.test(entry.name)) pids.push(Number(entry.name));
  }
  // QEMU's own processes first: the scan of every fd of every process is the slow path.
  const isQemu = (pid: number) => {
    try {
      return Deno.readTextFileSync(`/proc/${pid}/comm`).startsWith("qemu");
    } catch {
      return false;
    }
  };
  const ordered = [...pids.filter(isQemu), ...pids.filter((pid) => !isQemu(pid))];
  for (const pid of ordered) {
    try {
      for (const fd of Deno.readDirSync(`/proc/${pid}/fd`)) {
        try {
          if (Deno.readLinkSync(`/proc/${pid}/fd/${fd.name}`) === target) return { pid };
        } catch {
          // The fd closed meanwhile.
        }
      }
    } catch (error) {
      if (error instanceof Deno.errors.PermissionDenied) denied++;
    }
  }
  return {
    error: denied > 0
      ? `no process that yank may inspect holds the socket of ${
        JSON.stringify(path)
      } (${denied} process(es) could not be read: run yank as root or as QEMU's user)`
      : `no process holds the socket of ${JSON.stringify(path)}`,
  };
}

/** How to run `ss` (tests may replace it). */
export type RunSs = () => Promise<string>;

/** Runs `ss -xnaH` (iproute2): the unix stream sockets with their queues. */
export async function runSs(): Promise<string> {
  const output = await new Deno.Command("ss", {
    args: ["-xnaH"],
    stdin: "null",
    stdout: "piped",
    stderr: "null",
  }).output();
  if (!output.success) throw new Error(`ss -xnaH exited with ${output.code}`);
  return new TextDecoder().decode(output.stdout);
}

/** One moment of QEMU's sockets. Throws when QEMU's fds cannot be read. */
export async function snapshotSockets(
  pid: number,
  options: { unix: boolean; runSs?: RunSs },
): Promise<{ snapshot: SocketSnapshot; unixError: string | undefined }> {
  const inodes = new Set<string>();
  for (const fd of Deno.readDirSync(`/proc/${pid}/fd`)) {
    try {
      const match = /^socket:\[(\d+)\]$/.exec(Deno.readLinkSync(`/proc/${pid}/fd/${fd.name}`));
      if (match) inodes.add(match[1]!);
    } catch {
      // Closed meanwhile.
    }
  }
  const tcp: KernelSocket[] = [];
  for (const file of ["tcp", "tcp6"]) {
    try {
      tcp.push(...parseProcNetTcp(await Deno.readTextFile(`/proc/${pid}/net/${file}`)));
    } catch {
      // No IPv6 on this host.
    }
  }
  let unixByInode: Map<string, KernelSocket> | undefined;
  let unixError: string | undefined;
  if (options.unix) {
    try {
      const unix = parseSsUnix(await (options.runSs ?? runSs)());
      unixByInode = new Map(unix.map((s) => [s.inode, s]));
    } catch (error) {
      unixError = `cannot run ss (iproute2) to read unix socket queues: ${errorText(error)}`;
    }
  }
  const qemu = [
    ...tcp.filter((s) => inodes.has(s.inode)),
    ...[...unixByInode?.values() ?? []].filter((s) => inodes.has(s.inode)),
  ];
  return { snapshot: { qemu, unixByInode, tcp }, unixError };
}

/** A peer to judge. */
export interface PeerTarget {
  key: string;
  endpoint: PeerEndpoint;
}

/** Options of `judgePeers`. */
export interface JudgePeersOptions {
  /** The whole sampling span, in milliseconds (e.g. 300). */
  boundMs: number;
  /** Snapshots to take over the span; at least 2. */
  samples?: number;
  runSs?: RunSs;
  now?: () => number;
}

/**
 * Samples QEMU's sockets over `boundMs` and judges every target. Targets with the `unclaimed`
 * endpoint (the migration) get the connections no other target matched.
 */
export async function judgePeers(
  pid: number,
  targets: readonly PeerTarget[],
  options: JudgePeersOptions,
): Promise<Map<string, PeerVerdict>> {
  const result = new Map<string, PeerVerdict>();
  if (targets.length === 0) return result;
  const now = options.now ?? (() => performance.now());
  const unix = targets.some((t) => t.endpoint.transport !== "tcp");
  const count = Math.max(2, options.samples ?? 3);
  const series = new Map<string, Connection[][]>(targets.map((t) => [t.key, []]));
  const started = now();
  let unixError: string | undefined;
  for (let i = 0; i < count; i++) {
    if (i > 0) {
      const due = started + (options.boundMs * i) / (count - 1);
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, due - now())));
    }
    let taken;
    try {
      taken = await snapshotSockets(pid, {
        unix,
        ...(options.runSs ? { runSs: options.runSs } : {}),
      });
    } catch (error) {
      const evidence = `cannot read QEMU's sockets (pid ${pid}): ${errorText(error)}`;
      for (const target of targets) result.set(target.key, { state: "unknown", evidence });
      return result;
    }
    unixError ??= taken.unixError;
    const claimed = new Set<string>();
    for (const target of targets) {
      if (target.endpoint.transport === "unclaimed") continue;
      const found = connectionsOf(target.endpoint, taken.snapshot);
      for (const c of found) claimed.add(c.qemu.inode);
      series.get(target.key)!.push(found);
    }
    for (const target of targets) {
      if (target.endpoint.transport !== "unclaimed") continue;
      series.get(target.key)!.push(connectionsOf(target.endpoint, taken.snapshot, claimed));
    }
  }
  const span = now() - started;
  for (const target of targets) {
    if (target.endpoint.transport === "unix" && unixError !== undefined) {
      result.set(target.key, { state: "unknown", evidence: unixError });
      continue;
    }
    result.set(target.key, judgePeer(series.get(target.key)!, span));
  }
  return result;
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
