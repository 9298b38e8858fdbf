/**
 * Waiting in the watchdog: one timeout helper over AbortSignal, the sleep built on it, and the
 * retry backoff. Nothing here races a promise that outlives the wait: a Promise.race against a
 * long-lived promise (the stop signal, a connection's end) adds a reaction to it on every call,
 * and a watchdog probing ten times a second keeps every one of them until that promise settles.
 */

/** First retry delay, in milliseconds. */
export const BACKOFF_START_MS = 100;
/** Longest retry delay, in milliseconds. */
export const BACKOFF_MAX_MS = 5000;

/** First delay before a watchdog that failed unexpectedly starts again, in milliseconds. */
export const RESTART_START_MS = 1000;
/** Longest delay before a watchdog that failed unexpectedly starts again, in milliseconds. */
export const RESTART_MAX_MS = 60_000;

/** The delay after `previous`: doubled, at most BACKOFF_MAX_MS. */
export function nextBackoff(previous: number): number {
  return Math.min(previous * 2, BACKOFF_MAX_MS);
}

/** How a wait ended: the promise settled (with its value or error), time ran out, or aborted. */
export type WaitOutcome<T> =
  | { kind: "settled"; value: T }
  | { kind: "failed"; error: unknown }
  | { kind: "timeout" }
  | { kind: "aborted" };

/**
 * Waits for `promise` at most `ms` milliseconds (`Infinity`: no bound), ending at once when
 * `signal` aborts. Never rejects. Leaves no timer or listener behind once it has ended.
 */
export function within<T>(
  promise: Promise<T> | undefined,
  ms: number,
  signal?: AbortSignal,
): Promise<WaitOutcome<T>> {
  if (signal?.aborted) return Promise.resolve({ kind: "aborted" });
  const { promise: outcome, resolve } = Promise.withResolvers<WaitOutcome<T>>();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const end = (result: WaitOutcome<T>) => {
    if (timer !== undefined) clearTimeout(timer);
    signal?.removeEventListener("abort", onAbort);
    resolve(result);
  };
  const onAbort = () => end({ kind: "aborted" });
  signal?.addEventListener("abort", onAbort, { once: true });
  if (ms !== Infinity) timer = setTimeout(() => end({ kind: "timeout" }), Math.max(0, ms));
  promise?.then(
    (value) => end({ kind: "settled", value }),
    (error: unknown) => end({ kind: "failed", error }),
  );
  return outcome;
}

/** Resolves after `ms`, or at once when `signal` aborts; true if the full time passed. */
export async function sleep(ms: number, signal?: AbortSignal): Promise<boolean> {
  return (await within(undefined, ms, signal)).kind === "timeout";
}
