/**
 * Timeouts for the QMP client without the global `setTimeout`: in Deno 2.9 that is Node's
 * (it returns a `Timeout` object), and its first call boots the Node compatibility layer, about
 * 5 ms of a one-shot command's start-up. `AbortSignal.timeout` is the web platform's own timer:
 * it costs nothing measurable, and Deno keeps the process alive for it only while it has a
 * listener, so a cancelled one neither delays exit nor counts as a leaked timer in tests.
 */

/** A pending timeout; `cancel()` it once it is no longer needed. */
export interface Timeout {
  cancel(): void;
}

/**
 * Calls `onTimeout` after `ms` milliseconds unless cancelled first; `Infinity` never does.
 * A cancelled AbortSignal.timeout still stays in the timer list until it would have fired, so a
 * long-lived caller that waits without a bound must pass `Infinity`, not a huge number: a watch
 * probing ten times a second would otherwise keep every probe's timer for 24 days.
 */
export function startTimeout(ms: number, onTimeout: () => void): Timeout {
  if (ms === Infinity) return { cancel: () => {} };
  const signal = AbortSignal.timeout(Math.max(0, Math.ceil(ms)));
  const listener = () => onTimeout();
  signal.addEventListener("abort", listener, { once: true });
  return { cancel: () => signal.removeEventListener("abort", listener) };
}
