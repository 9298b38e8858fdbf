/**
 * Connecting to a monitor's unix socket within a timeout, with failures that say what is wrong
 * with the path (missing, not a socket, nobody listening, still busy, no permission).
 *
 * Two things a plain `connect()` does not do:
 *
 * - A path longer than a unix socket address holds (107 bytes; deep paths are normal under
 *   libvirt and systemd) is reached through a short one: the path relative to the working
 *   directory when that is short enough, else a symlink in a private temporary directory (the
 *   kernel resolves symlinks when connecting), removed once connected.
 * - A full listen queue (EAGAIN: QEMU's backlog is 1, so a few clients starting at once fill it
 *   while each holds the monitor for a few milliseconds) is retried with backoff until the
 *   timeout; only a queue still full then makes the monitor "busy".
 */

import { formatSeconds, QmpConnectError, QmpError, QmpTimeoutError } from "./errors.ts";
import { deadline, delay, remaining } from "./deadline.ts";
import { osErrorText } from "./os_error.ts";

/** The longest path a unix socket address holds, in bytes (sun_path is 108, with its NUL). */
export const MAX_SOCKET_PATH_BYTES = 107;

/** First pause after a full listen queue; it doubles up to RETRY_MAX_MS. */
const RETRY_FIRST_MS = 2;
const RETRY_MAX_MS = 100;

/** Connects to `socket`, giving up after `remaining(timeoutMs, deadline)`. */
export async function connectUnix(
  socket: string,
  options: { timeoutMs: number; deadline?: number },
  now: () => number,
): Promise<Deno.UnixConn> {
  const until = now() + remaining(options.timeoutMs, options.deadline, now);
  let route: ShortRoute;
  try {
    route = await shortRoute(socket);
  } catch (error) {
    throw toConnectError(socket, error, options.timeoutMs);
  }
  try {
    for (let pause = RETRY_FIRST_MS;; pause = Math.min(pause * 2, RETRY_MAX_MS)) {
      try {
        return await connectOnce(socket, route.path, Math.max(0, until - now()), options);
      } catch (error) {
        const left = until - now();
        if (!(error instanceof Deno.errors.WouldBlock) || left <= 0) {
          throw toConnectError(socket, error, options.timeoutMs);
        }
        // Jitter, so that clients that collided do not collide again in step.
        await delay(Math.min(left, pause * (0.5 + Math.random())));
      }
    }
  } finally {
    route.remove();
  }
}

async function connectOnce(
  socket: string,
  path: string,
  waitMs: number,
  options: { timeoutMs: number },
): Promise<Deno.UnixConn> {
  const attempt = Deno.connect({ transport: "unix", path });
  try {
    return await deadline(
      attempt,
      waitMs,
      () => new QmpTimeoutError(socket, "connect", options.timeoutMs),
    );
  } catch (error) {
    // A connect that completes after we gave up must not leak its socket.
    if (error instanceof QmpTimeoutError) attempt.then((conn) => conn.close(), () => {});
    throw error;
  }
}

/** A path to connect to in place of the socket's own, and how to clean it up. */
interface ShortRoute {
  path: string;
  remove(): void;
}

const encoder = new TextEncoder();

function fits(path: string): boolean {
  return encoder.encode(path).length <= MAX_SOCKET_PATH_BYTES;
}

/** The socket's own path when it fits a socket address, else a short way to the same socket. */
async function shortRoute(socket: string): Promise<ShortRoute> {
  if (fits(socket)) return { path: socket, remove: () => {} };
  const cwd = Deno.cwd();
  const absolute = socket.startsWith("/") ? socket : `${cwd}/${socket}`;
  if (absolute.startsWith(`${cwd}/`)) {
    const relative = `./${absolute.slice(cwd.length + 1)}`;
    if (fits(relative)) return { path: relative, remove: () => {} };
  }
  // A directory only we can enter (mode 0700), so nobody can swap the symlink for another.
  const dir = await Deno.makeTempDir({ prefix: "yank-" });
  const link = `${dir}/s`;
  const remove = () => {
    try {
      Deno.removeSync(dir, { recursive: true });
    } catch {
      // Already gone; nothing else to do.
    }
  };
  try {
    Deno.symlinkSync(absolute, link);
  } catch (error) {
    remove();
    throw error;
  }
  if (!fits(link)) {
    remove();
    throw new QmpConnectError(
      socket,
      "other",
      `the path is longer than a socket address holds (${MAX_SOCKET_PATH_BYTES} bytes), and so is the temporary directory ${
        JSON.stringify(dir)
      } meant to shorten it (set TMPDIR to a short directory)`,
    );
  }
  return { path: link, remove };
}

function toConnectError(socket: string, error: unknown, timeoutMs: number): Error {
  if (error instanceof QmpError) return error;
  if (error instanceof Deno.errors.NotFound) return new QmpConnectError(socket, "missing");
  if (error instanceof Deno.errors.ConnectionRefused) {
    // Also what a directory or a regular file gives: tell those from a stale socket.
    return new QmpConnectError(socket, isSocketFile(socket) ? "refused" : "not-socket");
  }
  // EAGAIN until the deadline: the listen queue stayed full, the way a held monitor's fills up.
  if (error instanceof Deno.errors.WouldBlock) {
    return new QmpConnectError(socket, "busy", formatSeconds(timeoutMs));
  }
  if (error instanceof Deno.errors.PermissionDenied) return new QmpConnectError(socket, "denied");
  return new QmpConnectError(socket, "other", osErrorText(error));
}

function isSocketFile(path: string): boolean {
  try {
    return Deno.statSync(path).isSocket !== false;
  } catch {
    return true;
  }
}
