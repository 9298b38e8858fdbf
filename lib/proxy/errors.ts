/**
 * Failures of the proxy that the CLI maps to exit codes, apart from the server itself.
 */

/** The proxy socket could not be created; the message says why and what to do. */
export class ProxyListenError extends Error {
  override name = "ProxyListenError";
}

/**
 * Why `path` cannot become the proxy socket although something is there: worded by what it is,
 * so that a regular file or a directory is not mistaken for another watchdog's socket.
 */
export function occupiedListenMessage(path: string): string {
  const where = `Cannot listen on ${JSON.stringify(path)}`;
  let info: Deno.FileInfo;
  try {
    info = Deno.lstatSync(path);
  } catch {
    return `${where}: something else took the path meanwhile (try again)`;
  }
  if (info.isDirectory) {
    return `${where}: it is a directory (give --listen the path of a new socket inside it, e.g. ${
      JSON.stringify(`${path.replace(/\/+$/, "")}/vm1.qmp`)
    })`;
  }
  if (info.isFile) {
    return `${where}: it is a regular file, not a socket (remove it, or choose another --listen path)`;
  }
  if (info.isSymlink) {
    return `${where}: it is a symlink (give --listen the path of a new socket, not a link)`;
  }
  if (info.isSocket) {
    return `${where}: another process is listening on this socket (is another yank watch serving it? stop it, or choose another --listen path)`;
  }
  return `${where}: it exists and is not a socket (remove it, or choose another --listen path)`;
}
