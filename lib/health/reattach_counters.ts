/**
 * `watch --reattach`'s counter in the textfile: how many reattach attempts each watched monitor
 * made, by how they ended. Kept apart from the gauges: the textfile appends what this renders.
 */

import { escapeLabelValue } from "./render_prometheus.ts";

/** Counts reattach attempts by socket and result, and renders them as one counter family. */
export class ReattachCounters {
  #counts = new Map<string, Map<string, number>>();

  /** Counts one node's attempt on `socket` that ended as `result`. */
  count(socket: string, result: string): void {
    const bySocket = this.#counts.get(socket) ?? new Map<string, number>();
    bySocket.set(result, (bySocket.get(result) ?? 0) + 1);
    this.#counts.set(socket, bySocket);
  }

  /** `yank_reattach_attempts_total{socket,result}` in Prometheus' text format ("" when none). */
  render(): string {
    if (this.#counts.size === 0) return "";
    const lines = [
      "# HELP yank_reattach_attempts_total Attempts of watch --reattach to reattach a yanked NBD node, by result.",
      "# TYPE yank_reattach_attempts_total counter",
    ];
    for (const socket of [...this.#counts.keys()].sort()) {
      const bySocket = this.#counts.get(socket)!;
      for (const result of [...bySocket.keys()].sort()) {
        lines.push(
          `yank_reattach_attempts_total{socket="${escapeLabelValue(socket)}",result="${
            escapeLabelValue(result)
          }"} ${bySocket.get(result)}`,
        );
      }
    }
    return `${lines.join("\n")}\n`;
  }
}
