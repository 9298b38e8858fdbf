/**
 * Which monitor sockets a run visits: socket globs expanded, duplicates and other spellings of
 * one socket merged, in the order given.
 */

import { compileGlob, isGlob } from "../glob.ts";
import { QmpConnectError } from "../qmp/errors.ts";
import type { Remedy } from "../errors.ts";

/** The sockets to visit; `multi` when the user named several or a glob (output gains SOCKET). */
export interface SocketPlan {
  sockets: string[];
  /** Globs that matched no socket. */
  unmatched: string[];
  /** Globs that could not be expanded: a directory on the way could not be read. */
  unreadable: { pattern: string; directory: string }[];
  multi: boolean;
}

/**
 * Expands globs (in any path segment) and removes duplicates, keeping the order given. A path
 * that exists is that path, even when its name contains `*`, `?`, `[` or `\`; only a path that
 * does not exist is expanded as a glob. Two spellings of one socket (`q1.sock`, `./q1.sock`, a
 * symlink) are one socket, visited once under the first spelling given.
 */
export function planSockets(given: readonly string[]): SocketPlan {
  const sockets: string[] = [];
  const seen = new Set<string>();
  const unmatched: string[] = [];
  const unreadable: SocketPlan["unreadable"] = [];
  for (const pattern of given) {
    let found = [pattern];
    if (isSocketGlob(pattern)) {
      const expansion = expandGlob(pattern);
      found = expansion.found;
      if (expansion.unreadable !== undefined) {
        unreadable.push({ pattern, directory: expansion.unreadable });
      } else if (found.length === 0) unmatched.push(pattern);
    }
    for (const socket of found) {
      const key = realPath(socket);
      if (seen.has(key)) continue;
      seen.add(key);
      sockets.push(socket);
    }
  }
  return { sockets, unmatched, unreadable, multi: isMultiSocket(given) };
}

/** Whether output must name sockets: several were given, or a glob that may match several. */
export function isMultiSocket(given: readonly string[]): boolean {
  return given.length > 1 || given.some(isSocketGlob);
}

/** Whether a --socket value is expanded as a glob: it has glob syntax and names no file. */
export function isSocketGlob(pattern: string): boolean {
  return isGlob(pattern) && !exists(pattern);
}

/** The error for a socket glob that matched nothing. */
export function noSocketMatches(pattern: string): QmpConnectError {
  return new QmpConnectError(pattern, "other", "no socket matches this pattern");
}

/** The error for a socket glob that could not be expanded: `directory` cannot be read. */
export function globUnreadable(pattern: string, directory: string): QmpConnectError {
  return new GlobUnreadableError(pattern, directory);
}

/** A socket glob could not be expanded: like a socket yank may not connect to. */
class GlobUnreadableError extends QmpConnectError {
  override name = "GlobUnreadableError";
  override readonly remedy: Remedy = ["run as a user that may read it, or as root"];
  constructor(pattern: string, directory: string) {
    super(pattern, "denied");
    this.message = `Cannot look for sockets matching ${
      JSON.stringify(pattern)
    }: permission denied reading the directory ${JSON.stringify(directory)}`;
  }
}

function exists(path: string): boolean {
  try {
    Deno.lstatSync(path);
    return true;
  } catch {
    return false;
  }
}

function realPath(path: string): string {
  try {
    return Deno.realPathSync(path);
  } catch {
    // Missing or unreachable: reported under the name given; only identical spellings merge.
    return path;
  }
}

function expandGlob(pattern: string): { found: string[]; unreadable?: string } {
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
        return { found: [] };
      }
      const entries = readDir(dir);
      if (entries === "denied") return { found: [], unreadable: dir };
      for (const entry of entries) {
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
  return { found: found.sort() };
}

function join(dir: string, name: string): string {
  return dir.endsWith("/") ? `${dir}${name}` : `${dir}/${name}`;
}

/** A directory's entries; none when it is missing or not a directory; "denied" if unreadable. */
function readDir(dir: string): Deno.DirEntry[] | "denied" {
  try {
    return [...Deno.readDirSync(dir)];
  } catch (error) {
    return error instanceof Deno.errors.PermissionDenied ? "denied" : [];
  }
}

/** Whether `path` names a unix socket (through any symlinks). */
export function isSocket(path: string): boolean {
  try {
    return Deno.statSync(path).isSocket === true;
  } catch {
    return false;
  }
}
