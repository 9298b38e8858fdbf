/**
 * The watchdog of one VM: one long-lived connection to a dedicated monitor, negotiated with
 * out-of-band execution while QEMU is healthy, so that it can still run `query-yank` and `yank`
 * when the main loop hangs (a new connection could not: see docs/qmp.md). It connects, probes
 * every --interval, learns the peers of QEMU's instances while the main loop answers, hands a
 * hang or a stall to recover.ts, and reconnects with backoff.
 */

import { QmpClient, type QmpTraceDirection } from "../qmp/client.ts";
import { formatVersion, type QemuVersion } from "../qmp/greeting.ts";
import {
  formatSeconds,
  QmpCommandError,
  QmpDisconnectedError,
  QmpTimeoutError,
} from "../qmp/errors.ts";
import { describeFailure, type RemedyWording, YankError } from "../errors.ts";
import { OobNotOfferedError, ProbeRefusedError, UnwatchableError } from "./errors.ts";
import { findMonitorChardev, queryYank, YankUnsupportedError } from "../yank/yank.ts";
import { describeInstances, parseYankInstances, type YankInstance } from "../yank/instances.ts";
import { type BlockDisk, hasSelectors, matchInstances, type YankSelectors } from "../yank/match.ts";
import { type DiskAlias, queryDisks } from "../yank/disks.ts";
import { UpstreamUnavailableError, type YankUpstream } from "../proxy/upstream.ts";
import type { ProxyYank } from "../proxy/server.ts";
import { type Probe, recoverHang, recoverStall } from "./recover.ts";
import { PeerBook } from "./peer_book.ts";
import { StallWatch } from "./stall_watch.ts";
import { formatLogLine, type WatchState } from "./log.ts";
import {
  BACKOFF_START_MS,
  nextBackoff,
  RESTART_MAX_MS,
  RESTART_START_MS,
  sleep,
  within,
} from "./timing.ts";
import { type HealthReport, roundLatency } from "../health/state.ts";
import type { WatchCounters, YankReason } from "../health/counters.ts";
import { reportFailure } from "../health/probe.ts";

/** Options of a Watchdog. */
export interface WatchdogOptions {
  /** The dedicated monitor socket. */
  socket: string;
  /** What to yank on a hang; none means report only. */
  selectors: YankSelectors;
  /** `--spare` globs: chardevs never yanked, like monitors'. */
  spare?: readonly string[] | undefined;
  /** libvirt's disk targets and aliases, for `--disk vda`. */
  diskAliases?: readonly DiskAlias[] | undefined;
  /** Milliseconds between the starts of two probes. */
  intervalMs: number;
  /** Milliseconds a probe may stay unanswered before it counts as a hang. */
  hangAfterMs: number;
  /** Bounds connecting, negotiating and every out-of-band command, in milliseconds. */
  timeoutMs: number;
  /** Log what would be yanked, yank nothing. */
  dryRun: boolean;
  /**
   * Milliseconds a running block job's offset or a migration's bytes may stand still before
   * watch judges the peers behind it and yanks the dead one (--stall-after); undefined: off.
   */
  stallAfterMs?: number | undefined;
  /** Receives each log line (without a newline). */
  log: (line: string) => void;
  /** Wall clock in milliseconds: for log timestamps only. */
  now: () => number;
  /**
   * Monotonic clock in milliseconds (performance.now by default): every interval, deadline and
   * backoff, so that a wall clock stepped back or forth never pauses or hurries probing.
   */
  monotonic?: (() => number) | undefined;
  /** Ends the watchdog. */
  signal?: AbortSignal | undefined;
  /**
   * Sends the in-band probe on `client`: query-status by default. A seam for tests, which make
   * it fail in ways nobody foresaw.
   */
  probe?: ((client: QmpClient) => Promise<unknown>) | undefined;
  /** Called with every QMP message (`--trace`). */
  trace?: ((direction: QmpTraceDirection, text: string) => void) | undefined;
  /** Counts hangs, recoveries and yanks (the --textfile counters); undefined: count nothing. */
  counters?: WatchCounters | undefined;
  /**
   * Words the actions of remedies in log lines and reports (the front end's terms, see
   * lib/errors.ts); without it, remedies that need them are left out.
   */
  wording?: RemedyWording | undefined;
  /**
   * Called with what `yank check` would report: after each probe, when a hang starts, when the
   * connection ends or cannot be made (`watching` true), and once when the watchdog stops
   * (`watching` false, state UNKNOWN, nothing measured).
   */
  onReport?: ((report: HealthReport, watching: boolean) => Promise<void> | void) | undefined;
}

/** How a connection's watch ended: whether any probe was answered, and the failure if known. */
interface Watched {
  answered: boolean;
  error: unknown;
}

/** The watchdog of one monitor. `run()` it; it ends when the signal aborts. */
export class Watchdog implements YankUpstream {
  #options: WatchdogOptions;
  #signal: AbortSignal;
  #client: QmpClient | undefined;
  #version: QemuVersion | undefined;
  #ownChardev: string | undefined;
  #disks: BlockDisk[] = [];
  #instances: number | undefined;
  #lastLogged = "";
  /** The peers of the current connection's QEMU. */
  #peers: PeerBook | undefined;
  /** The current connection's stall watch (--stall-after), awaited before it is given up. */
  #stallWatch: StallWatch | undefined;

  #monotonic: () => number;
  /** Whether a probe was answered since the last restart. */
  #answered = false;

  constructor(options: WatchdogOptions) {
    this.#options = options;
    this.#monotonic = options.monotonic ?? (() => performance.now());
    this.#signal = options.signal ?? new AbortController().signal;
  }

  /** The monitor socket watched. */
  get socket(): string {
    return this.#options.socket;
  }

  /** QEMU's version from the last greeting. */
  get version(): QemuVersion | undefined {
    return this.#version;
  }

  /** The chardev of the watchdog's own monitor, learnt while the main loop was healthy. */
  get ownChardev(): string | undefined {
    return this.#ownChardev;
  }

  /** The `--spare` globs. */
  get spareChardevs(): readonly string[] {
    return this.#options.spare ?? [];
  }

  /** Borrows the watchdog's connection for an out-of-band `query-yank` or `yank`. */
  execOob(
    command: "query-yank" | "yank",
    args: Record<string, unknown> | undefined,
  ): Promise<unknown> {
    const client = this.#client;
    if (client === undefined || client.isClosed) {
      return Promise.reject(
        new UpstreamUnavailableError(
          `yank watch is not connected to QEMU at ${
            JSON.stringify(this.#options.socket)
          } right now`,
          [
            "QEMU is absent, busy or restarting; ",
            { action: "watch-log" },
            ", and try again shortly",
          ],
        ),
      );
    }
    return client.execute(command, args, { oob: true, timeoutMs: this.#options.timeoutMs });
  }

  /**
   * Logs a yank that a client of the proxy sent through this watchdog's connection, once its
   * outcome is known: the log then tells who yanked what during a hang.
   */
  logProxyYank(yank: ProxyYank): void {
    let instances: YankInstance[] | undefined;
    try {
      instances = parseYankInstances(yank.instances);
    } catch {
      // QEMU judged them; the log says what the client sent was malformed.
    }
    const what = instances === undefined ? "malformed instances" : describeInstances(instances);
    if (yank.result.ok && instances !== undefined) this.#countYanked(instances, "proxy-client");
    const client = `proxy client ${yank.client}`;
    this.#log(
      "proxy-yank",
      yank.result.ok
        ? `${client} yanked ${what}`
        : `${client}'s yank of ${what} failed: ${yank.result.class}: ${yank.result.desc}`,
    );
  }

  /**
   * Watches until the signal aborts. Throws an UnwatchableError or YankUnsupportedError when
   * this monitor can never be used to yank (a configuration error); every other failure means
   * reconnecting, after a delay that doubles from 0.1 s to 5 s and starts again only once a
   * probe was answered. A failure nobody foresaw is logged once (state restarting) and the
   * watchdog starts again after a delay that doubles from 1 s to 60 s, so the VM stays watched.
   */
  async run(): Promise<void> {
    let restartDelay = RESTART_START_MS;
    try {
      while (!this.#signal.aborted) {
        try {
          await this.#connectLoop();
          break;
        } catch (error) {
          if (error instanceof UnwatchableError || error instanceof YankUnsupportedError) {
            throw error;
          }
          if (this.#signal.aborted) break;
          if (this.#answered) restartDelay = RESTART_START_MS;
          this.#answered = false;
          const message = `yank watch's watchdog failed unexpectedly: ${
            this.#describe(error)
          }; restarting it in ${formatSeconds(restartDelay)} (please report this as a bug in yank)`;
          this.#log("restarting", message);
          await this.#reportRestart(message);
          if (!await sleep(restartDelay, this.#signal)) break;
          restartDelay = Math.min(restartDelay * 2, RESTART_MAX_MS);
        }
      }
    } finally {
      // A report of the last probe must not outlive the watchdog: say nobody watches now.
      await this.#report("stopped", undefined);
    }
    this.#log("stopped", "stopped on a signal");
  }

  /** Connects, watches and reconnects with backoff until the signal aborts. */
  async #connectLoop(): Promise<void> {
    let delay = BACKOFF_START_MS;
    while (!this.#signal.aborted) {
      const client = await this.#connect();
      if (client !== undefined) {
        let watched: Watched = { answered: false, error: undefined };
        try {
          watched = await this.#watch(client);
        } finally {
          this.#client = undefined;
          this.#peers = undefined;
          this.#instances = undefined;
          client.close();
          await this.#stallWatch?.settled();
          this.#stallWatch = undefined;
        }
        if (watched.answered) delay = BACKOFF_START_MS;
        if (this.#signal.aborted) break;
        this.#log(
          "disconnected",
          `the connection to QEMU ended; reconnecting in ${formatSeconds(delay)}`,
        );
        await this.#reportFailure(
          watched.error ?? new QmpDisconnectedError(client.socket, "the next message"),
        );
      }
      if (!await sleep(delay, this.#signal)) break;
      delay = nextBackoff(delay);
    }
  }

  /** One connection attempt; undefined (after logging why) when it should be retried. */
  async #connect(): Promise<QmpClient | undefined> {
    const { socket, timeoutMs, trace } = this.#options;
    const now = this.#monotonic;
    const peers = new PeerBook({ now, timeoutMs });
    const attempt = QmpClient.connect(socket, {
      timeoutMs,
      now,
      onEvent: (event) => peers.onEvent(event),
      ...(trace ? { trace } : {}),
    });
    const connected = await within(attempt, Infinity, this.#signal);
    if (connected.kind === "aborted") {
      attempt.then((c) => c.close(), () => {});
      return undefined;
    }
    if (connected.kind !== "settled") {
      this.#logRetry(connected.kind === "failed" ? connected.error : undefined);
      await this.#reportFailure(connected.kind === "failed" ? connected.error : undefined);
      return undefined;
    }
    const client = connected.value;
    let instances: YankInstance[];
    this.#version = client.greeting.version;
    if (!client.oob) {
      client.close();
      throw new OobNotOfferedError(socket);
    }
    try {
      // In-band, and so only now, while the main loop answers: later it may not.
      this.#ownChardev = await findMonitorChardev(client);
      if ((this.#options.selectors.disk ?? []).length > 0) {
        this.#disks = await queryDisks(client, this.#options.diskAliases);
      }
      instances = await queryYank(client);
      this.#instances = instances.length;
      await peers.refreshIfDue(client);
    } catch (error) {
      client.close();
      if (error instanceof YankUnsupportedError) throw error;
      this.#logRetry(error);
      await this.#reportFailure(error);
      return undefined;
    }
    this.#client = client;
    this.#peers = peers;
    this.#stallWatch = this.#newStallWatch(client);
    const located = await peers.locate(socket);
    const own = this.#ownChardev === undefined
      ? "cannot tell which chardev carries this monitor"
      : `own monitor chardev ${JSON.stringify(this.#ownChardev)}`;
    const mode = !hasSelectors(this.#options.selectors)
      ? "no selectors: reporting hangs only"
      : this.#options.dryRun
      ? "dry run: logging what would be yanked"
      : "yanking on a hang";
    this.#log(
      "connected",
      `connected to QEMU ${formatVersion(client.greeting.version)} with oob; ${own}; ${mode}`,
    );
    if ("error" in located && hasSelectors(this.#options.selectors)) {
      this.#log(
        "warning",
        `cannot judge which peers are dead (${located.error}); on a hang watch yanks every match, least harm first`,
      );
    }
    if (this.#ownChardev === undefined && this.#options.selectors.chardev.length > 0) {
      this.#log(
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
    const match = matchInstances(instances, this.#options.selectors, {
      monitorChardev: this.#ownChardev,
      spare: this.#options.spare ?? [],
      disks: this.#disks,
    });
    const empty = match.selectors.filter((s) => s.type !== "migration" && s.matched.length === 0);
    if (empty.length === 0) return;
    this.#log(
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
    if (error instanceof QmpTimeoutError && error.phase === "greeting") {
      this.#log("busy", `${this.#describe(error)}; retrying`);
    } else if (error instanceof QmpTimeoutError && !error.outOfBand && error.phase !== "connect") {
      // A one-shot command's remedy is to keep a watchdog connected: this is it, so watch says
      // in its own words, from the error's data, what the hang means for it.
      const what = error.phase === "negotiation" ? "qmp_capabilities" : error.command;
      this.#log(
        "hung",
        `QEMU's main loop is hung: it did not answer ${what} within ${
          formatSeconds(error.timeoutMs)
        } while watch was connecting, so watch has no connection to yank through until the main loop answers (a watchdog must connect while QEMU is healthy); retrying`,
      );
    } else if (error instanceof QmpTimeoutError && error.phase !== "connect") {
      this.#log("hung", `${this.#describe(error)}; retrying`);
    } else if (error instanceof YankError) {
      this.#log("connecting", `${this.#describe(error)}; retrying`);
    } else {
      this.#log("connecting", `unexpected failure: ${this.#describe(error)}; retrying`);
    }
  }

  /** A failure in one line, its remedy worded as the front end words it. */
  #describe(error: unknown): string {
    return describeFailure(error, this.#options.wording);
  }

  /**
   * Probes every interval until the connection ends or the signal aborts. Throws
   * ProbeRefusedError when the monitor refuses the probe itself.
   */
  async #watch(client: QmpClient): Promise<Watched> {
    const { intervalMs, hangAfterMs } = this.#options;
    const now = this.#monotonic;
    // One signal for "stop waiting": the watchdog stops or this connection ends.
    const ended = new AbortController();
    client.closed.then(() => ended.abort());
    const live = AbortSignal.any([this.#signal, ended.signal]);
    let answered = false;
    while (!live.aborted) {
      const probe = this.#sendProbe(client);
      const first = await within(probe.outcome, hangAfterMs, live);
      if (first.kind === "aborted") return { answered, error: undefined };
      if (first.kind === "settled" && first.value !== "answered") {
        const error = first.value;
        if (error instanceof QmpCommandError) {
          throw new ProbeRefusedError(client.socket, error.errorClass);
        }
        return { answered, error };
      }
      if (first.kind === "timeout") {
        this.#options.counters?.add("hangs");
        await this.#report("CRITICAL", undefined);
        const recovered = await recoverHang({
          client,
          probe,
          selectors: this.#options.selectors,
          dryRun: this.#options.dryRun,
          hangAfterMs,
          ownChardev: this.#ownChardev,
          spare: this.#options.spare ?? [],
          disks: this.#disks,
          peers: this.#peers,
          now,
          signal: live,
          log: (state, message) => this.#log(state, message),
          wording: this.#options.wording,
          onInstances: (count) => this.#instances = count,
          onYanked: (instances, reason) => this.#countYanked(instances, reason),
        });
        if (!recovered) return { answered, error: undefined };
      }
      answered = true;
      this.#answered = true;
      const latency = (now() - probe.sentAt) / 1000;
      if (first.kind === "timeout") {
        this.#options.counters?.add("recoveries");
        this.#options.counters?.set("lastRecovery", roundLatency(latency));
      }
      await this.#report("OK", latency);
      // Neither is awaited: the probes keep their schedule.
      this.#peers?.refreshIfDue(client);
      this.#stallWatch?.sample(client);
      await sleep(probe.sentAt + intervalMs - now(), live);
    }
    return { answered, error: undefined };
  }

  /**
   * With --stall-after, the connection's stall watch: a stall is handed to recoverStall, which
   * judges the matched peers behind it and yanks the dead ones.
   */
  #newStallWatch(client: QmpClient): StallWatch | undefined {
    const { stallAfterMs, hangAfterMs } = this.#options;
    if (stallAfterMs === undefined) return undefined;
    return new StallWatch({
      stallAfterMs,
      timeoutMs: hangAfterMs,
      onStalls: (stalls) =>
        recoverStall({
          client,
          selectors: this.#options.selectors,
          dryRun: this.#options.dryRun,
          ownChardev: this.#ownChardev,
          spare: this.#options.spare ?? [],
          disks: this.#disks,
          peers: this.#peers,
          log: (state, message) => this.#log(state, message),
          onInstances: (count) => this.#instances = count,
          onYanked: (instances, reason) => this.#countYanked(instances, reason),
        }, stalls),
      onError: (error) => this.#log("warning", `stall check failed: ${this.#describe(error)}`),
    });
  }

  #sendProbe(client: QmpClient): Probe {
    const probe: Probe = {
      sentAt: this.#monotonic(),
      done: false,
      outcome: Promise.resolve("answered"),
    };
    // No timeout: the probe waits as long as the connection lasts (and a bounded wait would
    // keep a timer per probe alive until it fired).
    const send = this.#options.probe ??
      ((c: QmpClient) => c.execute("query-status", undefined, { timeoutMs: Infinity }));
    probe.outcome = send(client).then(
      () => "answered" as const,
      (error: unknown) => error instanceof Error ? error : new Error(String(error)),
    ).finally(() => probe.done = true);
    return probe;
  }

  #countYanked(instances: readonly YankInstance[], reason: YankReason): void {
    for (const { type } of instances) this.#options.counters?.add("yanked", { type, reason });
  }

  /** Reports that the watchdog failed unexpectedly and starts again: watch is not watching. */
  async #reportRestart(message: string): Promise<void> {
    if (this.#options.onReport === undefined) return;
    const report: HealthReport = {
      socket: this.#options.socket,
      state: "WARNING",
      reason: "error",
      message,
      remedy: "",
      latencySeconds: undefined,
      instances: undefined,
      qemuVersion: this.#version ? formatVersion(this.#version) : undefined,
      oob: undefined,
    };
    await this.#deliver(report, true);
  }

  /** Reports why QEMU cannot be watched right now, as `yank check` would word it. */
  async #reportFailure(error: unknown): Promise<void> {
    if (this.#options.onReport === undefined) return;
    const report = reportFailure(this.#options.socket, error, this.#options.wording);
    await this.#deliver(report, true);
  }

  async #report(
    kind: "OK" | "CRITICAL" | "stopped",
    latencySeconds: number | undefined,
  ): Promise<void> {
    if (this.#options.onReport === undefined) return;
    const { socket, hangAfterMs } = this.#options;
    const qemuVersion = this.#version ? formatVersion(this.#version) : undefined;
    const report: HealthReport = kind === "stopped"
      ? {
        socket,
        state: "UNKNOWN",
        reason: "not-tried",
        message: "yank watch stopped; nothing watches this monitor",
        remedy: "",
        latencySeconds: undefined,
        instances: undefined,
        qemuVersion,
        oob: undefined,
      }
      : {
        socket,
        state: kind,
        reason: kind === "OK" ? "ok" : "hung",
        message: kind === "OK"
          ? "main loop answers"
          : `QEMU's main loop is hung: it did not answer query-status within ${
            formatSeconds(hangAfterMs)
          }`,
        remedy: "",
        latencySeconds,
        instances: this.#instances,
        qemuVersion,
        oob: true,
      };
    await this.#deliver(report, kind !== "stopped");
  }

  async #deliver(report: HealthReport, watching: boolean): Promise<void> {
    try {
      await this.#options.onReport?.(report, watching);
    } catch (error) {
      this.#log("warning", this.#describe(error));
    }
  }

  /** Logs a line unless it repeats the previous state and message. */
  #log(state: WatchState, message: string): void {
    const key = `${state} ${message}`;
    if (key === this.#lastLogged && state !== "yanking" && state !== "proxy-yank") return;
    this.#lastLogged = key;
    this.#options.log(
      formatLogLine({
        time: this.#options.now(),
        socket: this.#options.socket,
        state,
        instances: this.#instances,
        message,
      }),
    );
  }
}
