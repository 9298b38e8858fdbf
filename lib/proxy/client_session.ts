/**
 * One proxy client, from greeting to hang-up: its own parser, negotiation, output queue and
 * timers. Its cost is linear in the bytes it sends, its queued work and unread output are
 * bounded, and it is closed when it does not negotiate in time or stays idle, so no client can
 * slow the watchdog down or hold a client slot for nothing.
 */

import { JsonStreamError, JsonStreamParser } from "../qmp/json_stream.ts";
import { PROXY_UNAVAILABLE_CLASS, QmpCommandError, QmpDisconnectedError } from "../qmp/errors.ts";
import { describeFailure, type RemedyWording } from "../errors.ts";
import { decideRequest, type ProxySession, withId } from "./rules.ts";
import type { ProxyLimits } from "./limits.ts";
import { OutputQueue } from "./output_queue.ts";
import { UpstreamUnavailableError, type YankUpstream } from "./upstream.ts";

/** A yank the proxy forwarded for a client, and how it ended. */
export interface ProxyYank {
  /** The proxy's number for the client's connection (1 for the first since it started). */
  client: number;
  /** The `instances` argument as the client sent it (not validated: QEMU judges it). */
  instances: unknown;
  /** `{ok: true}`, or the error QEMU or the upstream answered. */
  result: { ok: true } | { ok: false; class: string; desc: string };
}

/** What a client session needs from the proxy that serves it. */
export interface ClientContext {
  /** The proxy's number for this client, for log lines. */
  id: number;
  upstream: YankUpstream;
  /** The proxy socket's path as clients see it, for query-chardev. */
  path: string;
  limits: ProxyLimits;
  /** The greeting to send first. */
  greeting: Record<string, unknown>;
  /** Receives one line per client the proxy hangs up on for breaking a bound. */
  log: (message: string) => void;
  /** Called after each forwarded yank. */
  onYank: ((yank: ProxyYank) => void) | undefined;
  /** Words the actions of remedies in the error replies (see lib/errors.ts). */
  wording: RemedyWording | undefined;
  /** Called once the client has negotiated (from then on it may keep its slot while active). */
  onNegotiated?: (() => void) | undefined;
}

const encoder = new TextEncoder();
const READ_BYTES = 16 * 1024;
/** How long a last message (why the proxy hangs up) may take to go out. */
const GOODBYE_MS = 1000;

/** Serves one client until it leaves or is hung up on; never throws. */
export async function serveClient(conn: Deno.Conn, context: ClientContext): Promise<void> {
  await new ClientSession(conn, context).run();
}

class ClientSession {
  #conn: Deno.Conn;
  #context: ClientContext;
  #session: ProxySession = { negotiated: false, oob: false };
  #parser: JsonStreamParser;
  #output: OutputQueue;
  #inFlight = new Set<Promise<void>>();
  #timer: ReturnType<typeof setTimeout> | undefined;
  /** Set once the session stops answering: hung up on, or saying goodbye. */
  #ending = false;
  /** Set once the connection is closed: nothing more is sent. */
  #closed = false;
  #negotiationDeadline: number | undefined;

  constructor(conn: Deno.Conn, context: ClientContext) {
    this.#conn = conn;
    this.#context = context;
    this.#parser = new JsonStreamParser({
      maxMessageBytes: context.limits.maxRequestBytes,
      maxDepth: 32,
    });
    this.#output = new OutputQueue(conn);
  }

  async run(): Promise<void> {
    this.#send(this.#context.greeting);
    this.#armTimer();
    const buffer = new Uint8Array(READ_BYTES);
    try {
      while (!this.#ending) {
        const count = await this.#conn.read(buffer);
        if (count === null || this.#ending) return;
        let messages: unknown[];
        try {
          messages = this.#parser.push(buffer.subarray(0, count));
        } catch (error) {
          if (!(error instanceof JsonStreamError)) throw error;
          await this.#endOnParseError(error);
          return;
        }
        for (const message of messages) {
          if (this.#ending) return;
          this.#answer(message);
        }
        // Only whole requests count as activity: a byte now and then keeps no slot.
        if (messages.length > 0) this.#armTimer();
      }
    } catch {
      // Hung up on (the read fails on a closed connection) or reset by the client.
    } finally {
      this.#ending = true;
      clearTimeout(this.#timer);
      this.#close();
    }
  }

  /**
   * The requests completed before the bad bytes are intact: answer them as usual. Framing is
   * lost: say why (without an id, as QEMU does), let the forwarded commands reply (each is
   * bounded by the upstream's timeout), and hang up.
   */
  async #endOnParseError(error: JsonStreamError): Promise<void> {
    for (const message of error.values) {
      if (this.#ending) return;
      this.#answer(message);
    }
    this.#send({ error: { class: "GenericError", desc: `JSON parse error, ${error.message}` } });
    clearTimeout(this.#timer);
    await Promise.all(this.#inFlight);
    await this.#drainBriefly();
  }

  #answer(message: unknown): void {
    const decision = decideRequest(this.#session, message, {
      ownChardev: this.#context.upstream.ownChardev,
      spare: this.#context.upstream.spareChardevs,
      path: this.#context.path,
    });
    switch (decision.kind) {
      case "reply":
        this.#send(withId(decision.reply, message));
        break;
      case "negotiate":
        this.#session.negotiated = true;
        this.#session.oob = decision.oob;
        this.#send(withId({ return: {} }, message));
        this.#context.onNegotiated?.();
        break;
      case "forward": {
        const { maxInFlight } = this.#context.limits;
        if (this.#inFlight.size >= maxInFlight) {
          this.#send(withId({
            error: {
              class: "GenericError",
              desc: `Too many commands in flight (at most ${maxInFlight}); wait for their replies`,
            },
          }, message));
          break;
        }
        const { command, args } = decision;
        const forwarded = this.#context.upstream.execOob(command, args).then(
          (value) => {
            if (command === "yank") this.#reportYank(args, { ok: true });
            this.#send(withId({ return: value }, message));
          },
          (error) => {
            const body = errorBody(error, this.#context.wording);
            if (command === "yank") this.#reportYank(args, { ok: false, ...body });
            this.#send(withId({ error: body }, message));
          },
        ).finally(() => {
          this.#inFlight.delete(forwarded);
          this.#armTimer();
        });
        this.#inFlight.add(forwarded);
        break;
      }
    }
  }

  #reportYank(args: Record<string, unknown> | undefined, result: ProxyYank["result"]): void {
    try {
      this.#context.onYank?.({ client: this.#context.id, instances: args?.instances, result });
    } catch {
      // A failing observer must not cost the client its reply.
    }
  }

  /** Queues a message; a client that leaves too much unread is cut off. */
  #send(message: Record<string, unknown>): void {
    if (this.#closed) return;
    this.#output.push(encoder.encode(`${JSON.stringify(message)}\r\n`));
    const unread = this.#output.unreadBytes;
    if (unread > this.#context.limits.maxUnreadBytes && !this.#ending) {
      this.#hangUp(
        `cut off: it left more than ${unread} bytes of replies unread (at most ${this.#context.limits.maxUnreadBytes}; a client must read what it asks for)`,
      );
    }
  }

  /**
   * (Re)starts the one timer: the negotiation deadline until qmp_capabilities succeeds, then
   * the idle limit whenever nothing is in flight.
   */
  #armTimer(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#ending) return;
    const { negotiationMs, idleMs } = this.#context.limits;
    if (!this.#session.negotiated) {
      if (this.#negotiationDeadline === undefined) {
        this.#negotiationDeadline = performance.now() + negotiationMs;
      }
      this.#timer = setTimeout(
        () => this.#sayGoodbye(`no qmp_capabilities within ${seconds(negotiationMs)}`),
        Math.max(0, this.#negotiationDeadline - performance.now()),
      );
    } else if (this.#inFlight.size === 0) {
      this.#timer = setTimeout(
        () => this.#sayGoodbye(`idle for ${seconds(idleMs)}`),
        idleMs,
      );
    }
  }

  /** Tells the client why it is closed (if it reads), logs it, and hangs up. */
  async #sayGoodbye(reason: string): Promise<void> {
    if (this.#ending) return;
    this.#ending = true;
    this.#context.log(`closed proxy client #${this.#context.id}: ${reason}`);
    this.#send({
      error: {
        class: "GenericError",
        desc: `This yank proxy closes connections with ${reason}; connect again when needed`,
      },
    });
    await this.#drainBriefly();
    this.#close();
  }

  /** Waits for the output to go out, at most GOODBYE_MS. */
  async #drainBriefly(): Promise<void> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      this.#output.drained(),
      new Promise((resolve) => timer = setTimeout(resolve, GOODBYE_MS)),
    ]);
    clearTimeout(timer);
  }

  #hangUp(reason: string): void {
    if (this.#ending) return;
    this.#ending = true;
    this.#context.log(`proxy client #${this.#context.id} ${reason}`);
    this.#close();
  }

  #close(): void {
    this.#closed = true;
    try {
      this.#conn.close();
    } catch {
      // Already closed.
    }
  }
}

/** The error reply for a failed forwarded command. */
function errorBody(
  error: unknown,
  wording: RemedyWording | undefined,
): { class: string; desc: string } {
  if (error instanceof QmpCommandError) return { class: error.errorClass, desc: error.desc };
  const desc = describeFailure(error, wording);
  if (error instanceof UpstreamUnavailableError || error instanceof QmpDisconnectedError) {
    return { class: PROXY_UNAVAILABLE_CLASS, desc };
  }
  return { class: "GenericError", desc };
}

function seconds(ms: number): string {
  return `${ms / 1000} s`;
}
