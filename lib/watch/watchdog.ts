/**
 * The watchdog: one long-lived connection to a dedicated monitor, negotiated with out-of-band
 * execution while QEMU is healthy, so that it can still run `query-yank` and `yank` when the
 * main loop hangs (a new connection could not: shared/qmp-notes.md, point 12).
 */

import { QmpClient, type QmpTraceDirection } from "../qmp/client.ts";
import { formatVersion, type QemuVersion } from "../qmp/greeting.ts";
import { QmpConnectError, QmpError, QmpTimeoutError } from "../qmp/errors.ts";
import { OobNotOfferedError } from "./errors.ts";
import {
  findMonitorChardev,
  queryYank,
  yankRetryingOnce,
  YankUnsupportedError,
} from "../yank/yank.ts";
import { describeInstances, sameInstance, type YankInstance } from "../yank/instances.ts";
import { hasSelectors, type YankSelectors } from "../yank/match.ts";
import { matchedForRecovery, planRecovery } from "./recovery.ts";
import { describeJudgement, PeerBook } from "./peer_book.ts";
import { initialStallState, observeProgress, progressSample, type StallState } from "./stall.ts";
import { formatLogLine, type WatchState } from "./log.ts";
import { BACKOFF_START_MS, nextBackoff, sleep } from "./timing.ts";
import type { HealthReport } from "../health/state.ts";
import { formatSeconds } from "../qmp/errors.ts";

/** Options of a Watchdog. */
export interface WatchdogOptions {
  /** The dedicated monitor socket. */
  socket: string;
  /** What to yank on a hang; none means report only. */
  selectors: YankSelectors;
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
  /** Wall clock in milliseconds. */
  now: () => number;
  /** Ends the watchdog. */
  signal?: AbortSignal | undefined;
  /** Called with every QMP message (`--trace`). */
  trace?: ((direction: QmpTraceDirection, text: string) => void) | undefined;
  /**
   * Called after each probe with what `yank check` would report (`watching` true), and once
   * when the watchdog stops (`watching` false, state UNKNOWN, nothing measured).
   */
  onReport?: ((report: HealthReport, watching: boolean) => Promise<void> | void) | undefined;
}

/** What the proxy needs from the watchdog: its connection, borrowed for out-of-band commands. */
export interface YankUpstream {
  /** QEMU's version from the last greeting, if QEMU was ever reached. */
  readonly version: QemuVersion | undefined;
  /** The chardev carrying the watchdog's own monitor connection, if known. */
  readonly ownChardev: string | undefined;
  /** Runs `query-yank` or `yank` out-of-band; rejects with a QmpError when QEMU is not reachable. */
  execOob(
    command: "query-yank" | "yank",
    args: Record<string, unknown> | undefined,
  ): Promise<unknown>;
}

/** Settles with "answered", or with the error that ended the probe. */
type ProbeOutcome = "answered" | Error;

/** A probe that is never abandoned while its connection lasts: at most one is ever in flight. */
interface Probe {
  sentAt: number;
  outcome: Promise<ProbeOutcome>;
  done: boolean;
}

/**
 * Longest wait for the main loop after each recovery step, and the first pause between two
 * recovery passes, in milliseconds.
 */
const STEP_WAIT_MS = 1000;
/**
 * The span over which the kernel's view of QEMU's sockets is sampled to judge its peers, in
 * milliseconds; with the first sample (which also finds QEMU's sockets) a judgement takes about
 * 0.3 s.
 */
const JUDGE_BOUND_MS = 200;
/** setTimeout's largest delay: a probe waits for its reply as long as the connection lasts. */
const FOREVER_MS = 2_147_483_647;

/** The watchdog of one monitor. `run()` it; it ends when the signal aborts. */
export class Watchdog implements YankUpstream {
  #options: WatchdogOptions;
  #client: QmpClient | undefined;
  #version: QemuVersion | undefined;
  #ownChardev: string | undefined;
  #instances: number | undefined;
  #lastLogged = "";
  #stop: Promise<"stopped">;
  /** The peers of the current connection's QEMU. */
  #peers: PeerBook | undefined;
  #stalls: StallState = initialStallState();
  #checkingStalls = false;

  constructor(options: WatchdogOptions) {
    this.#options = options;
    const signal = options.signal;
    this.#stop = new Promise((resolve) => {
      if (signal?.aborted) resolve("stopped");
      signal?.addEventListener("abort", () => resolve("stopped"), { once: true });
    });
  }

  /** QEMU's version from the last greeting. */
  get version(): QemuVersion | undefined {
    return this.#version;
  }

  /** The chardev of the watchdog's own monitor, learnt while the main loop was healthy. */
  get ownChardev(): string | undefined {
    return this.#ownChardev;
  }

  /** Borrows the watchdog's connection for an out-of-band `query-yank` or `yank`. */
  execOob(
    command: "query-yank" | "yank",
    args: Record<string, unknown> | undefined,
  ): Promise<unknown> {
    const client = this.#client;
    if (client === undefined || client.isClosed) {
      return Promise.reject(
        new QmpError(
          `yank watch is not connected to QEMU at ${
            JSON.stringify(this.#options.socket)
          } right now (QEMU is absent, busy or restarting; try again shortly)`,
        ),
      );
    }
    return client.execute(command, args, { oob: true, timeoutMs: this.#options.timeoutMs });
  }

  /**
   * Watches until the signal aborts. Throws OobNotOfferedError or YankUnsupportedError when
   * this monitor can never be used to yank; every other failure means reconnecting.
   */
  async run(): Promise<void> {
    let delay = BACKOFF_START_MS;
    try {
      while (!this.#stopped) {
        const client = await this.#connect();
        if (client === undefined) {
          await sleep(delay, this.#options.signal);
          delay = nextBackoff(delay);
          continue;
        }
        delay = BACKOFF_START_MS;
        try {
          await this.#watch(client);
        } finally {
          this.#client = undefined;
          this.#peers = undefined;
          this.#instances = undefined;
          client.close();
        }
        if (!this.#stopped) {
          this.#log("disconnected", "the connection to QEMU ended; reconnecting");
        }
      }
    } finally {
      // A report of the last probe must not outlive the watchdog: say nobody watches now.
      await this.#report("stopped", undefined);
    }
    this.#log("stopped", "stopped on a signal");
  }

  get #stopped(): boolean {
    return this.#options.signal?.aborted ?? false;
  }

  /** One connection attempt; undefined (after logging why) when it should be retried. */
  async #connect(): Promise<QmpClient | undefined> {
    const { socket, timeoutMs, now, trace } = this.#options;
    const peers = new PeerBook({ now: () => performance.now(), timeoutMs });
    const attempt = QmpClient.connect(socket, {
      timeoutMs,
      now,
      onEvent: (event) => peers.onEvent(event),
      ...(trace ? { trace } : {}),
    });
    const first = await Promise.race([attempt.then((c) => c, (e: unknown) => e), this.#stop]);
    if (first === "stopped") {
      attempt.then((c) => c.close(), () => {});
      return undefined;
    }
    if (!(first instanceof QmpClient)) {
      this.#logRetry(first);
      return undefined;
    }
    const client = first;
    this.#version = client.greeting.version;
    if (!client.oob) {
      client.close();
      throw new OobNotOfferedError(socket);
    }
    try {
      // In-band, and so only now, while the main loop answers: later it may not.
      this.#ownChardev = await findMonitorChardev(client);
      this.#instances = (await queryYank(client)).length;
      await peers.refreshIfDue(client);
    } catch (error) {
      client.close();
      if (error instanceof YankUnsupportedError) throw error;
      this.#logRetry(error);
      return undefined;
    }
    this.#client = client;
    this.#peers = peers;
    this.#stalls = initialStallState();
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
    return client;
  }

  #logRetry(error: unknown): void {
    if (error instanceof QmpTimeoutError && error.phase === "greeting") {
      this.#log("busy", `${error.message}; retrying`);
    } else if (error instanceof QmpTimeoutError && !error.outOfBand && error.phase !== "connect") {
      // The one-shot message would send the user to "yank watch": this is it, so say what
      // the hang means for watch instead.
      const what = error.phase === "negotiation" ? "qmp_capabilities" : error.command;
      this.#log(
        "hung",
        `QEMU's main loop is hung: it did not answer ${what} within ${
          formatSeconds(error.timeoutMs)
        } while watch was connecting, so watch has no connection to yank through until the main loop answers (a watchdog must connect while QEMU is healthy); retrying`,
      );
    } else if (error instanceof QmpTimeoutError && error.phase !== "connect") {
      this.#log("hung", `${error.message}; retrying`);
    } else if (error instanceof QmpConnectError || error instanceof QmpError) {
      this.#log("connecting", `${error.message}; retrying`);
    } else {
      const text = error instanceof Error ? error.message : String(error);
      this.#log("connecting", `unexpected failure: ${text}; retrying`);
    }
  }

  /** Probes every interval until the connection ends or the signal aborts. */
  async #watch(client: QmpClient): Promise<void> {
    const { intervalMs, hangAfterMs, now } = this.#options;
    const ended = client.closed.then(() => "ended" as const);
    while (!this.#stopped && !client.isClosed) {
      const probe = this.#sendProbe(client);
      const hangTimer = new AbortController();
      const first = await Promise.race([
        probe.outcome,
        sleep(hangAfterMs, hangTimer.signal).then(() =>
          hangTimer.signal.aborted ? "cancelled" as const : "hang" as const
        ),
        this.#stop,
        ended,
      ]);
      hangTimer.abort();
      if (first === "stopped" || first === "ended" || first instanceof Error) return;
      if (first === "hang") {
        const answered = await this.#recover(client, probe);
        if (!answered) return;
      } else {
        await this.#report("OK", (now() - probe.sentAt) / 1000);
        this.#peers?.refreshIfDue(client);
        this.#checkStalls(client);
      }
      const next = probe.sentAt + intervalMs - now();
      await Promise.race([sleep(next, this.#options.signal), ended]);
    }
  }

  #sendProbe(client: QmpClient): Probe {
    const sentAt = this.#options.now();
    const probe: Probe = { sentAt, done: false, outcome: Promise.resolve("answered") };
    probe.outcome = client.execute("query-status", undefined, { timeoutMs: FOREVER_MS }).then(
      () => "answered" as const,
      (error: unknown) => error instanceof Error ? error : new Error(String(error)),
    ).finally(() => probe.done = true);
    return probe;
  }

  /**
   * A probe went unanswered for --hang-after: run recovery passes until the probe is answered.
   * Each pass lists the instances out-of-band afresh, yanks what the selectors match step by
   * step and waits for the probe after each step; while the main loop stays hung, the next pass
   * follows after a pause (1 s doubling, at most --hang-after). The probe is never resent, so
   * there is still only one in-band command in flight. Resolves true once the probe is
   * answered, false if the connection ended or the signal aborted first.
   */
  async #recover(client: QmpClient, probe: Probe): Promise<boolean> {
    const { selectors, hangAfterMs, now } = this.#options;
    await this.#report("CRITICAL", undefined);
    if (!hasSelectors(selectors)) {
      this.#log(
        "hung",
        `main loop did not answer query-status within ${
          formatSeconds(hangAfterMs)
        }; no selectors given, so nothing is yanked`,
      );
      return await this.#awaitRecovery(client, probe);
    }
    const yanked: YankInstance[] = [];
    let pause = Math.min(STEP_WAIT_MS, hangAfterMs);
    for (let pass = 1;; pass++) {
      if (!await this.#recoveryPass(client, probe, pass, yanked)) return false;
      if (!probe.done) {
        this.#log(
          "still-hung",
          `main loop still hung ${formatSeconds(now() - probe.sentAt)} after the probe${
            yanked.length > 0 ? ` and after yanking ${describeInstances(yanked)}` : ""
          }; recovery pass ${pass + 1} in ${formatSeconds(pause)}`,
        );
      }
      const first = await Promise.race([
        probe.outcome,
        sleep(pause, this.#options.signal).then(() => "waited" as const),
        this.#stop,
        client.closed.then(() => "ended" as const),
      ]);
      if (first === "answered") return await this.#awaitRecovery(client, probe, yanked);
      if (first !== "waited" || this.#stopped) return false;
      pause = Math.min(pause * 2, hangAfterMs);
    }
  }

  /**
   * One recovery pass: a fresh query-yank, then the planned steps (never the own chardev).
   * Adds what it yanked to `yanked`. False if the connection ended or the signal aborted.
   */
  async #recoveryPass(
    client: QmpClient,
    probe: Probe,
    pass: number,
    yanked: YankInstance[],
  ): Promise<boolean> {
    const { selectors, dryRun, hangAfterMs, now } = this.#options;
    const hung = pass === 1
      ? `main loop did not answer query-status within ${formatSeconds(hangAfterMs)}`
      : `recovery pass ${pass}, main loop hung for ${formatSeconds(now() - probe.sentAt)}`;
    let instances: YankInstance[];
    try {
      instances = await queryYank(client);
      this.#instances = instances.length;
    } catch (error) {
      if (client.isClosed) return false;
      this.#log("hung", `${hung}, and query-yank failed: ${errorText(error)}`);
      return true;
    }
    const dead = await this.#judgePeers(instances);
    const steps = planRecovery(instances, selectors, this.#ownChardev, { dead });
    this.#log(
      "hung",
      `${hung}; ${
        steps.length === 0
          ? "no instance matches the selectors"
          : `will yank in ${steps.length} step(s): ${
            steps.map((s) => describeInstances(s.instances)).join("; ")
          }`
      }`,
    );
    for (const step of steps) {
      if (probe.done) break;
      if (dryRun) {
        this.#log("would-yank", `would yank ${describeInstances(step.instances)} (dry run)`);
        continue;
      }
      this.#log(
        "yanking",
        `yanking ${describeInstances(step.instances)}${
          step.dead
            ? " (peer judged dead)"
            : dead.length > 0
            ? " (fallback: the main loop still does not answer)"
            : ""
        }`,
      );
      try {
        const result = await yankRetryingOnce(client, step.instances);
        for (const instance of result.yanked) {
          if (!yanked.some((y) => sameInstance(y, instance))) yanked.push(instance);
        }
      } catch (error) {
        this.#log(
          "hung",
          `yank of ${describeInstances(step.instances)} failed: ${errorText(error)}`,
        );
        if (client.isClosed) return false;
        continue;
      }
      const first = await Promise.race([
        probe.outcome,
        sleep(Math.min(STEP_WAIT_MS, hangAfterMs)).then(() => "waiting" as const),
        this.#stop,
      ]);
      if (first === "stopped" || first instanceof Error) return false;
      if (first === "answered") break;
    }
    return true;
  }

  /**
   * Judges the peers of the instances the selectors match (within JUDGE_BOUND_MS), logs each
   * verdict with its evidence, and returns the instances whose peer is dead.
   */
  async #judgePeers(
    instances: readonly YankInstance[],
    among: readonly YankInstance[] = instances,
  ): Promise<YankInstance[]> {
    const { selectors, ownChardev } = {
      selectors: this.#options.selectors,
      ownChardev: this.#ownChardev,
    };
    const matched = matchedForRecovery(among, selectors, ownChardev);
    if (matched.length === 0 || this.#peers === undefined) return [];
    const judgements = await this.#peers.judge(instances, matched, JUDGE_BOUND_MS);
    if (judgements.every((j) => j.verdict.state === "unknown")) {
      // One line, not one per instance: the reason is usually the same for all.
      const reasons = [...new Set(judgements.map((j) => j.verdict.evidence))];
      this.#log(
        "judged",
        `no evidence about the matched peers (${
          reasons.join("; ")
        }): yanking every match, least harm first`,
      );
      return [];
    }
    for (const judgement of judgements) this.#log("judged", describeJudgement(judgement));
    return judgements.filter((j) => j.verdict.state === "dead").map((j) => j.instance);
  }

  /**
   * With --stall-after: samples the block jobs and the migration (in-band, at most one check at
   * a time, not awaited by the probe loop); on a stall, judges the matched peers that could be
   * behind it and yanks the dead ones.
   */
  #checkStalls(client: QmpClient): void {
    const { stallAfterMs, hangAfterMs } = this.#options;
    if (stallAfterMs === undefined || this.#checkingStalls) return;
    this.#checkingStalls = true;
    (async () => {
      const at = performance.now();
      const [jobs, migrate] = await Promise.all([
        client.execute("query-block-jobs", undefined, { timeoutMs: hangAfterMs }),
        client.execute("query-migrate", undefined, { timeoutMs: hangAfterMs }),
      ]);
      const { state, stalls } = observeProgress(
        this.#stalls,
        progressSample(at, jobs, migrate),
        stallAfterMs,
      );
      this.#stalls = state;
      if (stalls.length === 0) return;
      // Start the clocks again: a stall is judged once per --stall-after, not every probe.
      this.#stalls = initialStallState();
      const what = stalls.map((s) =>
        s.kind === "job"
          ? `${s.type} job ${JSON.stringify(s.id)} has not moved from offset ${s.offset} for ${
            formatSeconds(s.forMs)
          }`
          : `the migration has not sent a byte for ${formatSeconds(s.forMs)}`
      ).join("; ");
      const instances = await queryYank(client);
      this.#instances = instances.length;
      const behind = instances.filter((i) =>
        stalls.some((s) => s.kind === "job" ? i.type === "block-node" : i.type === "migration")
      );
      const dead = await this.#judgePeers(instances, behind);
      this.#log(
        "stalled",
        `${what}; ${
          dead.length === 0
            ? "no matched peer behind it is judged dead, nothing yanked"
            : `yanking ${describeInstances(dead)}`
        }`,
      );
      if (dead.length === 0) return;
      if (this.#options.dryRun) {
        this.#log("would-yank", `would yank ${describeInstances(dead)} (dry run)`);
        return;
      }
      this.#log("yanking", `yanking ${describeInstances(dead)} (peer judged dead)`);
      await yankRetryingOnce(client, dead);
    })().catch((error) => {
      if (!client.isClosed) this.#log("warning", `stall check failed: ${errorText(error)}`);
    }).finally(() => this.#checkingStalls = false);
  }

  /** Waits for the hung probe; logs the recovery. False if the connection ended first. */
  async #awaitRecovery(
    client: QmpClient,
    probe: Probe,
    yanked: YankInstance[] = [],
  ): Promise<boolean> {
    const first = await Promise.race([
      probe.outcome,
      this.#stop,
      client.closed.then(() => "ended" as const),
    ]);
    if (first !== "answered") return false;
    const tookMs = this.#options.now() - probe.sentAt;
    const took = formatSeconds(tookMs);
    this.#log(
      "recovered",
      `main loop answered again, ${took} after the probe was sent${
        yanked.length > 0 ? `, after yanking ${describeInstances(yanked)}` : ""
      }`,
    );
    await this.#report("OK", tookMs / 1000);
    return true;
  }

  async #report(
    kind: "OK" | "CRITICAL" | "stopped",
    latencySeconds: number | undefined,
  ): Promise<void> {
    const onReport = this.#options.onReport;
    if (!onReport) return;
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
    try {
      await onReport(report, kind !== "stopped");
    } catch (error) {
      this.#log("warning", errorText(error));
    }
  }

  /** Logs a line unless it repeats the previous state and message. */
  #log(state: WatchState, message: string): void {
    const key = `${state} ${message}`;
    if (key === this.#lastLogged && state !== "yanking") return;
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

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
