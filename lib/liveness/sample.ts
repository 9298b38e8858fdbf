/**
 * Asking the kernel (through `ss`) about one QEMU process's sockets: finding QEMU's pid from its
 * monitor socket, and sampling its connections to judge which peers are dead. The side effects
 * of peer judgement live here; the parsing (ss.ts) and the judgement (judge.ts) are pure.
 */

import { type KernelSocket, localSpellings, parseSs } from "./ss.ts";
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

/** Runs `ss` with the given arguments and returns its output (tests may replace it). */
export type RunSs = (args: string[]) => Promise<string>;

/** Runs ss (iproute2); rejects with a clear message when it is missing or fails. */
export async function runSs(args: string[]): Promise<string> {
  let output;
  try {
    output = await new Deno.Command("ss", {
      args,
      stdin: "null",
      stdout: "piped",
      stderr: "null",
    }).output();
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      throw new Error("ss is not installed (install iproute2)");
    }
    if (error instanceof Deno.errors.NotCapable || error instanceof Deno.errors.PermissionDenied) {
      throw new Error("yank is not permitted to run ss (it needs Deno's --allow-run=ss)");
    }
    throw error;
  }
  if (!output.success) throw new Error(`ss ${args.join(" ")} exited with ${output.code}`);
  return new TextDecoder().decode(output.stdout);
}

/**
 * Finds the process that listens on the monitor socket `path`, with `ss -xlnpH`. ss shows the
 * process of a socket only when it may read that process's fds: as root, or as QEMU's user.
 */
export async function findQemuProcess(path: string, run: RunSs = runSs): Promise<QemuProcess> {
  let listening: KernelSocket[];
  try {
    listening = parseSs(await run(["-xlnpH"]));
  } catch (error) {
    return { error: errorText(error) };
  }
  const socket = listening.find((s) => localSpellings(s).includes(path)) ??
    findSameFile(path, listening);
  if (socket === undefined) {
    return { error: `ss shows no socket listening on ${JSON.stringify(path)}` };
  }
  const pid = socket.pids[0];
  if (pid === undefined) {
    return {
      error: `ss does not show which process listens on ${
        JSON.stringify(path)
      } (run yank as root or as QEMU's user)`,
    };
  }
  return { pid };
}

/**
 * The listener whose path names the same file as `path` (by device and inode, which sees
 * through symlinks, `/var/run`, relative paths and bind mounts). ss shows the path as QEMU
 * bound it; a relative one is taken from the binding process's working directory.
 */
function findSameFile(path: string, listening: KernelSocket[]): KernelSocket | undefined {
  const ours = fileId(path);
  if (ours === undefined) return undefined;
  return listening.find((s) => {
    if (s.transport !== "unix" || s.local === "" || s.local.startsWith("@")) return false;
    return localSpellings(s).some((local) => {
      const bound = local.startsWith("/") || s.pids[0] === undefined
        ? local
        : `/proc/${s.pids[0]}/cwd/${local}`;
      return fileId(bound) === ours;
    });
  });
}

/**
 * A unix peer's path as ss shows its listener: QEMU may have been given another spelling of it
 * (a symlink, `/var/run`, a relative path), while ss shows the path the server bound.
 */
function asBound(endpoint: PeerEndpoint, snapshot: SocketSnapshot): PeerEndpoint {
  if (endpoint.transport !== "unix" || snapshot.unixByInode === undefined) return endpoint;
  const unix = [...snapshot.unixByInode.values()];
  if (unix.some((s) => s.local === endpoint.path)) return endpoint;
  const listener = findSameFile(endpoint.path, unix.filter((s) => s.state === "LISTEN"));
  return listener === undefined ? endpoint : { ...endpoint, path: listener.local };
}

function fileId(path: string): string | undefined {
  try {
    const info = Deno.statSync(path);
    return info.ino === null ? undefined : `${info.dev}:${info.ino}`;
  } catch {
    return undefined;
  }
}

/** One moment of QEMU's sockets; QEMU's inodes come from a first run with `-p`. */
async function snapshotSockets(
  pid: number,
  inodes: Set<string> | undefined,
  run: RunSs,
): Promise<{ snapshot: SocketSnapshot; inodes: Set<string> }> {
  const all = parseSs(await run(inodes === undefined ? ["-xtnaeopH"] : ["-xtnaeoH"]));
  const ours = inodes ??
    new Set(all.filter((s) => s.pids.includes(pid) && s.inode !== "0").map((s) => s.inode));
  const unix = all.filter((s) => s.transport === "unix");
  return {
    snapshot: {
      qemu: all.filter((s) => ours.has(s.inode)),
      unixByInode: new Map(unix.map((s) => [s.inode, s])),
      tcp: all.filter((s) => s.transport === "tcp"),
    },
    inodes: ours,
  };
}

/** A peer to judge. */
export interface PeerTarget {
  key: string;
  endpoint: PeerEndpoint;
}

/** Options of `judgePeers`. */
export interface JudgePeersOptions {
  /** The span from the first to the last sample, in milliseconds (e.g. 300). */
  boundMs: number;
  /** Samples to take over the span; at least 2. */
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
  const run = options.runSs ?? runSs;
  const count = Math.max(2, options.samples ?? 3);
  const series = new Map<string, Connection[][]>(targets.map((t) => [t.key, []]));
  let endpoints = targets.map((t) => t.endpoint);
  let started = now();
  let inodes: Set<string> | undefined;
  for (let i = 0; i < count; i++) {
    if (i > 0) {
      const due = started + (options.boundMs * i) / (count - 1);
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, due - now())));
    }
    let taken;
    try {
      taken = await snapshotSockets(pid, inodes, run);
    } catch (error) {
      const evidence = `cannot list QEMU's sockets (pid ${pid}): ${errorText(error)}`;
      for (const target of targets) result.set(target.key, { state: "unknown", evidence });
      return result;
    }
    // The span counts from the end of the first (slower, -p) sample.
    if (i === 0) {
      started = now();
      endpoints = endpoints.map((e) => asBound(e, taken.snapshot));
    }
    inodes = taken.inodes;
    if (inodes.size === 0) {
      const evidence =
        `ss shows no socket of QEMU's process ${pid} (run yank as root or as QEMU's user)`;
      for (const target of targets) result.set(target.key, { state: "unknown", evidence });
      return result;
    }
    const claimed = new Set<string>();
    targets.forEach((target, index) => {
      if (target.endpoint.transport === "unclaimed") return;
      const found = connectionsOf(endpoints[index]!, taken.snapshot);
      for (const c of found) claimed.add(c.qemu.inode);
      series.get(target.key)!.push(found);
    });
    for (const target of targets) {
      if (target.endpoint.transport !== "unclaimed") continue;
      series.get(target.key)!.push(connectionsOf(target.endpoint, taken.snapshot, claimed));
    }
  }
  const span = now() - started;
  for (const target of targets) {
    result.set(target.key, judgePeer(series.get(target.key)!, span));
  }
  return result;
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * How many of QEMU's connections to each endpoint are open both ways, in one `ss` snapshot: a
 * yanked NBD node's connection is shut down (ss shows `---`), or gone once the server closed
 * its end. Rejects with a message when QEMU's sockets cannot be listed.
 */
export async function countOpenConnections(
  pid: number,
  endpoints: readonly PeerEndpoint[],
  run: RunSs = runSs,
): Promise<number[]> {
  const { snapshot, inodes } = await snapshotSockets(pid, undefined, run);
  if (inodes.size === 0) {
    throw new Error(
      `ss shows no socket of QEMU's process ${pid} (run yank as root or as QEMU's user)`,
    );
  }
  return endpoints.map((endpoint) =>
    connectionsOf(asBound(endpoint, snapshot), snapshot)
      .filter((connection) => connection.qemu.shutDown !== true).length
  );
}
