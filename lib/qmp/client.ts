/**
 * A QMP client for one monitor socket: greeting, capability negotiation (with out-of-band
 * execution when offered), commands matched to replies by id, events skipped or handed on.
 *
 * Every wait is bounded by `timeoutMs` and, if given, by an absolute `deadline`, so a caller can
 * promise its user that nothing takes longer than `--timeout` in total.
 */

import { DEFAULT_JSON_STREAM_LIMITS, JsonStreamError, JsonStreamParser } from "./json_stream.ts";
import {
  PROXY_UNAVAILABLE_CLASS,
  QmpCommandError,
  QmpDisconnectedError,
  QmpError,
  QmpOobNotNegotiatedError,
  QmpProtocolError,
  QmpProxyUnavailableError,
  QmpTimeoutError,
  QmpTurnedAwayError,
} from "./errors.ts";
import { deadline, remaining } from "./deadline.ts";
import { connectUnix } from "./connect.ts";
import { parseGreeting, type QmpGreeting } from "./greeting.ts";
import { isJsonObject } from "./json_object.ts";

/** An asynchronous event (`{"event", "data", "timestamp"}`). */
export interface QmpEvent {
  event: string;
  data?: unknown;
  timestamp?: { seconds: number; microseconds: number };
}

/** Direction of a traced message: sent, received, or received and dropped. */
export type QmpTraceDirection = "send" | "recv" | "drop";

/** Options of `QmpClient.connect`. */
export interface QmpClientOptions {
  /** Bounds each wait (connect, greeting, negotiation, each command), in milliseconds. */
  timeoutMs: number;
  /** Absolute time (as `now()` counts) after which nothing waits any more. */
  deadline?: number;
  /** Ask for out-of-band execution when offered. Defaults to true. */
  oob?: boolean;
  /** Largest accepted message in bytes. */
  maxMessageBytes?: number;
  /** Called with every raw message sent or received. */
  trace?: (direction: QmpTraceDirection, text: string) => void;
  /** Called with every event; events are dropped otherwise. */
  onEvent?: (event: QmpEvent) => void;
  /** Clock in milliseconds; tests may replace it. */
  now?: () => number;
}

/** Per-call options of `execute`. */
export interface ExecuteOptions {
  /** Send with `exec-oob` so that it overtakes a busy main loop. Needs `client.oob`. */
  oob?: boolean;
  /** Overrides the client's timeout for this command. */
  timeoutMs?: number;
}

/** A reply (or the greeting) being waited for. */
interface PendingReply extends PromiseWithResolvers<unknown> {
  command: string;
}

/** A waiter for `command`'s reply; an early failure is observed later, never unhandled. */
function pendingReply(command: string): PendingReply {
  const pending = { command, ...Promise.withResolvers<unknown>() };
  pending.promise.catch(() => {});
  return pending;
}

/**
 * Ids carry a random nonce per connection: a reply left over from a client that disconnected
 * mid-command is delivered to the next client (another process, or our own reconnection), and
 * must never match one of our commands.
 */
function makeIdPrefix(): string {
  const nonce = crypto.getRandomValues(new Uint8Array(6));
  return `yank-${Array.from(nonce, (b) => b.toString(16).padStart(2, "0")).join("")}`;
}

const READ_CHUNK_BYTES = 64 * 1024;
const encoder = new TextEncoder();

/** A negotiated QMP connection. Create with `QmpClient.connect`; always `close()` it. */
export class QmpClient {
  /** The socket path, for messages. */
  readonly socket: string;
  #conn: Deno.UnixConn;
  /** The last write queued: each starts after it, so two commands' bytes never interleave. */
  #lastWrite: Promise<void> = Promise.resolve();
  #options: QmpClientOptions;
  #now: () => number;
  #parser: JsonStreamParser;
  #pending = new Map<string, PendingReply>();
  #idPrefix = makeIdPrefix();
  #idCounter = 0;
  #greeting: QmpGreeting | undefined;
  #greetingWaiter: PendingReply | undefined;
  #oob = false;
  /** Set once the connection is finished; every later call fails with it. */
  #failure: Error | undefined;
  #closedByUs = false;
  #closed: Promise<void>;

  private constructor(socket: string, conn: Deno.UnixConn, options: QmpClientOptions) {
    this.socket = socket;
    this.#conn = conn;
    this.#options = options;
    this.#now = options.now ?? Date.now;
    this.#parser = new JsonStreamParser({
      maxMessageBytes: options.maxMessageBytes ?? DEFAULT_JSON_STREAM_LIMITS.maxMessageBytes,
    });
    this.#closed = this.#readLoop();
  }

  /** Connects, reads the greeting and negotiates capabilities (OOB when offered). */
  static async connect(socket: string, options: QmpClientOptions): Promise<QmpClient> {
    const now = options.now ?? Date.now;
    const conn = await connectUnix(socket, options, now);
    const client = new QmpClient(socket, conn, options);
    try {
      await client.#negotiate();
    } catch (error) {
      client.close();
      throw error;
    }
    return client;
  }

  /** The server's greeting. */
  get greeting(): QmpGreeting {
    return this.#greeting!;
  }

  /** Whether out-of-band execution was negotiated. */
  get oob(): boolean {
    return this.#oob;
  }

  /** Resolves when the connection has ended, for whatever reason. */
  get closed(): Promise<void> {
    return this.#closed;
  }

  /** Whether the connection has ended. */
  get isClosed(): boolean {
    return this.#failure !== undefined;
  }

  /** Runs a command and resolves with its `return` value; rejects with a QmpError. */
  async execute(
    command: string,
    args?: Record<string, unknown>,
    options: ExecuteOptions = {},
  ): Promise<unknown> {
    const oob = options.oob ?? false;
    if (oob && !this.#oob) {
      throw new QmpOobNotNegotiatedError(this.socket);
    }
    const id = `${this.#idPrefix}-${++this.#idCounter}`;
    const message: Record<string, unknown> = { [oob ? "exec-oob" : "execute"]: command };
    if (args !== undefined) message.arguments = args;
    message.id = id;
    const reply = pendingReply(command);
    this.#pending.set(id, reply);
    try {
      await this.#send(message, command);
      return await this.#within(
        reply.promise,
        options.timeoutMs ?? this.#options.timeoutMs,
        (ms) => new QmpTimeoutError(this.socket, "command", ms, command, oob),
      );
    } finally {
      this.#pending.delete(id);
    }
  }

  /** Closes the connection; pending commands fail. Safe to call more than once. */
  close(): void {
    if (this.#closedByUs) return;
    this.#closedByUs = true;
    this.#fail(new QmpDisconnectedError(this.socket, "a reply (the client closed)"));
    try {
      this.#conn.close();
    } catch {
      // Already closed by the peer.
    }
  }

  async #negotiate(): Promise<void> {
    this.#greetingWaiter = pendingReply("the greeting");
    await this.#within(
      this.#greetingWaiter.promise,
      this.#options.timeoutMs,
      (ms) => new QmpTimeoutError(this.socket, "greeting", ms),
    );
    const wantOob = (this.#options.oob ?? true) && this.greeting.capabilities.includes("oob");
    const args = wantOob ? { enable: ["oob"] } : undefined;
    try {
      await this.execute("qmp_capabilities", args);
    } catch (error) {
      if (error instanceof QmpTimeoutError) {
        throw new QmpTimeoutError(this.socket, "negotiation", error.timeoutMs);
      }
      throw error;
    }
    this.#oob = wantOob;
  }

  /** Waits for `promise`, at most `timeoutMs` and never past the deadline. */
  #within<T>(
    promise: Promise<T>,
    timeoutMs: number,
    onTimeout: (timeoutMs: number) => QmpError,
  ): Promise<T> {
    const wait = remaining(timeoutMs, this.#options.deadline, this.#now);
    return deadline(promise, wait, () => onTimeout(timeoutMs));
  }

  async #send(message: Record<string, unknown>, command: string): Promise<void> {
    if (this.#failure) throw this.#failure;
    const text = JSON.stringify(message);
    this.#options.trace?.("send", text);
    try {
      await this.#within(
        this.#write(encoder.encode(`${text}\r\n`)),
        this.#options.timeoutMs,
        (ms) => new QmpTimeoutError(this.socket, "command", ms, command),
      );
    } catch (error) {
      if (error instanceof QmpError) throw error;
      throw this.#failure ??
        new QmpDisconnectedError(this.socket, `${command} to be sent`, this.#viaProxy);
    }
  }

  /**
   * Writes all of `bytes` once every earlier write is done. What `conn.writable.getWriter()`
   * would do, but the first use of a web stream loads Deno's streams implementation, about 7 ms
   * of a one-shot command's start-up (Deno 2.9).
   */
  #write(bytes: Uint8Array): Promise<void> {
    const written = this.#lastWrite.then(async () => {
      for (let offset = 0; offset < bytes.length;) {
        offset += await this.#conn.write(bytes.subarray(offset));
      }
    });
    this.#lastWrite = written.catch(() => {});
    return written;
  }

  async #readLoop(): Promise<void> {
    const buffer = new Uint8Array(READ_CHUNK_BYTES);
    try {
      while (!this.#failure) {
        const count = await this.#conn.read(buffer);
        if (count === null) {
          this.#fail(new QmpDisconnectedError(this.socket, this.#waitingFor(), this.#viaProxy));
          break;
        }
        for (const message of this.#parser.push(buffer.subarray(0, count))) {
          this.#dispatch(message);
          if (this.#failure) break;
        }
      }
    } catch (error) {
      if (error instanceof JsonStreamError) {
        // Replies that arrived intact before the bad bytes still count.
        for (const message of error.values) {
          if (this.#failure) break;
          try {
            this.#dispatch(message);
          } catch (dispatchError) {
            if (dispatchError instanceof QmpError) this.#fail(dispatchError);
          }
        }
        this.#fail(new QmpProtocolError(this.socket, error.message));
      } else if (error instanceof QmpError) {
        this.#fail(error);
      } else {
        this.#fail(new QmpDisconnectedError(this.socket, this.#waitingFor(), this.#viaProxy));
      }
    } finally {
      try {
        this.#conn.close();
      } catch {
        // Already closed.
      }
    }
  }

  #dispatch(message: unknown): void {
    const trace = this.#options.trace;
    if (!isJsonObject(message)) {
      throw new QmpProtocolError(this.socket, "received a JSON value that is not an object");
    }
    if (typeof message.event === "string") {
      trace?.("recv", JSON.stringify(message));
      this.#options.onEvent?.(message as unknown as QmpEvent);
      return;
    }
    if (this.#greeting === undefined) {
      if (!("QMP" in message)) {
        const error = message.error;
        if (isJsonObject(error) && typeof error.class === "string" && !("id" in message)) {
          trace?.("recv", JSON.stringify(message));
          const desc = typeof error.desc === "string" ? error.desc : "(no description)";
          throw new QmpTurnedAwayError(this.socket, error.class, desc);
        }
        const kind = "return" in message || "error" in message ? "a reply" : "a message";
        // A reply to a previous client can precede nothing but our greeting; anything else
        // before the greeting means this is not a QMP server.
        throw new QmpProtocolError(this.socket, `expected a greeting, got ${kind}`);
      }
      trace?.("recv", JSON.stringify(message));
      this.#greeting = parseGreeting(this.socket, message.QMP);
      this.#greetingWaiter?.resolve(this.#greeting);
      return;
    }
    if (!("return" in message) && !("error" in message)) {
      trace?.("drop", JSON.stringify(message));
      return;
    }
    const id = message.id;
    const pending = typeof id === "string" ? this.#pending.get(id) : undefined;
    if (pending === undefined) {
      // Stale (a previous client's command), id-less (a parse error), or not ours.
      trace?.("drop", JSON.stringify(message));
      return;
    }
    trace?.("recv", JSON.stringify(message));
    this.#pending.delete(id as string);
    if ("error" in message) {
      const error = message.error;
      if (!isJsonObject(error) || typeof error.class !== "string") {
        pending.reject(
          new QmpProtocolError(this.socket, `the error reply to ${pending.command} has no class`),
        );
        return;
      }
      const desc = typeof error.desc === "string" ? error.desc : "(no description)";
      pending.reject(
        this.#greeting.proxy && error.class === PROXY_UNAVAILABLE_CLASS
          ? new QmpProxyUnavailableError(this.socket, pending.command, desc)
          : new QmpCommandError(this.socket, pending.command, error.class, desc),
      );
    } else {
      pending.resolve(message.return);
    }
  }

  /** Whether the server greeted as yank's proxy. */
  get #viaProxy(): boolean {
    return this.#greeting?.proxy ?? false;
  }

  #waitingFor(): string {
    if (this.#greeting === undefined) return "the greeting";
    const first = this.#pending.values().next();
    return first.done ? "the next message" : `the reply to ${first.value.command}`;
  }

  #fail(error: Error): void {
    if (this.#failure) return;
    this.#failure = error;
    const waiter = this.#greetingWaiter;
    if (waiter && this.#greeting === undefined) {
      waiter.reject(
        error instanceof QmpDisconnectedError
          ? new QmpDisconnectedError(this.socket, "the greeting")
          : error,
      );
    }
    for (const pending of this.#pending.values()) {
      pending.reject(
        error instanceof QmpDisconnectedError
          ? new QmpDisconnectedError(this.socket, `the reply to ${pending.command}`, this.#viaProxy)
          : error,
      );
    }
    this.#pending.clear();
  }
}
