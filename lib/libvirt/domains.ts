/**
 * Finding running libvirt domains by name or glob, from the status XML libvirt's QEMU driver
 * keeps for each running domain. Reading a file works even while libvirtd is stuck on a hung
 * QEMU (every virsh call then waits 30 s for the domain's state lock), and never touches
 * libvirt's own monitor socket.
 */

import { YankError } from "../errors.ts";
import { compileGlob, isGlob } from "../glob.ts";
import { type LibvirtDomain, parseDomainXml } from "./domain_xml.ts";

/** Where libvirtd (system mode) keeps the status XML of running QEMU domains. */
export const LIBVIRT_QEMU_RUN_DIR = "/run/libvirt/qemu";

/** A running domain and the socket of its yank monitor. */
export interface FoundDomain {
  domain: LibvirtDomain;
  /** The first QMP monitor of its `<qemu:commandline>`. */
  socket: string;
}

/** No running domain has this name, or none matches this glob. */
export class DomainNotFoundError extends YankError {
  override name = "DomainNotFoundError";
  override readonly kind = "not-found";
  constructor(readonly pattern: string, runDir: string) {
    super(
      `${isGlob(pattern) ? "No running libvirt domain matches" : "No running libvirt domain"} ${
        JSON.stringify(pattern)
      }`,
      [
        `yank reads the status XML libvirt keeps in ${
          JSON.stringify(runDir)
        } for running domains; check "virsh list"`,
      ],
    );
  }
}

/** The domain runs, but has no QMP monitor of its own for yank. */
export class NoYankMonitorError extends YankError {
  override name = "NoYankMonitorError";
  override readonly kind = "not-found";
  constructor(readonly domain: string) {
    const path = `/run/yank/${domain}.qmp`;
    super(
      `libvirt domain ${JSON.stringify(domain)} has no QMP monitor for yank (libvirt's own is ` +
        `always held and cut at its peril): add to its XML <qemu:commandline> with -chardev ` +
        `socket,id=yankmon,path=${path},server=on,wait=off and -mon chardev=yankmon,mode=control, ` +
        `then restart the VM`,
      [{ action: "libvirt-help" }],
    );
  }
}

/** libvirt's run directory or a status file cannot be read (usually: not root). */
export class LibvirtAccessError extends YankError {
  override name = "LibvirtAccessError";
  override readonly kind = "connection";
  constructor(readonly path: string, reason: string) {
    super(`Cannot read libvirt's domain status ${JSON.stringify(path)}: ${reason}`, [
      "run yank as root, or ",
      { action: "name-socket" },
    ]);
  }
}

/** What `findDomains` found: the domains with a yank monitor, and a failure per the rest. */
export interface DomainSearch {
  found: FoundDomain[];
  failures: Error[];
}

/**
 * Finds the running domains the patterns name (exact names or globs; a pattern that is some
 * domain's exact name means that domain, glob characters and all), each once, in the order
 * given, and the socket of each one's yank monitor. A pattern that finds nothing, a domain
 * without a yank monitor and an unreadable file each give one failure; the others are found.
 */
export async function findDomains(
  patterns: readonly string[],
  runDir: string = LIBVIRT_QEMU_RUN_DIR,
): Promise<DomainSearch> {
  const found: FoundDomain[] = [];
  const failures: Error[] = [];
  const seen = new Set<string>();
  for (const pattern of patterns) {
    let names: string[];
    try {
      // A domain may be named like a glob ("web[1]"): a pattern that names one is that one.
      names = isGlob(pattern) && !(await isDomain(runDir, pattern))
        ? await listDomains(runDir, compileGlob(pattern))
        : [pattern];
    } catch (error) {
      failures.push(error as Error);
      continue;
    }
    if (names.length === 0) failures.push(new DomainNotFoundError(pattern, runDir));
    for (const name of names) {
      // libvirt refuses a "/" in a name; any other name is one file in the run directory.
      if (name.includes("/") || name === "") {
        failures.push(new DomainNotFoundError(name, runDir));
        continue;
      }
      if (seen.has(name)) continue;
      seen.add(name);
      const path = `${runDir}/${name}.xml`;
      let text: string;
      try {
        text = await Deno.readTextFile(path);
      } catch (error) {
        failures.push(
          error instanceof Deno.errors.NotFound
            ? new DomainNotFoundError(name, runDir)
            : new LibvirtAccessError(path, reasonOf(error)),
        );
        continue;
      }
      let domain: LibvirtDomain;
      try {
        domain = parseDomainXml(text);
      } catch (error) {
        failures.push(new LibvirtAccessError(path, reasonOf(error)));
        continue;
      }
      const socket = domain.yankMonitors[0];
      if (socket === undefined) failures.push(new NoYankMonitorError(name));
      else found.push({ domain, socket });
    }
  }
  return { found, failures };
}

async function isDomain(runDir: string, name: string): Promise<boolean> {
  if (name.includes("/")) return false;
  try {
    return (await Deno.lstat(`${runDir}/${name}.xml`)).isFile;
  } catch {
    return false;
  }
}

async function listDomains(runDir: string, glob: RegExp): Promise<string[]> {
  const names: string[] = [];
  try {
    for await (const entry of Deno.readDir(runDir)) {
      if (!entry.isFile || !entry.name.endsWith(".xml")) continue;
      const name = entry.name.slice(0, -".xml".length);
      if (glob.test(name)) names.push(name);
    }
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return [];
    throw new LibvirtAccessError(runDir, reasonOf(error));
  }
  return names.sort();
}

function reasonOf(error: unknown): string {
  if (error instanceof Deno.errors.PermissionDenied) return "permission denied";
  return error instanceof Error ? error.message : String(error);
}
