/**
 * Failures of the proxy that the CLI maps to exit codes, apart from the server itself.
 */

import { type Remedy, type RemedyAction, YankError } from "../errors.ts";

/** The proxy socket could not be created; the message says why, the remedy what to do. */
export class ProxyListenError extends YankError {
  override name = "ProxyListenError";
  override readonly kind = "connection";
}

const LISTEN_ELSEWHERE: RemedyAction = { action: "listen-elsewhere" };

/**
 * Why `path` cannot become the proxy socket although something is there: worded by what it is,
 * so that a regular file or a directory is not mistaken for another watchdog's socket.
 */
export function occupiedListenError(path: string): ProxyListenError {
  const where = `Cannot listen on ${JSON.stringify(path)}`;
  const error = (finding: string, remedy: Remedy) =>
    new ProxyListenError(`${where}: ${finding}`, remedy);
  let info: Deno.FileInfo;
  try {
    info = Deno.lstatSync(path);
  } catch {
    return error("something else took the path meanwhile", ["try again"]);
  }
  if (info.isDirectory) {
    return error("it is a directory", [{
      action: "listen-inside",
      example: `${path.replace(/\/+$/, "")}/vm1.qmp`,
    }]);
  }
  if (info.isFile) {
    return error("it is a regular file, not a socket", ["remove it, or ", LISTEN_ELSEWHERE]);
  }
  if (info.isSymlink) return error("it is a symlink", [{ action: "listen-not-link" }]);
  if (info.isSocket) {
    return error("another process is listening on this socket", [
      { action: "stop-other-watch" },
      ", or ",
      LISTEN_ELSEWHERE,
    ]);
  }
  return error("it exists and is not a socket", ["remove it, or ", LISTEN_ELSEWHERE]);
}
