/**
 * The yank-only QMP proxy that `yank watch --listen PATH` serves: a unix socket where any number
 * of clients can list and yank instances through the watchdog's pre-negotiated out-of-band
 * connection, even while QEMU's main loop is hung. It never sends QEMU an in-band command, and no
 * client can slow down the watchdog it shares a process with (see client_session.ts and
 * limits.ts).
 */

import { PROXY_GREETING_KEY } from "../qmp/greeting.ts";
import { osErrorText } from "../qmp/os_error.ts";
import type { YankUpstream } from "./upstream.ts";
import { DEFAULT_PROXY_LIMITS, type ProxyLimits } from "./limits.ts";
import { type ProxyYank, serveClient } from "./client_session.ts";
import { listenPrivately } from "./listen.ts";
import type { RemedyWording } from "../errors.ts";

export type { ProxyYank } from "./client_session.ts";

/** Options of `ProxyServer.listen`. */
export interface ProxyOptions {
  /** Overrides of the default limits (tests shorten the timeouts). */
  limits?: Partial<ProxyLimits>;
  /**
   * Receives one line (without a newline) per event worth an operator's attention: a client cut
   * off or closed for breaking a bound, and accept() failing (once per episode).
   */
  log?: (message: string) => void;
  /** Called after each yank forwarded for a client, with how it ended. */
  onYank?: (yank: ProxyYank) => void;
  /**
   * Words the actions of remedies in error replies (the front end's terms); without it, error
   * replies leave out remedies that need them.
   */
  wording?: RemedyWording | undefined;
}

/** First pause after accept() fails; it doubles up to ACCEPT_BACKOFF_MAX_MS. */
const ACCEPT_BACKOFF_START_MS = 10;
const ACCEPT_BACKOFF_MAX_MS = 1000;
/** accept() failures after one that was logged stay unlogged until none came for this long. */
const ACCEPT_QUIET_MS = 60_000;

const encoder = new TextEncoder();

/** A running proxy. `close()` it: it stops, drops its clients and removes its socket file. */
export class ProxyServer {
  readonly path: string;
  /** `path` resolved, for the chardev the proxy presents as its own (see ownChardevList). */
  #realPath: string;
  #listener: Deno.Listener;
  #upstream: YankUpstream;
  #limits: ProxyLimits;
  #log: (message: string) => void;
  #onYank: ((yank: ProxyYank) => void) | undefined;
  #wording: RemedyWording | undefined;
  /** Connected clients, oldest first, and whether each has negotiated. */
  #clients = new Map<Deno.Conn, { id: number; negotiated: boolean }>();
  #clientCounter = 0;
  /** Wakes the accept loop's backoff early: a client left, so a descriptor is free. */
  #wake: (() => void) | undefined;
  #accepting: Promise<void>;
  #closed = false;

  private constructor(
    path: string,
    listener: Deno.Listener,
    upstream: YankUpstream,
    options: ProxyOptions,
  ) {
    this.path = path;
    this.#realPath = resolvedPath(path);
    this.#listener = listener;
    this.#upstream = upstream;
    this.#limits = { ...DEFAULT_PROXY_LIMITS, ...options.limits };
    this.#log = options.log ?? (() => {});
    this.#onYank = options.onYank;
    this.#wording = options.wording;
    this.#accepting = this.#accept();
  }

  /**
   * Listens on `path` with mode 0660 (never wider, not even while it is created). A stale
   * socket file left by a crashed watchdog is replaced; a live one, or any other file, is an
   * error.
   */
  static async listen(
    path: string,
    upstream: YankUpstream,
    options: ProxyOptions = {},
  ): Promise<ProxyServer> {
    return new ProxyServer(path, await listenPrivately(path), upstream, options);
  }

  /** How many clients are connected. */
  get clientCount(): number {
    return this.#clients.size;
  }

  /** Stops accepting, disconnects every client and removes the socket file. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    tryClose(this.#listener);
    for (const conn of this.#clients.keys()) tryClose(conn);
    this.#wake?.();
    await this.#accepting;
    await Deno.remove(this.path).catch(() => {});
  }

  /**
   * Accepts until closed. accept() fails when the process is out of descriptors (EMFILE,
   * ENFILE) or a connection was aborted before it was taken (ECONNABORTED): that is logged once,
   * and accepting resumes after a pause (10 ms doubling to 1 s, cut short when a client leaves),
   * so the proxy serves again as soon as descriptors are free.
   */
  async #accept(): Promise<void> {
    let pause = ACCEPT_BACKOFF_START_MS;
    let lastFailure = -Infinity;
    while (!this.#closed) {
      let conn: Deno.Conn;
      try {
        conn = await this.#listener.accept();
      } catch (error) {
        if (this.#closed) return;
        // Out of descriptors, accepts alternate with failures as clients come and go: one line
        // per episode, which ends after a quiet minute.
        if (performance.now() - lastFailure > ACCEPT_QUIET_MS) {
          this.#log(
            `proxy cannot accept connections: ${
              osErrorText(error)
            }; new clients wait until it can (retrying with backoff up to ${
              ACCEPT_BACKOFF_MAX_MS / 1000
            } s, at once when a client leaves)`,
          );
        }
        lastFailure = performance.now();
        await this.#pause(pause);
        pause = Math.min(pause * 2, ACCEPT_BACKOFF_MAX_MS);
        continue;
      }
      pause = ACCEPT_BACKOFF_START_MS;
      if (this.#closed) {
        tryClose(conn);
        return;
      }
      if (this.#clients.size >= this.#limits.maxClients && !this.#evictUnnegotiated()) {
        this.#turnAway(conn);
        continue;
      }
      const client = { id: ++this.#clientCounter, negotiated: false };
      this.#clients.set(conn, client);
      serveClient(conn, {
        id: client.id,
        onNegotiated: () => client.negotiated = true,
        upstream: this.#upstream,
        path: this.#realPath,
        limits: this.#limits,
        greeting: this.#greeting(),
        log: this.#log,
        onYank: this.#onYank,
        wording: this.#wording,
      }).finally(() => {
        this.#clients.delete(conn);
        tryClose(conn);
        this.#wake?.();
      });
    }
  }

  /**
   * At the client limit, makes room for a newcomer by hanging up on the oldest client that has
   * not negotiated yet: connections that merely sit there (each for up to the negotiation
   * limit) can then never keep out a client that negotiates at once. False if every client has
   * negotiated.
   */
  #evictUnnegotiated(): boolean {
    for (const [conn, client] of this.#clients) {
      if (client.negotiated) continue;
      this.#clients.delete(conn);
      tryClose(conn);
      this.#log(
        `proxy client ${client.id} closed: the proxy is full (${this.#limits.maxClients} clients) and it had not sent qmp_capabilities yet`,
      );
      return true;
    }
    return false;
  }

  /** Sleeps `ms`, or less if a client leaves or the proxy closes. */
  async #pause(ms: number): Promise<void> {
    const { promise, resolve } = Promise.withResolvers<void>();
    this.#wake = resolve;
    const timer = setTimeout(resolve, ms);
    await promise;
    clearTimeout(timer);
    this.#wake = undefined;
  }

  /**
   * Tells a client past the client limit why, instead of the greeting (yank's CLI shows the
   * desc), and hangs up. The write is small and bounded in time, so a client that never reads
   * costs nothing.
   */
  #turnAway(conn: Deno.Conn): void {
    const line = encoder.encode(`${
      JSON.stringify({
        error: {
          class: "GenericError",
          desc:
            `Too many clients on this yank proxy: it serves at most ${this.#limits.maxClients} at once (close idle connections to it, or try again shortly)`,
        },
      })
    }\r\n`);
    const timer = setTimeout(() => tryClose(conn), 1000);
    conn.write(line).catch(() => {}).finally(() => {
      clearTimeout(timer);
      tryClose(conn);
    });
  }

  /** QEMU's greeting as the upstream last saw it, marked as a yank proxy's. */
  #greeting(): Record<string, unknown> {
    const version = this.#upstream.version;
    return {
      QMP: {
        version: {
          qemu: {
            major: version?.major ?? 0,
            minor: version?.minor ?? 0,
            micro: version?.micro ?? 0,
          },
          package: version?.package ?? "",
        },
        capabilities: ["oob"],
        [PROXY_GREETING_KEY]: {},
      },
    };
  }
}

function resolvedPath(path: string): string {
  try {
    return Deno.realPathSync(path);
  } catch {
    return path;
  }
}

function tryClose(closable: { close(): void }): void {
  try {
    closable.close();
  } catch {
    // Already closed.
  }
}
