/**
 * The yank-only proxy's way to QEMU through one VM's watchdog: its pre-negotiated connection,
 * borrowed for out-of-band `query-yank` and `yank`; each yank a proxy client sent is logged.
 */

import type { QmpClient } from "../qmp/client.ts";
import type { QemuVersion } from "../qmp/greeting.ts";
import { describeInstances, parseYankInstances, type YankInstance } from "../yank/instances.ts";
import { UpstreamUnavailableError, type YankUpstream } from "../proxy/upstream.ts";
import type { ProxyYank } from "../proxy/server.ts";
import type { YankReason } from "../health/counters.ts";
import type { KnownVm } from "./known_vm.ts";
import type { WatchState } from "./log.ts";

/** Options of a WatchUpstream. */
export interface WatchUpstreamOptions {
  /** The watchdog's connection right now, if any. */
  client: () => QmpClient | undefined;
  /** Bounds every out-of-band command, in milliseconds. */
  timeoutMs: number;
  log: (state: WatchState, message: string) => void;
  /** Counts the instances a proxy client yanked. */
  onYanked: (instances: readonly YankInstance[], reason: YankReason) => void;
}

/** The proxy's upstream through one VM's watchdog. */
export class WatchUpstream implements YankUpstream {
  #vm: KnownVm;
  #options: WatchUpstreamOptions;

  constructor(vm: KnownVm, options: WatchUpstreamOptions) {
    this.#vm = vm;
    this.#options = options;
  }

  /** QEMU's version from the last greeting. */
  get version(): QemuVersion | undefined {
    return this.#vm.version;
  }

  /** The chardev of the watchdog's own monitor, learnt while the main loop was healthy. */
  get ownChardev(): string | undefined {
    return this.#vm.ownChardev;
  }

  /** The `--spare` globs. */
  get spareChardevs(): readonly string[] {
    return this.#vm.spare;
  }

  /** Borrows the watchdog's connection for an out-of-band `query-yank` or `yank`. */
  execOob(
    command: "query-yank" | "yank",
    args: Record<string, unknown> | undefined,
  ): Promise<unknown> {
    const client = this.#options.client();
    if (client === undefined || client.isClosed) {
      return Promise.reject(
        new UpstreamUnavailableError(
          `yank watch is not connected to QEMU at ${JSON.stringify(this.#vm.socket)} right now`,
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
    if (yank.result.ok && instances !== undefined) {
      this.#options.onYanked(instances, "proxy-client");
    }
    const client = `proxy client ${yank.client}`;
    this.#options.log(
      "proxy-yank",
      yank.result.ok
        ? `${client} yanked ${what}`
        : `${client}'s yank of ${what} failed: ${yank.result.class}: ${yank.result.desc}`,
    );
  }
}
