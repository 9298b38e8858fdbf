/**
 * The yank-only QMP proxy that `yank watch --listen PATH` serves: a unix socket where any number
 * of clients can list and yank instances through the watchdog's pre-negotiated out-of-band
 * connection, even while QEMU's main loop is hung. It never sends QEMU an in-band command.
 */

import { JsonStreamError, JsonStreamParser } from "../qmp/json_stream.ts";
import { QmpCommandError } from "../qmp/errors.ts";
import type { YankUpstream } from "../watch/watchdog.ts";
import { decideRequest, type ProxySession, withId } from "./rules.ts";
import { ProxyListenError } from "./errors.ts";

/** Requests are small: a yank of many instances fits in far less. */
const MAX_REQUEST_BYTES = 64 * 1024;
/** A client that stops reading is dropped once this much output waits for it. */
const MAX_PENDING_OUTPUT_BYTES = 1024 * 1024;
/**
 * Forwarded commands one client may have in flight. They are all out-of-band, which QEMU runs
 * at once in the monitor I/O thread without queueing (its limit of 8 is for in-band commands
 * only), so this is not QEMU's limit but ours: every client shares the watchdog's one
 * connection, and each command may wait up to --timeout. A yank run needs one at a time; 4
 * leaves room for a script that pipelines a few, and bounds the shared connection to 256.
 */
const MAX_IN_FLIGHT_PER_CLIENT = 4;
/** At most this many clients at once; more are turned away. */
const MAX_CLIENTS = 64;

const encoder = new TextEncoder();

/** Options of `ProxyServer.listen`. */
export interface ProxyOptions {
  /** Told of every yank the proxy forwards, with its arguments and its pending outcome. */
  onYank?: (args: Record<string, unknown> | undefined, outcome: Promise<unknown>) => void;
}

/** A running proxy. `close()` it: it stops, drops its clients and removes its socket file. */
export class ProxyServer {
  readonly path: string;
  /** `path` resolved, for the chardev the proxy presents as its own (see ownChardevList). */
  #realPath: string;
  #listener: Deno.Listener;
  #upstream: YankUpstream;
  #clients = new Set<Deno.Conn>();
  #accepting: Promise<void>;
  #closed = false;
  #options: ProxyOptions;

  private constructor(
    path: string,
    listener: Deno.Listener,
    upstream: YankUpstream,
    options: ProxyOptions,
  ) {
    this.path = path;
    this.#options = options;
    this.#realPath = resolvedPath(path);
    this.#listener = listener;
    this.#upstream = upstream;
    this.#accepting = this.#accept();
  }

  /**
   * Listens on `path` with mode 0660. A stale socket file left by a crashed watchdog is
   * replaced; a live one, or any other file, is an error.
   */
  static async listen(
    path: string,
    upstream: YankUpstream,
    options: ProxyOptions = {},
  ): Promise<ProxyServer> {
    const listener = await listenUnix(path);
    try {
      await Deno.chmod(path, 0o660);
    } catch (error) {
      listener.close();
      throw new ProxyListenError(
        `Cannot set the mode of ${JSON.stringify(path)}: ${describe(error)}`,
      );
    }
    return new ProxyServer(path, listener, upstream, options);
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
    for (const conn of this.#clients) tryClose(conn);
    await this.#accepting;
    await Deno.remove(this.path).catch(() => {});
  }

  async #accept(): Promise<void> {
    try {
      for await (const conn of this.#listener) {
        if (this.#clients.size >= MAX_CLIENTS) {
          this.#turnAway(conn);
          continue;
        }
        this.#clients.add(conn);
        this.#serve(conn).catch(() => {}).finally(() => {
          this.#clients.delete(conn);
          tryClose(conn);
        });
      }
    } catch {
      // The listener was closed.
    }
  }

  /**
   * Tells a client past MAX_CLIENTS why, instead of the greeting (yank's CLI shows the desc),
   * and hangs up. The write is small and bounded in time, so a client that never reads costs
   * nothing.
   */
  #turnAway(conn: Deno.Conn): void {
    const line = encoder.encode(`${
      JSON.stringify({
        error: {
          class: "GenericError",
          desc:
            `Too many clients on this yank proxy: it serves at most ${MAX_CLIENTS} at once (close idle connections to it, or try again shortly)`,
        },
      })
    }\r\n`);
    const timer = setTimeout(() => tryClose(conn), 1000);
    conn.write(line).catch(() => {}).finally(() => {
      clearTimeout(timer);
      tryClose(conn);
    });
  }

  /** One client: its own parser, its own negotiation, its own bounded output queue. */
  async #serve(conn: Deno.Conn): Promise<void> {
    const session: ProxySession = { negotiated: false, oob: false };
    const parser = new JsonStreamParser({ maxMessageBytes: MAX_REQUEST_BYTES, maxDepth: 32 });
    let pendingBytes = 0;
    let writing = Promise.resolve();
    const inFlight = new Set<Promise<void>>();
    const send = (message: Record<string, unknown>) => {
      const bytes = encoder.encode(`${JSON.stringify(message)}\r\n`);
      pendingBytes += bytes.length;
      if (pendingBytes > MAX_PENDING_OUTPUT_BYTES) {
        tryClose(conn);
        return;
      }
      writing = writing.then(async () => {
        for (let offset = 0; offset < bytes.length;) {
          offset += await conn.write(bytes.subarray(offset));
        }
        pendingBytes -= bytes.length;
      }).catch(() => tryClose(conn));
    };

    const answer = (message: unknown) => {
      const decision = decideRequest(session, message, {
        ownChardev: this.#upstream.ownChardev,
        path: this.#realPath,
      });
      switch (decision.kind) {
        case "reply":
          send(withId(decision.reply, message));
          break;
        case "negotiate":
          session.negotiated = true;
          session.oob = decision.oob;
          send(withId({ return: {} }, message));
          break;
        case "forward": {
          if (inFlight.size >= MAX_IN_FLIGHT_PER_CLIENT) {
            send(withId({
              error: {
                class: "GenericError",
                desc:
                  `Too many commands in flight (at most ${MAX_IN_FLIGHT_PER_CLIENT}); wait for their replies`,
              },
            }, message));
            break;
          }
          const outcome = this.#upstream.execOob(decision.command, decision.args);
          if (decision.command === "yank") this.#options.onYank?.(decision.args, outcome);
          const forwarded = outcome.then(
            (value) => send(withId({ return: value }, message)),
            (error) => send(withId({ error: errorBody(error) }, message)),
          ).finally(() => inFlight.delete(forwarded));
          inFlight.add(forwarded);
          break;
        }
      }
    };

    send(this.#greeting());
    const buffer = new Uint8Array(16 * 1024);
    for (;;) {
      const count = await conn.read(buffer);
      if (count === null) return;
      let messages: unknown[];
      try {
        messages = parser.push(buffer.subarray(0, count));
      } catch (error) {
        if (!(error instanceof JsonStreamError)) throw error;
        // The requests completed before the bad bytes are intact: answer them as usual.
        for (const message of error.values) answer(message);
        // Framing is lost: say why (without an id, as QEMU does), let the forwarded commands
        // reply (each is bounded by --timeout), and hang up.
        send({ error: { class: "GenericError", desc: `JSON parse error, ${error.message}` } });
        await Promise.all(inFlight);
        await writing;
        return;
      }
      for (const message of messages) answer(message);
    }
  }

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
      },
    };
  }
}

function errorBody(error: unknown): { class: string; desc: string } {
  if (error instanceof QmpCommandError) return { class: error.errorClass, desc: error.desc };
  return { class: "GenericError", desc: describe(error) };
}

async function listenUnix(path: string): Promise<Deno.Listener> {
  try {
    return Deno.listen({ transport: "unix", path });
  } catch (error) {
    if (!(error instanceof Deno.errors.AddrInUse)) {
      throw new ProxyListenError(
        `Cannot listen on ${JSON.stringify(path)}: ${describe(error)} (check --listen)`,
      );
    }
  }
  // Something is there. Replace it only if it is a socket nobody listens on any more.
  let stale = false;
  try {
    if (Deno.lstatSync(path).isSocket) {
      (await Deno.connect({ transport: "unix", path })).close();
    }
  } catch (error) {
    stale = error instanceof Deno.errors.ConnectionRefused;
  }
  if (!stale) {
    throw new ProxyListenError(
      `Cannot listen on ${
        JSON.stringify(path)
      }: it exists and is not a stale socket (is another yank watch serving it? choose another --listen path)`,
    );
  }
  await Deno.remove(path);
  try {
    return Deno.listen({ transport: "unix", path });
  } catch (error) {
    throw new ProxyListenError(`Cannot listen on ${JSON.stringify(path)}: ${describe(error)}`);
  }
}

function resolvedPath(path: string): string {
  try {
    return Deno.realPathSync(path);
  } catch {
    return path;
  }
}

function describe(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  return text.replace(/\s*\(os error \d+\)/, "");
}

function tryClose(closable: { close(): void }): void {
  try {
    closable.close();
  } catch {
    // Already closed.
  }
}
