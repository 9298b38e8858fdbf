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
import { escapeLabelValue, renderFamily } from "./render_prometheus.ts";

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
  /** Each counter's sample lines, for `#socket`, kept until the counter changes. */
  #lines = new Map<WatchCounter, string[]>();
  #socket: string | undefined;
  #onChange: () => void;

  /** `onChange` is told after every change (the textfile schedules a write). */
  constructor(onChange: () => void = () => {}) {
    this.#onChange = onChange;
  }

  add<C extends WatchCounter>(counter: C, ...labels: LabelArgument<C>): void {
    const key = sampleKey(counter, labels[0]);
    this.#values.set(key, (this.#values.get(key) ?? 0) + 1);
    this.#lines.delete(counter);
    this.#onChange();
  }

  set<C extends WatchCounter>(counter: C, value: number, ...labels: LabelArgument<C>): void {
    this.#values.set(sampleKey(counter, labels[0]), value);
    this.#lines.delete(counter);
    this.#onChange();
  }

  /** The value of one sample: 0 for a counter never added to, undefined for a gauge never set. */
  value<C extends WatchCounter>(counter: C, ...labels: LabelArgument<C>): number | undefined {
    const value = this.#values.get(sampleKey(counter, labels[0]));
    return value ?? (WATCH_COUNTERS[counter].type === "counter" ? 0 : undefined);
  }

  /**
   * The sample lines of `counter` labelled with `socket`: every label combination of a counter,
   * the set ones of a gauge. Rendered again only after a change, so that a textfile of many VMs
   * costs little to write when little changed.
   */
  lines(counter: WatchCounter, socket: string): string[] {
    if (socket !== this.#socket) {
      this.#lines.clear();
      this.#socket = socket;
    }
    let lines = this.#lines.get(counter);
    if (lines === undefined) {
      const { name, type } = WATCH_COUNTERS[counter];
      const own = `${name}{socket="${escapeLabelValue(socket)}"`;
      lines = [];
      for (const { key, labels } of sampleSlots(counter)) {
        const value = this.#values.get(key);
        if (value !== undefined || type === "counter") lines.push(`${own}${labels}} ${value ?? 0}`);
      }
      this.#lines.set(counter, lines);
    }
    return lines;
  }
}

/** Renders every socket's counters, one family per counter, sockets in the order given. */
export function renderCounters(sockets: readonly [string, SocketCounters][]): string[] {
  const lines: string[] = [];
  for (const counter of Object.keys(WATCH_COUNTERS) as WatchCounter[]) {
    const { name, type, help } = WATCH_COUNTERS[counter];
    lines.push(...renderFamily(name, type, help, []));
    for (const [socket, counters] of sockets) lines.push(...counters.lines(counter, socket));
  }
  return lines;
}

function sampleKey(counter: WatchCounter, labels: object | undefined): string {
  const declared = Object.keys((WATCH_COUNTERS[counter] as CounterDeclaration).labels ?? {});
  const values = declared.map((label) => (labels as Record<string, string>)[label]);
  return JSON.stringify([counter, ...values]);
}

const SLOTS = new Map<WatchCounter, { key: string; labels: string }[]>();

/**
 * Every combination of a counter's label values, in declaration order: its key in the values
 * and its labels as written after the socket (`,type="chardev",reason="stall"`).
 */
function sampleSlots(counter: WatchCounter): { key: string; labels: string }[] {
  let slots = SLOTS.get(counter);
  if (slots === undefined) {
    let combinations: Record<string, string>[] = [{}];
    const declared = (WATCH_COUNTERS[counter] as CounterDeclaration).labels ?? {};
    for (const [label, values] of Object.entries(declared)) {
      combinations = combinations.flatMap((partial) =>
        values.map((value) => ({ ...partial, [label]: value }))
      );
    }
    slots = combinations.map((labels) => ({
      key: sampleKey(counter, labels),
      labels: Object.entries(labels).map(([k, v]) => `,${k}="${escapeLabelValue(v)}"`).join(""),
    }));
    SLOTS.set(counter, slots);
  }
  return slots;
}
