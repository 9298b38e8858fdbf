/**
 * Where `yank watch` puts the yank-only proxy of a monitor (--listen, --listen-dir), and which
 * sockets are its own proxies, which a glob over the proxy directory must not make it watch.
 */

/** Where the proxies go: one path (--listen) or one per monitor in a directory (--listen-dir). */
export interface ProxyPlaces {
  listen?: string | undefined;
  listenDir?: string | undefined;
}

/** The proxy path of `socket`'s monitor; undefined without --listen and --listen-dir. */
export function proxyPath(socket: string, places: ProxyPlaces): string | undefined {
  const { listen, listenDir } = places;
  return listen ?? (listenDir === undefined ? undefined : `${listenDir}/${basename(socket)}`);
}

/**
 * Whether `socket` is one of watch's own proxies. `realDirs` caches resolved directories for
 * one expansion of the globs.
 */
export function isOwnProxy(
  socket: string,
  places: ProxyPlaces,
  realDirs: Map<string, string>,
): boolean {
  const dir = places.listenDir;
  if (dir === undefined) return socket === places.listen;
  const real = (path: string) => {
    let resolved = realDirs.get(path);
    if (resolved === undefined) {
      resolved = realPath(path);
      realDirs.set(path, resolved);
    }
    return resolved;
  };
  return real(dirname(socket)) === real(dir);
}

function dirname(path: string): string {
  const slash = path.lastIndexOf("/");
  return slash < 0 ? "." : path.slice(0, slash) || "/";
}

function basename(path: string): string {
  return path.slice(path.lastIndexOf("/") + 1);
}

function realPath(path: string): string {
  try {
    return Deno.realPathSync(path);
  } catch {
    return path;
  }
}
