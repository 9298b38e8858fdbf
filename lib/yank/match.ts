/**
 * Which yank instances a user means: selectors of exact names or shell-style globs.
 */

import { compileGlob, isGlob } from "../glob.ts";
import { instanceName, type YankInstance, type YankInstanceType } from "./instances.ts";

/** What the user asked to yank. */
export interface YankSelectors {
  /** Chardev ids or globs. */
  chardev: string[];
  /** Block node-names or globs. */
  blockNode: string[];
  /** Whether the migration is meant. */
  migration: boolean;
  /** Disks (device ids, libvirt targets or aliases) or globs: the NBD nodes behind them. */
  disk?: string[] | undefined;
}

/**
 * Chardev ids that look like a monitor's: any id holding `mon`, `qmp` or `hmp` in any case.
 * That covers QEMU's `-qmp`/`-monitor` (`compat_monitorN`), libvirt's own monitor
 * (`charmonitor`; yanking it makes libvirt kill the VM), Proxmox's (`qmp`, `qmp-event`) and
 * the names people give a second monitor (README's `yankmon`, `mon-<x>`, `hmp0`). QEMU 7.2
 * cannot tell a client which chardevs carry monitors: `query-chardev` says
 * `frontend-open: true` for a serial port's chardev as for a monitor's, `qom-list` on a chardev
 * shows only `type`, `connected` and `addr`, and no command lists the monitors. So names (and
 * `--spare`) are how a monitor is known, except the one yank talks through, which
 * `query-chardev` reveals by its socket path.
 */
export const MONITOR_CHARDEV_PATTERN = /mon|qmp|hmp/i;

/**
 * Whether a chardev id looks like a monitor's (MONITOR_CHARDEV_PATTERN), or matches one of the
 * `spare` globs (which the caller has checked with `compileGlob`).
 */
export function isSparedChardev(id: string, spare: readonly string[] = []): boolean {
  return MONITOR_CHARDEV_PATTERN.test(id) ||
    spare.some((pattern) => compileGlob(pattern).test(id));
}

/**
 * Why yank takes a chardev for a monitor's, for refusal texts: `it looks like a monitor's
 * chardev (its id holds "mon", "qmp" or "hmp")`, or one that a spare pattern names.
 */
export function monitorLikeness(id: string): string {
  const why = MONITOR_CHARDEV_PATTERN.test(id)
    ? `its id holds "mon", "qmp" or "hmp"`
    : "a pattern of chardevs to spare names it";
  const libvirt = id === "charmonitor" ? `; libvirt kills a VM whose "charmonitor" is cut` : "";
  return `it looks like a monitor's chardev (${why}${libvirt})`;
}

/** A disk as QEMU and libvirt name it, and the block nodes behind it. */
export interface BlockDisk {
  /** Every name of the disk: QEMU's device id, libvirt's target (`vda`) and alias. */
  names: string[];
  /** The node-names of its node chain, top first. */
  nodes: string[];
}

/** A selector type: a yank instance type, or a disk (whose NBD nodes are meant). */
export type SelectorType = YankInstanceType | "disk";

/** One selector and what it matched. */
export interface SelectorMatch {
  type: SelectorType;
  /** The pattern as given; "" for migration. */
  pattern: string;
  matched: YankInstance[];
  /** Monitor chardevs (or `--spare` ones) that a glob matched but that were left out. */
  spared: string[];
}

/** The outcome of matching selectors against `query-yank`. */
export interface InstanceMatch {
  /** Every instance to yank, in `query-yank` order, each once. */
  instances: YankInstance[];
  /** One entry per selector, in the order given. */
  selectors: SelectorMatch[];
  /** Monitor chardevs named exactly, refused without `force`. */
  refused: string[];
}

/** Options of `matchInstances`. */
export interface MatchOptions {
  /** The chardev id of the monitor this connection goes through, if known. */
  monitorChardev?: string | undefined;
  /** More chardev globs to treat as monitors (`--spare`). */
  spare?: readonly string[];
  /** The disks, for disk selectors; without them a disk selector matches nothing. */
  disks?: readonly BlockDisk[];
  /** Allow naming a monitor's chardev exactly. */
  force?: boolean;
}

/**
 * Matches selectors against the instances `query-yank` listed. A glob never matches a
 * monitor's chardev (the own one, one whose id looks like a monitor's, or a `spare` one): yanking the own one
 * cuts this very connection, libvirt's makes libvirt kill the VM. An exact name does, with
 * `force`. A disk selector matches the NBD nodes in the chain of every disk it names.
 */
export function matchInstances(
  instances: readonly YankInstance[],
  selectors: YankSelectors,
  options: MatchOptions = {},
): InstanceMatch {
  const chosen = new Set<YankInstance>();
  const results: SelectorMatch[] = [];
  const refused: string[] = [];
  const isMonitor = (id: string) =>
    id === options.monitorChardev || isSparedChardev(id, options.spare);
  const matcher = (pattern: string) => {
    const glob = isGlob(pattern) ? compileGlob(pattern) : undefined;
    return (name: string) => glob ? glob.test(name) : name === pattern;
  };
  const select = (type: SelectorType, pattern: string) => {
    const matches = matcher(pattern);
    const result: SelectorMatch = { type, pattern, matched: [], spared: [] };
    const diskNodes = type === "disk"
      ? new Set((options.disks ?? []).filter((d) => d.names.some(matches)).flatMap((d) => d.nodes))
      : undefined;
    for (const instance of instances) {
      const name = instanceName(instance);
      if (diskNodes) {
        if (instance.type !== "block-node" || !diskNodes.has(name)) continue;
      } else {
        if (instance.type !== type || !matches(name)) continue;
        if (type === "chardev" && isMonitor(name)) {
          if (isGlob(pattern)) {
            result.spared.push(name);
            continue;
          }
          if (!options.force) {
            if (!refused.includes(name)) refused.push(name);
            continue;
          }
        }
      }
      result.matched.push(instance);
      chosen.add(instance);
    }
    results.push(result);
  };
  if (selectors.migration) select("migration", "");
  for (const pattern of selectors.chardev) select("chardev", pattern);
  for (const pattern of selectors.blockNode) select("block-node", pattern);
  for (const pattern of selectors.disk ?? []) select("disk", pattern);
  return {
    instances: instances.filter((instance) => chosen.has(instance)),
    selectors: results,
    refused,
  };
}

/** Whether any selector was given at all. */
export function hasSelectors(selectors: YankSelectors): boolean {
  return selectors.migration || selectors.chardev.length > 0 || selectors.blockNode.length > 0 ||
    (selectors.disk ?? []).length > 0;
}
