/**
 * The textfile of `yank watch`: one file for every watched monitor, written atomically and
 * coalesced, so that a host of many VMs costs one write per gap, not one per probe, and
 * rewritten on a heartbeat, so that its age tells whether the watch still runs.
 */

import { type HealthReport, healthReport } from "./state.ts";
import { renderFamily, renderHealthPrometheus } from "./render_prometheus.ts";
import { renderCounters, SocketCounters } from "./counters.ts";
import { TextfileError, writeTextfileAtomically } from "./textfile.ts";

/** Options of a GaugeTextfile. */
export interface GaugeTextfileOptions {
  /** Least time between two writes, in milliseconds: many VMs' reports share one write. */
  minGapMs: number;
  /** Told when a write fails; the next report tries again. */
  onError: (error: TextfileError) => void;
  /**
   * From `start()` to `close()`, the longest time between two writes, in milliseconds: the
   * file's mtime then tells that the watch runs even when no VM reports (none matches, or all
   * are hung), and a stale mtime that it does not.
   */
  heartbeatMs?: number;
}

/**
 * The textfile of `yank watch`: the latest report of every watched monitor and its counters,
 * each labelled with its socket, plus whether the watch runs, in one file. Reports arrive one VM
 * at a time; writes are coalesced so that a host
 * of many VMs costs at most one write per `minGapMs`, and one slow write never delays a probe.
 */
export class GaugeTextfile {
  #entries = new Map<string, { report: HealthReport; watching: boolean }>();
  #counters = new Map<string, SocketCounters>();
  #writing: Promise<void> | undefined;
  #dirty = false;
  #closed = false;
  #heartbeat: ReturnType<typeof setTimeout> | undefined;
  #beating = false;

  constructor(readonly path: string, readonly options: GaugeTextfileOptions) {}

  /** Sets a monitor's latest report; written within `minGapMs` (or after the write in progress). */
  set(report: HealthReport, watching: boolean): void {
    this.#entries.set(report.socket, { report, watching });
    this.counters(report.socket);
    this.#schedule();
  }

  /**
   * The counters of a monitor (see counters.ts), kept until `delete(socket)`: a watchdog that
   * restarts, or a VM that comes back on the same socket meanwhile, counts on.
   */
  counters(socket: string): SocketCounters {
    let counters = this.#counters.get(socket);
    if (counters === undefined) {
      counters = new SocketCounters(() => this.#schedule());
      this.#counters.set(socket, counters);
    }
    return counters;
  }

  /** Removes a monitor, and its counters, from the file. */
  delete(socket: string): void {
    const had = this.#entries.delete(socket);
    if (this.#counters.delete(socket) || had) this.#schedule();
  }

  /**
   * Writes the file now, even without any monitor (yank_watch_up 1), and from then on at least
   * every `heartbeatMs` until `close()`.
   */
  start(): void {
    this.#beating = this.options.heartbeatMs !== undefined;
    this.#schedule();
  }

  /**
   * Writes the file a last time, every monitor reading UNKNOWN and yank_watch_running 0 (also
   * those whose watchdog ended before, such as an unwatchable one), with yank_watch_up 0, and
   * stops the heartbeat.
   */
  async close(): Promise<void> {
    for (const [socket, { report }] of this.#entries) {
      this.#entries.set(socket, {
        report: healthReport(socket, {
          message: "yank watch stopped; nothing watches this monitor",
          qemuVersion: report.qemuVersion,
        }),
        watching: false,
      });
    }
    this.#closed = true;
    this.#beating = false;
    clearTimeout(this.#heartbeat);
    this.#schedule();
    await this.flush();
  }

  /** Resolves once the file holds every report set so far. */
  async flush(): Promise<void> {
    while (this.#writing !== undefined) await this.#writing;
    if (this.#dirty) {
      this.#dirty = false;
      await this.#write();
    }
  }

  #schedule(): void {
    this.#dirty = true;
    if (this.#writing !== undefined) return;
    this.#writing = (async () => {
      try {
        while (this.#dirty) {
          this.#dirty = false;
          await this.#write();
          await new Promise((resolve) => setTimeout(resolve, this.options.minGapMs));
        }
      } finally {
        this.#writing = undefined;
      }
    })();
  }

  async #write(): Promise<void> {
    const entries = [...this.#entries.values()].sort((a, b) =>
      bySocket(a.report.socket, b.report.socket)
    );
    const watching = new Map(entries.map((e) => [e.report, e.watching]));
    const reports = entries.map((e) => e.report);
    const counted = [...this.#counters.entries()].sort(([a], [b]) => bySocket(a, b));
    const gauges = renderHealthPrometheus(reports, {
      watching: (report) => watching.get(report) ?? false,
    });
    const more = [
      ...renderFamily(
        "yank_hung",
        "gauge",
        "Whether QEMU's main loop is hung now (1): a probe unanswered for --hang-after, or no answer while watch connects.",
        reports.map((r) => ({ labels: { socket: r.socket }, value: Number(r.reason === "hung") })),
      ),
      ...renderFamily(
        "yank_watch_up",
        "gauge",
        "Whether the yank watch that writes this textfile runs (1) or has stopped (0).",
        [{ labels: { textfile: this.path }, value: Number(!this.#closed) }],
      ),
      ...renderCounters(counted),
    ];
    try {
      await writeTextfileAtomically(this.path, `${gauges}${more.join("\n")}\n`);
    } catch (error) {
      if (error instanceof TextfileError) this.options.onError(error);
      else throw error;
    } finally {
      this.#beat();
    }
  }

  /** Arms the next heartbeat write, `heartbeatMs` after this one. */
  #beat(): void {
    clearTimeout(this.#heartbeat);
    if (!this.#beating) return;
    this.#heartbeat = setTimeout(() => this.#schedule(), this.options.heartbeatMs);
  }
}

function bySocket(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
