/**
 * What the watchdog knows about the peers of one QEMU: learnt with in-band queries while the
 * main loop answers (a hung one cannot be asked), refreshed after the events that change them
 * and now and then (blockdev-add has no event), and QEMU's pid, so that on a hang the peers of
 * the matched instances can be judged from the kernel's view of QEMU's sockets.
 */

import type { QmpClient } from "../qmp/client.ts";
import type { QmpEvent } from "../qmp/incoming.ts";
import { describeInstance, type YankInstance } from "../yank/instances.ts";
import {
  describePeers,
  instanceKey,
  type InstancePeer,
  type PeerReplies,
} from "../yank/describe_peers.ts";
import { formatPeer } from "../yank/peer_format.ts";
import { queryPeers } from "../yank/query_peers.ts";
import { isSocket } from "../sockets/plan.ts";
import type { PeerEndpoint, PeerVerdict } from "../liveness/judge.ts";
import { endpointOf } from "../yank/peer_endpoint.ts";
import { findQemuProcess, judgePeers, type QemuProcess, type RunSs } from "../liveness/sample.ts";

/** Events after which the peers may have changed. */
const PEER_EVENT = /^(BLOCK_JOB_|JOB_STATUS_CHANGE$|MIGRATION$|DEVICE_DELETED$|VSERPORT_CHANGE$)/;

/** Refresh at least this often, in milliseconds, for changes no event reports. */
const REFRESH_EVERY_MS = 30_000;

/** One instance's judgement, for the log. */
export interface PeerJudgement {
  instance: YankInstance;
  peer: string;
  verdict: PeerVerdict;
}

/** Options of a PeerBook. */
export interface PeerBookOptions {
  /** Monotonic clock in milliseconds. */
  now: () => number;
  /** Longest wait for the in-band peer queries, in milliseconds. */
  timeoutMs: number;
  /** Runs `ss`, to find QEMU's process and judge its peers (runSs of lib/liveness/sample.ts). */
  runSs?: RunSs | undefined;
}

/** The peers of one connection's QEMU. */
export class PeerBook {
  #options: PeerBookOptions;
  #replies: PeerReplies | undefined;
  #learnedAt = -Infinity;
  #stale = true;
  #refreshing = false;
  #process: QemuProcess | undefined;

  constructor(options: PeerBookOptions) {
    this.#options = options;
  }

  /** QEMU's pid, or why it is unknown (after `locate`). */
  get process(): QemuProcess | undefined {
    return this.#process;
  }

  /** Finds QEMU's process from its monitor socket. */
  async locate(socket: string): Promise<QemuProcess> {
    this.#process = await findQemuProcess(socket, this.#options.runSs);
    return this.#process;
  }

  /** Marks the peers stale after an event that may have changed them. */
  onEvent(event: QmpEvent): void {
    if (PEER_EVENT.test(event.event)) this.#stale = true;
  }

  /**
   * Starts a refresh when the peers are stale or old, at most one at a time, and does not wait
   * for it: the caller's probe keeps its schedule, and QEMU never has more than the probe, the
   * four peer queries and the stall watch's two queries (StallWatch, at most one sample in
   * flight) queued: seven of the eight in-band commands it queues.
   */
  refreshIfDue(client: QmpClient): Promise<void> | undefined {
    const { now, timeoutMs } = this.#options;
    if (this.#refreshing) return undefined;
    if (!this.#stale && now() - this.#learnedAt < REFRESH_EVERY_MS) return undefined;
    this.#refreshing = true;
    this.#stale = false;
    const startedAt = now();
    return queryPeers(client, { timeoutMs }).then(
      (replies) => {
        this.#replies = replies;
        this.#learnedAt = startedAt;
      },
      () => {
        this.#stale = true; // Try again after the next answered probe.
      },
    ).finally(() => this.#refreshing = false);
  }

  /** The known peers of `instances` (all unknown before the first refresh). */
  peersOf(instances: readonly YankInstance[]): Map<string, InstancePeer> {
    return describePeers(instances, this.#replies ?? {}, { isSocket });
  }

  /**
   * Judges the peers of `instances` (some of `all`, the instances query-yank listed) within about
   * `boundMs`. An instance whose peer is unknown,
   * or whose QEMU process cannot be inspected, gets an "unknown" verdict saying why.
   */
  async judge(
    all: readonly YankInstance[],
    instances: readonly YankInstance[],
    boundMs: number,
  ): Promise<PeerJudgement[]> {
    const peers = this.peersOf(all);
    const targets: { key: string; endpoint: PeerEndpoint }[] = [];
    const judgements: PeerJudgement[] = [];
    const unknown = (instance: YankInstance, peer: string, evidence: string) =>
      judgements.push({ instance, peer, verdict: { state: "unknown", evidence } });
    for (const instance of instances) {
      const peer = peers.get(instanceKey(instance))?.peer;
      // The migration's connections are found without its target (QEMU does not name it).
      const endpoint: PeerEndpoint | undefined = instance.type === "migration"
        ? { transport: "unclaimed" }
        : peer && endpointOf(peer);
      if (endpoint === undefined) {
        unknown(
          instance,
          formatPeer(peer),
          peer === undefined
            ? "its peer is not known (not learnt while the main loop answered)"
            : "it has no connection to judge",
        );
        continue;
      }
      targets.push({ key: instanceKey(instance), endpoint });
    }
    const process = this.#process;
    if (targets.length === 0) return judgements;
    if (process === undefined || "error" in process) {
      const why = process === undefined ? "QEMU's process is not known" : process.error;
      for (const target of targets) {
        const instance = instances.find((i) => instanceKey(i) === target.key)!;
        unknown(instance, formatPeer(peers.get(target.key)?.peer), why);
      }
      return judgements;
    }
    // Other peers' connections are judged too, so that the migration's are told from theirs.
    const known = [...peers.entries()].flatMap(([key, p]) => {
      if (targets.some((t) => t.key === key) || p.peer === undefined) return [];
      const endpoint = endpointOf(p.peer);
      return endpoint === undefined || endpoint.transport === "unclaimed"
        ? []
        : [{ key, endpoint }];
    });
    const verdicts = await judgePeers(process.pid, [...targets, ...known], {
      boundMs,
      ...(this.#options.runSs ? { runSs: this.#options.runSs } : {}),
    });
    for (const target of targets) {
      const instance = instances.find((i) => instanceKey(i) === target.key)!;
      judgements.push({
        instance,
        peer: instance.type === "migration"
          ? "migration target"
          : formatPeer(peers.get(target.key)?.peer),
        verdict: verdicts.get(target.key)!,
      });
    }
    return judgements;
  }
}

/** One log message for a judgement: `block-node "nbd3" (unix:/run/n.sock) is dead: EVIDENCE`. */
export function describeJudgement(judgement: PeerJudgement): string {
  const { instance, peer, verdict } = judgement;
  const who = `${describeInstance(instance)} (${peer})`;
  switch (verdict.state) {
    case "dead":
      return `peer of ${who} judged dead: ${verdict.evidence}`;
    case "alive":
      return `peer of ${who} judged alive: ${verdict.evidence}`;
    case "unknown":
      return `no evidence about the peer of ${who}: ${verdict.evidence}`;
  }
}
