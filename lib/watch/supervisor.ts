/**
 * The owner of every watchdog of a `yank watch`: it finds the monitor sockets the --socket
 * globs match (again every second), starts a watchdog, and optionally a yank-only proxy, for
 * each socket that appears, and stops them for each that vanishes, without touching the
 * others. Each watchdog runs its own loop, so one VM's hang, backoff or slow recovery never
 * delays another's probes or yanks.
 */

import { isMultiSocket, planSockets } from "../sockets/plan.ts";
import { ProxyServer } from "../proxy/server.ts";
import type { DiskAlias } from "../yank/disks.ts";
import type { GaugeTextfile } from "../health/gauge_textfile.ts";
import { type HealthReason, type HealthReport, healthReport } from "../health/state.ts";
import { YankUnsupportedError } from "../yank/yank.ts";
import { OobNotOfferedError, UnwatchableError } from "./errors.ts";
import { formatLogLine, type WatchState } from "./log.ts";
import { sleep } from "./timing.ts";
import { describeFailure } from "../errors.ts";
import { Watchdog, type WatchdogOptions } from "./watchdog.ts";
import { isOwnProxy, proxyPath } from "./proxy_paths.ts";

/** How often the globs are expanded again, in milliseconds. */
export const DISCOVERY_INTERVAL_MS = 1000;
/** How long a vanished monitor stays in the textfile (yank_up 0), in milliseconds. */
export const VANISHED_RETENTION_MS = 10 * 60 * 1000;

/** Options of a WatchSupervisor. */
export interface SupervisorOptions {
  /** --socket values as given: paths and globs. */
  patterns: readonly string[];
  /** What every watchdog shares. */
  watchdog: Omit<
    WatchdogOptions,
    "socket" | "signal" | "onReport" | "trace" | "diskAliases" | "counters"
  >;
  /** libvirt's disk targets and aliases of the domain behind one socket (`--domain`). */
  diskAliases?: ((socket: string) => readonly DiskAlias[] | undefined) | undefined;
  /** The --trace callback for one socket, if tracing. */
  trace?: ((socket: string) => WatchdogOptions["trace"]) | undefined;
  /** --listen: one proxy at this path (one literal socket only). */
  listen?: string | undefined;
  /** --listen-dir: one proxy per monitor at DIR/<basename of the monitor socket>. */
  listenDir?: string | undefined;
  /** --textfile, shared by every watchdog. */
  textfile?: GaugeTextfile | undefined;
  /** Ends the watch. */
  signal: AbortSignal;
  /** Milliseconds between two expansions of the globs. */
  discoveryIntervalMs?: number;
  /** The sockets the patterns name now; planSockets by default. */
  findSockets?: (patterns: readonly string[]) => string[];
}

/** One watched monitor. */
interface WatchedVm {
  socket: string;
  watchdog: Watchdog;
  stop: AbortController;
  /** Settles when the watchdog has stopped; rejects with why it cannot watch. */
  done: Promise<void>;
  proxy: ProxyServer | undefined;
}

/** Runs every watchdog of one `yank watch`. */
export class WatchSupervisor {
  #options: SupervisorOptions;
  #vms = new Map<string, WatchedVm>();
  #forget = new Map<string, ReturnType<typeof setTimeout>>();
  /** One literal socket: watched whether or not it exists yet, and a fatal error ends watch. */
  readonly single: boolean;

  constructor(options: SupervisorOptions) {
    this.#options = options;
    this.single = !isMultiSocket(options.patterns);
  }

  /** The sockets watched right now. */
  get sockets(): string[] {
    return [...this.#vms.keys()];
  }

  /**
   * Watches until the signal aborts, then stops every watchdog and proxy. Watching one literal
   * socket, rejects with the error that makes it unwatchable, as a one-socket watch always did.
   */
  async run(): Promise<void> {
    this.#options.textfile?.start();
    try {
      if (this.single) {
        const vm = await this.#start(this.#options.patterns[0]!);
        await vm.done;
        return;
      }
      let announced = false;
      while (!this.#options.signal.aborted) {
        await this.#discover();
        if (!announced && this.#vms.size === 0) {
          this.#log(
            this.#options.patterns.join(" "),
            "warning",
            `no monitor socket matches yet; looking again every ${this.#discoveryMs / 1000} s`,
          );
        }
        announced = true;
        await sleep(this.#discoveryMs, this.#options.signal);
      }
    } finally {
      await Promise.all([...this.#vms.values()].map((vm) => this.#stop(vm)));
      for (const timer of this.#forget.values()) clearTimeout(timer);
      await this.#options.textfile?.close();
    }
  }

  get #discoveryMs(): number {
    return this.#options.discoveryIntervalMs ?? DISCOVERY_INTERVAL_MS;
  }

  async #discover(): Promise<void> {
    const find = this.#options.findSockets ?? ((p) => planSockets(p).sockets);
    const realDirs = new Map<string, string>();
    const found = new Set(
      find(this.#options.patterns).filter((s) => !isOwnProxy(s, this.#options, realDirs)),
    );
    const starting: Promise<unknown>[] = [];
    for (const socket of found) {
      if (this.#vms.has(socket)) continue;
      starting.push(this.#start(socket).catch(() => {}));
    }
    await Promise.all(starting);
    const gone = [...this.#vms.values()].filter((vm) => !found.has(vm.socket));
    await Promise.all(gone.map(async (vm) => {
      await this.#stop(vm);
      this.#log(vm.socket, "gone", "the monitor socket is gone; no longer watching it");
      this.#options.textfile?.set(vanishedReport(vm.socket), false);
      this.#forget.set(
        vm.socket,
        setTimeout(() => {
          this.#forget.delete(vm.socket);
          this.#options.textfile?.delete(vm.socket);
        }, VANISHED_RETENTION_MS),
      );
    }));
  }

  async #start(socket: string): Promise<WatchedVm> {
    const { textfile, trace } = this.#options;
    clearTimeout(this.#forget.get(socket));
    this.#forget.delete(socket);
    const stop = new AbortController();
    const watchdog = new Watchdog({
      ...this.#options.watchdog,
      socket,
      diskAliases: this.#options.diskAliases?.(socket),
      signal: AbortSignal.any([this.#options.signal, stop.signal]),
      trace: trace?.(socket),
      counters: textfile?.counters(socket),
      onReport: textfile === undefined
        ? undefined
        : (report, watching) => textfile.set(report, watching),
    });
    const vm: WatchedVm = {
      socket,
      watchdog,
      stop,
      done: Promise.resolve(),
      proxy: undefined,
    };
    this.#vms.set(socket, vm);
    vm.proxy = await this.#listen(vm);
    if (stop.signal.aborted || this.#options.signal.aborted) {
      // Stopped while the proxy was being set up: nobody else will close it.
      await vm.proxy?.close();
      vm.proxy = undefined;
      return vm;
    }
    if (!this.single) {
      this.#log(
        socket,
        "found",
        `a monitor socket appeared; watching it${
          vm.proxy ? `, its yank-only proxy at ${JSON.stringify(vm.proxy.path)}` : ""
        }`,
      );
    }
    vm.done = watchdog.run();
    if (!this.single) vm.done = vm.done.catch((error) => this.#unwatchable(vm, error));
    return vm;
  }

  /** The proxy of one monitor, if asked for; a failure ends a one-socket watch, else is logged. */
  async #listen(vm: WatchedVm): Promise<ProxyServer | undefined> {
    const { listen, listenDir } = this.#options;
    const path = proxyPath(vm.socket, { listen, listenDir });
    if (path === undefined) return undefined;
    const taken = [...this.#vms.values()].find((other) => other.proxy?.path === path);
    if (taken !== undefined) {
      this.#log(
        vm.socket,
        "warning",
        `no yank-only proxy: ${JSON.stringify(path)} already serves ${
          JSON.stringify(taken.socket)
        } (give the monitor sockets distinct names)`,
      );
      return undefined;
    }
    try {
      return await ProxyServer.listen(path, vm.watchdog.upstream, {
        onYank: (yank) => vm.watchdog.upstream.logProxyYank(yank),
        log: (message) => this.#log(vm.socket, "warning", message),
        wording: this.#options.watchdog.wording,
      });
    } catch (error) {
      if (this.single) {
        this.#vms.delete(vm.socket);
        throw error;
      }
      this.#log(vm.socket, "warning", `no yank-only proxy: ${this.#describe(error)}`);
      return undefined;
    }
  }

  async #stop(vm: WatchedVm): Promise<void> {
    vm.stop.abort();
    // A one-socket watch's fatal error reaches run() through vm.done itself.
    await vm.done.catch(() => {});
    await vm.proxy?.close();
    vm.proxy = undefined;
    this.#vms.delete(vm.socket);
  }

  /**
   * Watching many: a monitor that can never be watched is logged once and left alone, and the
   * other monitors are still watched. (A failure nobody foresaw never gets here: the watchdog
   * logs it and starts again itself.)
   */
  async #unwatchable(vm: WatchedVm, error: unknown): Promise<void> {
    await vm.proxy?.close();
    vm.proxy = undefined;
    this.#log(
      vm.socket,
      "unwatchable",
      `${this.#describe(error)}; not watching it until the socket goes away and comes back`,
    );
    const reason: HealthReason = error instanceof OobNotOfferedError
      ? "no-oob"
      : error instanceof YankUnsupportedError
      ? "no-yank"
      : error instanceof UnwatchableError
      ? "not-qmp"
      : "error";
    this.#options.textfile?.set(
      healthReport(vm.socket, {
        state: "WARNING",
        reason,
        message: `yank watch cannot watch this monitor: ${this.#describe(error)}`,
      }),
      false,
    );
  }

  /** A failure in one line, its remedy worded as the front end words it. */
  #describe(error: unknown): string {
    return describeFailure(error, this.#options.watchdog.wording);
  }

  #log(socket: string, state: WatchState, message: string): void {
    this.#options.watchdog.log(formatLogLine({
      time: this.#options.watchdog.now(),
      socket,
      state,
      instances: undefined,
      message,
    }));
  }
}

/** A monitor that vanished: no longer watched, kept in the textfile for a while. */
function vanishedReport(socket: string): HealthReport {
  return healthReport(socket, {
    reason: "no-socket",
    message: "the monitor socket is gone (the VM stopped?); yank watch no longer watches it",
  });
}
