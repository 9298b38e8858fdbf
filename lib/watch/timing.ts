/**
 * Waiting that ends early when the watchdog is told to stop, and the reconnect backoff.
 */

/** First reconnect delay, in milliseconds. */
export const BACKOFF_START_MS = 100;
/** Longest reconnect delay, in milliseconds. */
export const BACKOFF_MAX_MS = 5000;

/** The delay after `previous`: doubled, at most BACKOFF_MAX_MS. */
export function nextBackoff(previous: number): number {
  return Math.min(previous * 2, BACKOFF_MAX_MS);
}

/** Resolves after `ms`, or at once when `signal` aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, Math.max(0, ms));
    signal?.addEventListener("abort", done, { once: true });
  });
}
