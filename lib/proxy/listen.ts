/**
 * Creating the proxy's unix socket so that it is never wider than mode 0660, not even for a
 * moment, whatever the umask: it is bound inside a fresh directory of mode 0700 (where nobody
 * else can reach it), given mode 0660, and only then renamed into place. A listening socket stays
 * bound to its inode across rename(), and the rename also lets the final path be longer than a
 * socket address can hold (108 bytes): a long private directory is reached for bind() through a
 * short symlink in the temp directory.
 */

import { occupiedListenError, ProxyListenError } from "./errors.ts";
import { osErrorText } from "../qmp/os_error.ts";
import type { Remedy } from "../errors.ts";

/** The most bytes of a unix socket path, less the terminating NUL (Linux's sun_path). */
const MAX_SOCKET_PATH_BYTES = 107;
const encoder = new TextEncoder();
const CHECK_LISTEN: Remedy = [{ action: "check-listen" }];

/**
 * Listens on `path` with mode 0660. A stale socket file left by a crashed watchdog is
 * replaced; a live one, or any other file, is an error.
 */
export async function listenPrivately(path: string): Promise<Deno.Listener> {
  const dir = parentOf(path);
  await using aliases = new ShortAliases();
  await checkTarget(path, await aliases.socketPath(dir, baseOf(path)));
  let privateDir: string;
  try {
    privateDir = await Deno.makeTempDir({ dir, prefix: ".yank-listen-" });
    await Deno.chmod(privateDir, 0o700);
  } catch (error) {
    throw new ProxyListenError(
      `Cannot listen on ${JSON.stringify(path)}: cannot create a directory next to it: ${
        osErrorText(error)
      }`,
      CHECK_LISTEN,
    );
  }
  let listener: Deno.Listener | undefined;
  try {
    const socket = `${privateDir}/s`;
    const bindPath = await aliases.socketPath(privateDir, "s");
    listener = Deno.listen({ transport: "unix", path: bindPath });
    await Deno.chmod(socket, 0o660);
    await Deno.rename(socket, path);
    return listener;
  } catch (error) {
    if (listener !== undefined) listener.close();
    throw new ProxyListenError(
      `Cannot listen on ${JSON.stringify(path)}: ${osErrorText(error)}`,
      CHECK_LISTEN,
    );
  } finally {
    await Deno.remove(privateDir, { recursive: true }).catch(() => {});
  }
}

/**
 * Short paths for sockets in directories too deep for a socket address: a symlink to the
 * directory in a fresh temp directory of our own (mode 0700, so nobody can swap the link).
 */
class ShortAliases implements AsyncDisposable {
  #dir: string | undefined;
  #count = 0;

  /** A path to `dir/name` that fits in a socket address. */
  async socketPath(dir: string, name: string): Promise<string> {
    const path = `${dir}/${name}`;
    if (encoder.encode(path).length <= MAX_SOCKET_PATH_BYTES) return path;
    this.#dir ??= await Deno.makeTempDir({ prefix: "yank-" });
    const alias = `${this.#dir}/${++this.#count}`;
    await Deno.symlink(dir, alias);
    return `${alias}/${name}`;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    if (this.#dir !== undefined) await Deno.remove(this.#dir, { recursive: true }).catch(() => {});
  }
}

/**
 * Throws unless `path` is free or a stale socket nobody listens on any more; `reachable` is
 * `path`, or a short alias of it to connect to.
 */
async function checkTarget(path: string, reachable: string): Promise<void> {
  let isSocket: boolean;
  try {
    isSocket = Deno.lstatSync(path).isSocket === true;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return;
    throw new ProxyListenError(
      `Cannot listen on ${JSON.stringify(path)}: ${osErrorText(error)}`,
      CHECK_LISTEN,
    );
  }
  let stale = false;
  if (isSocket) {
    try {
      (await Deno.connect({ transport: "unix", path: reachable })).close();
    } catch (error) {
      stale = error instanceof Deno.errors.ConnectionRefused;
    }
  }
  if (!stale) throw occupiedListenError(path);
}

function parentOf(path: string): string {
  const slash = path.lastIndexOf("/");
  if (slash < 0) return ".";
  return slash === 0 ? "/" : path.slice(0, slash);
}

function baseOf(path: string): string {
  return path.slice(path.lastIndexOf("/") + 1);
}
