/**
 * What the watchdog of one VM knows about it: what the user asked for (selectors, --spare,
 * --dry-run, libvirt's disk names), and what was learnt in-band while the main loop answered
 * (QEMU's version, the watchdog's own chardev, the disks, the count of instances, the peers).
 * One object, shared by the connection, the probe loop, the recoveries, the health reports and
 * the proxy's upstream, instead of a copy of its fields in each.
 */

import type { QemuVersion } from "../qmp/greeting.ts";
import type { BlockDisk, YankSelectors } from "../yank/match.ts";
import type { DiskAlias } from "../yank/disks.ts";
import type { PlanContext } from "./recovery.ts";
import type { PeerBook } from "./peer_book.ts";

/** What the user asked of the watchdog of one VM. */
export interface VmRequest {
  /** The dedicated monitor socket. */
  socket: string;
  /** What to yank on a hang; none means report only. */
  selectors: YankSelectors;
  /** `--spare` globs: chardevs never yanked, like monitors'. */
  spare?: readonly string[] | undefined;
  /** libvirt's disk targets and aliases, for `--disk vda`. */
  diskAliases?: readonly DiskAlias[] | undefined;
  /** Log what would be yanked, yank nothing. */
  dryRun: boolean;
}

/** What is known about one VM; the fields learnt in-band are undefined until learnt. */
export class KnownVm {
  readonly socket: string;
  readonly selectors: YankSelectors;
  readonly spare: readonly string[];
  readonly diskAliases: readonly DiskAlias[] | undefined;
  readonly dryRun: boolean;
  /** QEMU's version from the last greeting. */
  version: QemuVersion | undefined;
  /** The chardev of the watchdog's own monitor, learnt while the main loop was healthy. */
  ownChardev: string | undefined;
  /** The disks and their nodes (`--disk`), learnt while the main loop answered. */
  disks: BlockDisk[] = [];
  /** How many instances the last query-yank listed; undefined while not connected. */
  instances: number | undefined;
  /** The peers of the current connection's QEMU; undefined while not connected. */
  peers: PeerBook | undefined;

  constructor(request: VmRequest) {
    this.socket = request.socket;
    this.selectors = request.selectors;
    this.spare = request.spare ?? [];
    this.diskAliases = request.diskAliases;
    this.dryRun = request.dryRun;
  }

  /** What the recovery planner needs besides the selectors. */
  get plan(): PlanContext {
    return { ownChardev: this.ownChardev, spare: this.spare, disks: this.disks };
  }

  /** Forgets what only the connection that ended knew. */
  forgetConnection(): void {
    this.peers = undefined;
    this.instances = undefined;
  }
}
