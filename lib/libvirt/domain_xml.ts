/**
 * What yank needs from a libvirt domain's live XML (`virsh dumpxml`, or the status XML libvirt
 * keeps in its run directory): the QMP monitor added for yank through `<qemu:commandline>`, and
 * the disks' targets and device aliases. libvirt's own monitor is noted only to be avoided.
 */

import { childrenNamed, descendantsNamed, parseXml, type XmlElement } from "./xml.ts";
import type { DiskAlias } from "../yank/disks.ts";

/** The namespace of `<qemu:commandline>`. */
export const QEMU_NAMESPACE = "http://libvirt.org/schemas/domain/qemu/1.0";

/** A domain as yank sees it. */
export interface LibvirtDomain {
  name: string;
  /** Unix socket paths of the QMP monitors given through `<qemu:commandline>`, in order. */
  yankMonitors: string[];
  /** libvirt's own monitor socket (status XML only): held by libvirt, never used by yank. */
  libvirtMonitor: string | undefined;
  /** Each disk's target (`vda`) and device alias (`virtio-disk0`, live XML only). */
  disks: DiskAlias[];
}

/** The XML is not a libvirt domain. */
export class DomainXmlError extends Error {
  override name = "DomainXmlError";
}

/** Reads a domain XML or a status XML (`<domstatus>` around the `<domain>`). */
export function parseDomainXml(text: string): LibvirtDomain {
  let root: XmlElement;
  try {
    root = parseXml(text);
  } catch (error) {
    throw new DomainXmlError(error instanceof Error ? error.message : String(error));
  }
  const domain = root.name === "domain" ? root : childrenNamed(root, "domain")[0];
  if (domain === undefined) throw new DomainXmlError(`no <domain> element (found <${root.name}>)`);
  const name = childrenNamed(domain, "name")[0];
  const libvirtMonitor = root.name === "domstatus"
    ? childrenNamed(root, "monitor")[0]?.attributes.path
    : undefined;
  const yankMonitors = qmpSocketsOf(qemuCommandline(domain))
    .filter((path) => path !== libvirtMonitor);
  const disks: DiskAlias[] = [];
  for (const devices of childrenNamed(domain, "devices")) {
    for (const disk of childrenNamed(devices, "disk")) {
      const target = childrenNamed(disk, "target")[0]?.attributes.dev;
      const alias = childrenNamed(disk, "alias")[0]?.attributes.name;
      if (target !== undefined && alias !== undefined) disks.push({ target, alias });
    }
  }
  return { name: name?.text.trim() ?? "", yankMonitors, libvirtMonitor, disks };
}

/** The `<qemu:arg value=...>` values, with whatever prefix the namespace is bound to. */
export function qemuCommandline(domain: XmlElement): string[] {
  const prefixes = Object.entries(domain.attributes)
    .filter(([key, value]) => key.startsWith("xmlns:") && value === QEMU_NAMESPACE)
    .map(([key]) => key.slice("xmlns:".length));
  const args: string[] = [];
  for (const prefix of prefixes) {
    for (const commandline of descendantsNamed(domain, `${prefix}:commandline`)) {
      for (const arg of childrenNamed(commandline, `${prefix}:arg`)) {
        if (arg.attributes.value !== undefined) args.push(arg.attributes.value);
      }
    }
  }
  return args;
}

/**
 * Splits QEMU's option syntax `socket,id=x,path=/a,,b` into its parts (`,,` is a literal
 * comma). A part without `=` is kept as the key with value undefined.
 */
export function splitQemuOptions(text: string): [string, string | undefined][] {
  const parts: string[] = [];
  let current = "";
  for (let i = 0; i < text.length; i++) {
    if (text[i] === ",") {
      if (text[i + 1] === ",") {
        current += ",";
        i++;
        continue;
      }
      parts.push(current);
      current = "";
    } else {
      current += text[i];
    }
  }
  parts.push(current);
  return parts.map((part) => {
    const eq = part.indexOf("=");
    return eq < 0 ? [part, undefined] : [part.slice(0, eq), part.slice(eq + 1)];
  });
}

function isOn(value: string | undefined, present: boolean): boolean {
  if (!present) return false;
  return value === undefined || ["on", "yes", "true", "y"].includes(value);
}

/**
 * The unix socket paths of QMP (control mode) monitors that QEMU listens on, from a QEMU
 * command line: `-chardev socket,id=ID,path=P,server=on` with `-mon chardev=ID,mode=control`,
 * or `-qmp unix:P,server=on`. HMP monitors (`-mon` without `mode=control`) are left out.
 */
export function qmpSocketsOf(args: readonly string[]): string[] {
  const listening = new Map<string, string>();
  const sockets: string[] = [];
  const flag = (arg: string) => arg.replace(/^--/, "-");
  for (let i = 0; i + 1 < args.length; i++) {
    const value = args[i + 1]!;
    switch (flag(args[i]!)) {
      case "-chardev": {
        const options = splitQemuOptions(value);
        const map = new Map(options);
        const server = options.some(([key]) => key === "server");
        if (
          options[0]?.[0] === "socket" && options[0][1] === undefined &&
          map.get("id") !== undefined && map.get("path") !== undefined &&
          isOn(map.get("server"), server)
        ) {
          listening.set(map.get("id")!, map.get("path")!);
        }
        i++;
        break;
      }
      case "-mon": {
        const map = new Map(splitQemuOptions(value));
        const path = listening.get(map.get("chardev") ?? "");
        if (map.get("mode") === "control" && path !== undefined) sockets.push(path);
        i++;
        break;
      }
      case "-qmp":
      case "-qmp-pretty": {
        if (!value.startsWith("unix:")) break;
        const options = splitQemuOptions(value.slice("unix:".length));
        const path = options[0]?.[0];
        const server = options.slice(1).some(([key]) => key === "server");
        if (path && isOn(new Map(options.slice(1)).get("server"), server)) sockets.push(path);
        i++;
        break;
      }
    }
  }
  return [...new Set(sockets)];
}
