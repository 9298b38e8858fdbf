/**
 * Watches a child process's peak resident memory (Linux `VmHWM`), to show that a flood from a
 * hostile peer does not make yank grow without bound.
 */

/** A running watch; `peakBytes` is the highest value seen so far. */
export interface PeakRssWatch {
  readonly peakBytes: number;
  /** Stops polling and returns the peak. */
  stop(): number;
}

function readHighWaterMark(pid: number): number | undefined {
  try {
    const status = Deno.readTextFileSync(`/proc/${pid}/status`);
    const kib = /^VmHWM:\s+(\d+) kB$/m.exec(status)?.[1];
    return kib === undefined ? undefined : Number(kib) * 1024;
  } catch {
    return undefined; // The process has ended.
  }
}

/** Polls `/proc/PID/status` every `intervalMs` until stopped. */
export function watchPeakRss(pid: number, intervalMs = 10): PeakRssWatch {
  let peak = 0;
  const sample = () => {
    const value = readHighWaterMark(pid);
    if (value !== undefined && value > peak) peak = value;
  };
  sample();
  const timer = setInterval(sample, intervalMs);
  return {
    get peakBytes() {
      return peak;
    },
    stop() {
      clearInterval(timer);
      return peak;
    },
  };
}
