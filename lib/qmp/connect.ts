/**
 * Connecting to a monitor's unix socket within a timeout, with failures that say what is wrong
 * with the path (missing, not a socket, nobody listening, a full queue, no permission).
 */

import { QmpConnectError, QmpError, QmpTimeoutError } from "./errors.ts";
import { startTimeout, type Timeout } from "./timer.ts";

/** How long to wait: the smaller of `timeoutMs` and what is left until `deadline`. */
export function remaining(
  timeoutMs: number,
  deadline: number | undefined,
  now: () => number,
): number {
  if (deadline === undefined) return timeoutMs;
  return Math.max(0, Math.min(timeoutMs, deadline - now()));
}

/** Connects to `socket`, giving up after `remaining(timeoutMs, deadline)`. */
export async function connectUnix(
  socket: string,
  options: { timeoutMs: number; deadline?: number },
  now: () => number,
): Promise<Deno.UnixConn> {
  const attempt = Deno.connect({ transport: "unix", path: socket });
  let timer: Timeout | undefined;
  let timedOut = false;
  const timeout = new Promise<never>((_, reject) => {
    timer = startTimeout(remaining(options.timeoutMs, options.deadline, now), () => {
      timedOut = true;
      reject(new QmpTimeoutError(socket, "connect", options.timeoutMs));
    });
  });
  // A connect that completes after we gave up must not leak its socket.
  attempt.then((conn) => timedOut && conn.close(), () => {});
  try {
    return await Promise.race([attempt, timeout]);
  } catch (error) {
    throw toConnectError(socket, error);
  } finally {
    timer?.cancel();
  }
}

function toConnectError(socket: string, error: unknown): Error {
  if (error instanceof QmpError) return error;
  if (error instanceof Deno.errors.NotFound) return new QmpConnectError(socket, "missing");
  if (error instanceof Deno.errors.ConnectionRefused) {
    // Also what a directory or a regular file gives: tell those from a stale socket.
    return new QmpConnectError(socket, isSocketFile(socket) ? "refused" : "not-socket");
  }
  // EAGAIN: the listen backlog is full, the way a held monitor's queue fills up.
  if (error instanceof Deno.errors.WouldBlock) return new QmpConnectError(socket, "busy");
  if (error instanceof Deno.errors.PermissionDenied) return new QmpConnectError(socket, "denied");
  const detail = error instanceof Error
    ? error.message.replace(/ \(os error \d+\)$/, "")
    : String(error);
  return new QmpConnectError(socket, "other", detail);
}

function isSocketFile(path: string): boolean {
  try {
    return Deno.statSync(path).isSocket !== false;
  } catch {
    return true;
  }
}
