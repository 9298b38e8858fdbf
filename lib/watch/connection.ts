/**
 * The connection of one VM's watchdog: connect and negotiate out-of-band execution while QEMU
 * is healthy, learn in-band what a hang will need (the watchdog's own chardev, the disks, the
 * instances, the peers), hand the connection to the probe loop, and reconnect with backoff.
 */

import type { QmpClient, QmpClientOptions, QmpTraceDirection } from "../qmp/client.ts";
import { formatVersion } from "../qmp/greeting.ts";
import { formatSeconds, QmpDisconnectedError, QmpTimeoutError } from "../qmp/errors.ts";
import { describeFailure, type RemedyWording, YankError } from "../errors.ts";
import { findMonitorChardev, queryYank, YankUnsupportedError } from "../yank/yank.ts";
import type { YankInstance } from "../yank/instances.ts";
import { hasSelectors, matchInstances } from "../yank/match.ts";
import { queryDisks } from "../yank/disks.ts";
import type { RunSs } from "../liveness/sample.ts";
import { OobNotOfferedError } from "./errors.ts";
import { PeerBook } from "./peer_book.ts";
import type { KnownVm } from "./known_vm.ts";
import type { WatchState } from "./log.ts";
import type { WatchReports } from "./watch_reports.ts";
import { BACKOFF_START_MS, nextBackoff, sleep, within } from "./timing.ts";

/** Connects to a monitor, reads the greeting and negotiates: QmpClient.connect's shape. */
export type ConnectQmp = (socket: string, options: QmpClientOptions) => Promise<QmpClient>;

/** How one connection's watch ended: whether any probe was answered, and the failure if known. */
export interface Watched {
  answered: boolean;
  error: unknown;
}

/** Options of a Connection. */
export interface ConnectionOptions {
  /** Connects and negotiates (QmpClient.connect in yank). */
  connect: ConnectQmp;
  /** Runs `ss` to judge peers (runSs of lib/liveness/sample.ts in yank). */
  runSs: RunSs;
  /** Bounds connecting, negotiating and every in-band query while connecting, in milliseconds. */
  timeoutMs: number;
  /** Monotonic clock in milliseconds. */
  monotonic: () => number;
  /** Ends the connection loop. */
  signal: AbortSignal;
  trace?: ((direction: QmpTraceDirection, text: string) => void) | undefined;
  wording?: RemedyWording | undefined;
  log: (state: WatchState, message: string) => void;
  reports: WatchReports;
}

/** The connection of one VM's watchdog, and its reconnecting. */
export class Connection {
  #vm: KnownVm;
  #options: ConnectionOptions;
  #client: QmpClient | undefined;

  constructor(vm: KnownVm, options: ConnectionOptions) {
    this.#vm = vm;
    this.#options = options;
  }

  /** The connection watched right now, if any. */
  get client(): QmpClient | undefined {
    return this.#client;
  }

  /**
   * Connects, hands each connection to `watch`, and reconnects after a delay that doubles from
   * 0.1 s to 5 s and starts again once a probe was answered, until the signal aborts.
   * `closed` runs after each connection is closed.
   */
  async loop(
    watch: (client: QmpClient) => Promise<Watched>,
    closed: () => Promise<void>,
  ): Promise<void> {
    const { signal, log, reports } = this.#options;
    let delay = BACKOFF_START_MS;
    while (!signal.aborted) {
      const client = await this.#connect();
      if (client !== undefined) {
        let watched: Watched = { answered: false, error: undefined };
        try {
          watched = await watch(client);
        } finally {
          this.#client = undefined;
          this.#vm.forgetConnection();
          client.close();
          await closed();
        }
        if (watched.answered) delay = BACKOFF_START_MS;
        if (signal.aborted) break;
        log(
          "disconnected",
          `the connection to QEMU ended; reconnecting in ${formatSeconds(delay)}`,
        );
        await reports.failed(
          watched.error ?? new QmpDisconnectedError(client.socket, "the next message"),
        );
      }
      if (!await sleep(delay, signal)) break;
      delay = nextBackoff(delay);
    }
  }

  /** One connection attempt; undefined (after logging why) when it should be retried. */
  async #connect(): Promise<QmpClient | undefined> {
    const { timeoutMs, trace, monotonic: now, signal, log, reports } = this.#options;
    const vm = this.#vm;
    const peers = new PeerBook({ now, timeoutMs, runSs: this.#options.runSs });
    const attempt = this.#options.connect(vm.socket, {
      timeoutMs,
      now,
      onEvent: (event) => peers.onEvent(event),
      ...(trace ? { trace } : {}),
    });
    const connected = await within(attempt, Infinity, signal);
    if (connected.kind === "aborted") {
      attempt.then((c) => c.close(), () => {});
      return undefined;
    }
    if (connected.kind !== "settled") {
      this.#logRetry(connected.kind === "failed" ? connected.error : undefined);
      await reports.failed(connected.kind === "failed" ? connected.error : undefined);
      return undefined;
    }
    const client = connected.value;
    let instances: YankInstance[];
    vm.version = client.greeting.version;
    if (!client.oob) {
      client.close();
      throw new OobNotOfferedError(vm.socket);
    }
    try {
      // In-band, and so only now, while the main loop answers: later it may not.
      vm.ownChardev = await findMonitorChardev(client);
      if ((vm.selectors.disk ?? []).length > 0) {
        vm.disks = await queryDisks(client, vm.diskAliases);
      }
      instances = await queryYank(client);
      vm.instances = instances.length;
      await peers.refreshIfDue(client);
    } catch (error) {
      client.close();
      if (error instanceof YankUnsupportedError) throw error;
      this.#logRetry(error);
      await reports.failed(error);
      return undefined;
    }
    this.#client = client;
    vm.peers = peers;
    const located = await peers.locate(vm.socket);
    const own = vm.ownChardev === undefined
      ? "cannot tell which chardev carries this monitor"
      : `own monitor chardev ${JSON.stringify(vm.ownChardev)}`;
    const mode = !hasSelectors(vm.selectors)
      ? "no selectors: reporting hangs only"
      : vm.dryRun
      ? "dry run: logging what would be yanked"
      : "yanking on a hang";
    log(
      "connected",
      `connected to QEMU ${formatVersion(client.greeting.version)} with oob; ${own}; ${mode}`,
    );
    if ("error" in located && hasSelectors(vm.selectors)) {
      log(
        "warning",
        `cannot judge which peers are dead (${located.error}); on a hang watch yanks every match, least harm first`,
      );
    }
    if (vm.ownChardev === undefined && vm.selectors.chardev.length > 0) {
      log(
        "warning",
        "--chardev globs might match this monitor's own chardev and cut watch's connection; name the chardevs exactly",
      );
    }
    this.#warnUnmatched(instances);
    return client;
  }

  /**
   * Warns when a selector matches nothing now, while QEMU answers: most likely a typo or a
   * name QEMU does not use (libvirt names NBD nodes `libvirt-N-storage`). The migration is left
   * out: it is an instance only while one runs.
   */
  #warnUnmatched(instances: readonly YankInstance[]): void {
    const vm = this.#vm;
    const match = matchInstances(instances, vm.selectors, {
      monitorChardev: vm.ownChardev,
      spare: vm.spare,
      disks: vm.disks,
    });
    const empty = match.selectors.filter((s) => s.type !== "migration" && s.matched.length === 0);
    if (empty.length === 0) return;
    this.#options.log(
      "warning",
      `${
        empty.map((s) =>
          `--${s.type} ${JSON.stringify(s.pattern)}${
            s.spared.length > 0 ? " (matches only monitor chardevs, which are never yanked)" : ""
          }`
        ).join(", ")
      } matches no yank instance now (run "yank list", and for disks check the names in "virsh domblklist"); watch yanks only what matches at the time of a hang`,
    );
  }

  #logRetry(error: unknown): void {
    const log = this.#options.log;
    const describe = (e: unknown) => describeFailure(e, this.#options.wording);
    if (error instanceof QmpTimeoutError && error.phase === "greeting") {
      log("busy", `${describe(error)}; retrying`);
    } else if (error instanceof QmpTimeoutError && !error.outOfBand && error.phase !== "connect") {
      // A one-shot command's remedy is to keep a watchdog connected: this is it, so watch says
      // in its own words, from the error's data, what the hang means for it.
      const what = error.phase === "negotiation" ? "qmp_capabilities" : error.command;
      log(
        "hung",
        `QEMU's main loop is hung: it did not answer ${what} within ${
          formatSeconds(error.timeoutMs)
        } while watch was connecting, so watch has no connection to yank through until the main loop answers (a watchdog must connect while QEMU is healthy); retrying`,
      );
    } else if (error instanceof QmpTimeoutError && error.phase !== "connect") {
      log("hung", `${describe(error)}; retrying`);
    } else if (error instanceof YankError) {
      log("connecting", `${describe(error)}; retrying`);
    } else {
      log("connecting", `unexpected failure: ${describe(error)}; retrying`);
    }
  }
}
