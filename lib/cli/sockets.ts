/**
 * Many VMs at once: socket globs are expanded, sockets are handled concurrently with a bound,
 * and one socket's failure never hides another's result.
 */

import { compileGlob, isGlob } from "../yank/match.ts";
import { formatSeconds, QmpConnectError, QmpError } from "../qmp/errors.ts";

/** At most this many sockets are talked to at once. */
export const SOCKET_CONCURRENCY = 64;

/** The sockets to visit; `multi` when the user named several or a glob (output gains SOCKET). */
export interface SocketPlan {
  sockets: string[];
  /** Globs that matched no socket. */
  unmatched: string[];
  multi: boolean;
}

/** Expands globs (in any path segment) and removes duplicates, keeping the order given. */
export function planSockets(given: readonly string[]): SocketPlan {
  const sockets: string[] = [];
  const unmatched: string[] = [];
  for (const pattern of given) {
    const found = isGlob(pattern) ? expandGlob(pattern) : [pattern];
    if (found.length === 0) unmatched.push(pattern);
    for (const socket of found) if (!sockets.includes(socket)) sockets.push(socket);
  }
  return { sockets, unmatched, multi: isMultiSocket(given) };
}

/** Whether output must name sockets: several were given, or a glob that may match several. */
export function isMultiSocket(given: readonly string[]): boolean {
  return given.length > 1 || given.some(isGlob);
}

/** The error for a socket glob that matched nothing. */
export function noSocketMatches(pattern: string): QmpConnectError {
  return new QmpConnectError(pattern, "other", "no socket matches this pattern");
}

function expandGlob(pattern: string): string[] {
  const absolute = pattern.startsWith("/");
  const segments = pattern.split("/").filter((s) => s !== "");
  let paths = [absolute ? "/" : "."];
  for (const [index, segment] of segments.entries()) {
    const last = index === segments.length - 1;
    const next: string[] = [];
    for (const dir of paths) {
      if (!isGlob(segment)) {
        next.push(join(dir, segment));
        continue;
      }
      let regexp: RegExp;
      try {
        regexp = compileGlob(segment);
      } catch {
        return [];
      }
      for (const entry of readDir(dir)) {
        if (entry.name.startsWith(".") && !segment.startsWith(".")) continue;
        if (!regexp.test(entry.name)) continue;
        if (!last && !entry.isDirectory && !entry.isSymlink) continue;
        next.push(join(dir, entry.name));
      }
    }
    paths = next;
  }
  // A glob names sockets: "/run/qemu/*" must not pick up the pid files and logs beside them.
  const found = paths.filter(isSocket).map((p) => absolute || !p.startsWith("./") ? p : p.slice(2));
  return found.sort();
}

function join(dir: string, name: string): string {
  return dir.endsWith("/") ? `${dir}${name}` : `${dir}/${name}`;
}

function readDir(dir: string): Deno.DirEntry[] {
  try {
    return [...Deno.readDirSync(dir)];
  } catch {
    return [];
  }
}

function isSocket(path: string): boolean {
  try {
    return Deno.statSync(path).isSocket === true;
  } catch {
    return false;
  }
}

/**
 * Runs `task` for each item, at most `limit` at once, and returns the outcomes in input order.
 * A rejected task yields its error; it never stops the others.
 */
export async function mapConcurrently<T, R>(
  items: readonly T[],
  limit: number,
  task: (item: T) => Promise<R>,
): Promise<PromiseSettledResult<R>[]> {
  const results: PromiseSettledResult<R>[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const index = next++;
      try {
        results[index] = { status: "fulfilled", value: await task(items[index]!) };
      } catch (reason) {
        results[index] = { status: "rejected", reason };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

/** A socket the run never got to: too little of --timeout was left when its turn came. */
export class SocketNotTriedError extends QmpError {
  override name = "SocketNotTriedError";
  constructor(readonly socket: string, timeoutMs: number) {
    super(
      `${JSON.stringify(socket)} was not tried: --timeout ${
        formatSeconds(timeoutMs)
      } ran out while other sockets were handled, ${SOCKET_CONCURRENCY} at a time (raise --timeout)`,
    );
  }
}

/**
 * Runs `task` for each socket, SOCKET_CONCURRENCY at a time, all within one deadline so that the
 * whole run ends within --timeout. A socket whose turn comes with less than half of --timeout
 * left is not tried (SocketNotTriedError) rather than given too little time and misjudged as
 * busy or hung.
 */
export function visitWithinDeadline<R>(
  sockets: readonly string[],
  timing: { deadline: number; timeoutMs: number; now: () => number },
  task: (socket: string) => Promise<R>,
): Promise<PromiseSettledResult<R>[]> {
  return mapConcurrently(sockets, SOCKET_CONCURRENCY, (socket) => {
    if (timing.deadline - timing.now() < timing.timeoutMs / 2) {
      return Promise.reject(new SocketNotTriedError(socket, timing.timeoutMs));
    }
    return task(socket);
  });
}
