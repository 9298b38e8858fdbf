/**
 * The counters of `yank watch --textfile`: what the watch did to each VM (hangs seen,
 * recoveries, instances yanked by type and reason, how long the last recovery took), declared
 * once here and rendered beside check's gauges. A counter starts at 0 for every combination of
 * its labels as soon as its socket is in the file (so that `increase()` sees the first yank) and
 * only grows while the socket stays there: across reconnects and watchdog restarts, and across
 * a VM that vanishes and comes back within the 10 minutes its series stay in the file. Adding a
 * counter is one entry in WATCH_COUNTERS and one `add()` where the event happens.
 */

import { YANK_INSTANCE_TYPES } from "../yank/instances.ts";
import { type PrometheusSample, renderFamily } from "./render_prometheus.ts";

/** Why watch yanked an instance: the `reason` label of yank_instances_yanked_total. */
export const YANK_REASONS = ["dead-peer", "fallback", "stall", "proxy-client"] as const;

/** Why watch yanked an instance. */
export type YankReason = typeof YANK_REASONS[number];

/** What a counter or gauge of the watch textfile is. */
interface CounterDeclaration {
  readonly name: string;
  /** "counter": 0 from the start, only grows; "gauge": left out until set. */
  readonly type: "counter" | "gauge";
  readonly help: string;
  /** Each label, in the order written, with every value it takes. */
  readonly labels?: Readonly<Record<string, readonly string[]>>;
}

/** Every counter of the watch textfile, in the order written. */
export const WATCH_COUNTERS = {
  hangs: {
    name: "yank_hangs_total",
    type: "counter",
    help: "Hangs of QEMU's main loop that yank watch saw: a probe unanswered for --hang-after.",
  },
  recoveries: {
    name: "yank_recoveries_total",
    type: "counter",
    help:
      "Hangs that ended with the main loop answering the probe again, after yanks or by itself.",
  },
  yanked: {
    name: "yank_instances_yanked_total",
    type: "counter",
    help:
      "Instances yank watch yanked, by type and reason: dead-peer (judged dead during a hang), fallback (a hang went on without a dead verdict), stall (a dead peer behind a stalled job or migration), proxy-client (a client of the yank-only proxy).",
    labels: { type: YANK_INSTANCE_TYPES, reason: YANK_REASONS },
  },
  lastRecovery: {
    name: "yank_last_recovery_duration_seconds",
    type: "gauge",
    help:
      "How long the main loop went unanswered in the last hang that ended, from sending the probe to its answer.",
  },
} as const satisfies Record<string, CounterDeclaration>;

/** A counter (or gauge) of WATCH_COUNTERS. */
export type WatchCounter = keyof typeof WATCH_COUNTERS;

/** The labels `counter` takes, each one of its declared values. */
export type CounterLabels<C extends WatchCounter> = (typeof WATCH_COUNTERS)[C] extends {
  labels: infer L extends Readonly<Record<string, readonly string[]>>;
} ? { [K in keyof L]: L[K][number] }
  : Record<never, never>;

/** The label argument of `add` and `set`: none for a counter without labels. */
type LabelArgument<C extends WatchCounter> = keyof CounterLabels<C> extends never ? []
  : [labels: CounterLabels<C>];

/** What the watchdog of one VM counts with; the textfile writes it. */
export interface WatchCounters {
  /** Adds 1 to `counter`. */
  add<C extends WatchCounter>(counter: C, ...labels: LabelArgument<C>): void;
  /** Sets the gauge `counter`. */
  set<C extends WatchCounter>(counter: C, value: number, ...labels: LabelArgument<C>): void;
}

/** The counters of one socket. */
export class SocketCounters implements WatchCounters {
  #values = new Map<string, number>();
  #onChange: () => void;

  /** `onChange` is told after every change (the textfile schedules a write). */
  constructor(onChange: () => void = () => {}) {
    this.#onChange = onChange;
  }

  add<C extends WatchCounter>(counter: C, ...labels: LabelArgument<C>): void {
    const key = sampleKey(counter, labels[0]);
    this.#values.set(key, (this.#values.get(key) ?? 0) + 1);
    this.#onChange();
  }

  set<C extends WatchCounter>(counter: C, value: number, ...labels: LabelArgument<C>): void {
    this.#values.set(sampleKey(counter, labels[0]), value);
    this.#onChange();
  }

  /** The value of one sample: 0 for a counter never added to, undefined for a gauge never set. */
  value<C extends WatchCounter>(counter: C, ...labels: LabelArgument<C>): number | undefined {
    const value = this.#values.get(sampleKey(counter, labels[0]));
    return value ?? (WATCH_COUNTERS[counter].type === "counter" ? 0 : undefined);
  }

  /** The samples of `counter`, every label combination of a counter, set ones of a gauge. */
  samples(counter: WatchCounter): { labels: Record<string, string>; value: number }[] {
    const declaration: CounterDeclaration = WATCH_COUNTERS[counter];
    const samples = [];
    for (const labels of combinations(declaration.labels ?? {})) {
      const value = this.#values.get(sampleKey(counter, labels));
      if (value !== undefined || declaration.type === "counter") {
        samples.push({ labels, value: value ?? 0 });
      }
    }
    return samples;
  }
}

/** Renders every socket's counters, one family per counter, sockets in the order given. */
export function renderCounters(sockets: readonly [string, SocketCounters][]): string[] {
  const lines: string[] = [];
  for (const counter of Object.keys(WATCH_COUNTERS) as WatchCounter[]) {
    const { name, type, help } = WATCH_COUNTERS[counter];
    const samples: PrometheusSample[] = sockets.flatMap(([socket, counters]) =>
      counters.samples(counter).map(({ labels, value }) => ({
        labels: { socket, ...labels },
        value,
      }))
    );
    lines.push(...renderFamily(name, type, help, samples));
  }
  return lines;
}

function sampleKey(counter: WatchCounter, labels: object | undefined): string {
  const declared = Object.keys((WATCH_COUNTERS[counter] as CounterDeclaration).labels ?? {});
  const values = declared.map((label) => (labels as Record<string, string>)[label]);
  return JSON.stringify([counter, ...values]);
}

/** Every combination of the labels' values, in declaration order. */
function combinations(
  labels: Readonly<Record<string, readonly string[]>>,
): Record<string, string>[] {
  let result: Record<string, string>[] = [{}];
  for (const [label, values] of Object.entries(labels)) {
    result = result.flatMap((partial) => values.map((value) => ({ ...partial, [label]: value })));
  }
  return result;
}
