/**
 * The bounds that keep one proxy client from costing the watchdog (or other clients) anything
 * it cannot afford. `yank watch --help` and docs/guide.md state them.
 */

/** Per-proxy and per-client bounds. */
export interface ProxyLimits {
  /** Clients served at once; more are turned away with a reason. */
  maxClients: number;
  /**
   * Forwarded commands one client may have in flight. They are all out-of-band, which QEMU runs
   * at once in the monitor I/O thread without queueing (its limit of 8 is for in-band commands
   * only), so this is not QEMU's limit but ours: every client shares the watchdog's one
   * connection, and each command may wait up to --timeout. A yank run needs one at a time; 4
   * leaves room for a script that pipelines a few, and bounds the shared connection.
   */
  maxInFlight: number;
  /** Largest request; a yank of many instances fits in far less. */
  maxRequestBytes: number;
  /**
   * Replies written for a client and not yet taken by it (beyond what the kernel buffers): a
   * client past this does not read what it asked for, and is cut off.
   */
  maxUnreadBytes: number;
  /** Milliseconds from connecting to a successful qmp_capabilities. */
  negotiationMs: number;
  /** Milliseconds a negotiated client may go without a request while nothing is in flight. */
  idleMs: number;
}

/** The limits `yank watch --listen` serves with. */
export const DEFAULT_PROXY_LIMITS: ProxyLimits = {
  maxClients: 64,
  maxInFlight: 4,
  maxRequestBytes: 64 * 1024,
  maxUnreadBytes: 256 * 1024,
  negotiationMs: 5_000,
  idleMs: 60_000,
};
