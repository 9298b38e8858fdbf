/**
 * Bounded waits, on the web platform's own timer: `AbortSignal.timeout`, as Deno std's
 * `async/deadline` does. Not the global `setTimeout`: in Deno 2.9 that is Node's (it returns a
 * `Timeout` object), and its first call boots the Node compatibility layer, about 5 ms of a
 * one-shot command's start-up. Deno keeps the process alive for an `AbortSignal.timeout` only
 * while it has a listener, so a wait that ends first neither delays exit nor counts as a leaked
 * timer in tests.
 */

/** How long to wait: the smaller of `timeoutMs` and what is left until `deadline`. */
export function remaining(
  timeoutMs: number,
  deadline: number | undefined,
  now: () => number,
): number {
  if (deadline === undefined) return timeoutMs;
  return Math.max(0, Math.min(timeoutMs, deadline - now()));
}

/**
 * Settles as `promise` does, or rejects with `timeoutError()` once `ms` milliseconds have passed
 * first. `Infinity` waits without a bound and starts no timer: a cancelled timer stays in Deno's
 * timer list until it would have fired, so a long-lived caller must not pass a huge number.
 */
export function deadline<T>(
  promise: Promise<T>,
  ms: number,
  timeoutError: () => Error,
): Promise<T> {
  if (ms === Infinity) return promise;
  const signal = timeoutSignal(ms);
  const timedOut = Promise.withResolvers<never>();
  const onTimeout = () => timedOut.reject(timeoutError());
  signal.addEventListener("abort", onTimeout, { once: true });
  return Promise.race([promise, timedOut.promise]).finally(() =>
    signal.removeEventListener("abort", onTimeout)
  );
}

/** Resolves after `ms` milliseconds. */
export function delay(ms: number): Promise<void> {
  const { promise, resolve } = Promise.withResolvers<void>();
  timeoutSignal(ms).addEventListener("abort", () => resolve(), { once: true });
  return promise;
}

function timeoutSignal(ms: number): AbortSignal {
  return AbortSignal.timeout(Math.max(0, Math.ceil(ms)));
}
