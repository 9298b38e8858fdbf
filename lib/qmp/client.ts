/**
 * A QMP client for one monitor socket: greeting, capability negotiation (with out-of-band
 * execution when offered), commands matched to replies by id, events skipped or handed on.
 *
 * Every wait is bounded by `timeoutMs` and, if given, by an absolute `deadline`, so a caller can
 * promise its user that nothing takes longer than `--timeout` in total.
 */

import { DEFAULT_JSON_STREAM_LIMITS, JsonStreamError, JsonStreamParser } from "./json_stream.ts";
import {
  QmpDisconnectedError,
  QmpError,
  QmpOobNotNegotiatedError,
  QmpProtocolError,
  QmpTimeoutError,
} from "./errors.ts";
import { deadline, remaining } from "./deadline.ts";
import { connectUnix } from "./connect.ts";
import { parseGreeting, type QmpGreeting } from "./greeting.ts";
import { type QmpEvent, readIncoming, replyError } from "./incoming.ts";
import { LineWriter } from "./line_writer.ts";
import { PendingReplies, type PendingReply, pendingReply } from "./pending.ts";

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

const READ_CHUNK_BYTES = 64 * 1024;

/** A negotiated QMP connection. Create with `QmpClient.connect`; always `close()` it. */
export class QmpClient {
  /** The socket path, for messages. */
  readonly socket: string;
  #conn: Deno.UnixConn;
  #writer: LineWriter;
  #options: QmpClientOptions;
  #now: () => number;
  #parser: JsonStreamParser;
  #pending = new PendingReplies();
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
    this.#writer = new LineWriter(conn);
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
    const { id, reply } = this.#pending.add(command);
    const message: Record<string, unknown> = { [oob ? "exec-oob" : "execute"]: command };
    if (args !== undefined) message.arguments = args;
    message.id = id;
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
        this.#writer.writeLine(text),
        this.#options.timeoutMs,
        (ms) => new QmpTimeoutError(this.socket, "command", ms, command),
      );
    } catch (error) {
      if (error instanceof QmpError) throw error;
      throw this.#failure ??
        new QmpDisconnectedError(this.socket, `${command} to be sent`, this.#viaProxy);
    }
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
    const incoming = readIncoming(this.socket, message, this.#greeting !== undefined);
    const reply = incoming.kind === "return" || incoming.kind === "error" ? incoming : undefined;
    const pending = reply && this.#pending.take(reply.id);
    // Dropped: neither an event nor a reply, or a reply that is stale (a previous client's
    // command), id-less (a parse error) or not ours.
    const dropped = incoming.kind === "other" || (reply !== undefined && pending === undefined);
    this.#options.trace?.(dropped ? "drop" : "recv", JSON.stringify(message));
    if (incoming.kind === "event") {
      this.#options.onEvent?.(incoming.event);
    } else if (incoming.kind === "turned-away") {
      throw incoming.error;
    } else if (incoming.kind === "greeting") {
      this.#greeting = parseGreeting(this.socket, incoming.qmp);
      this.#greetingWaiter?.resolve(this.#greeting);
    } else if (pending && incoming.kind === "error") {
      pending.reject(replyError(this.socket, pending.command, incoming.error, this.#viaProxy));
    } else if (pending && incoming.kind === "return") {
      pending.resolve(incoming.value);
    }
  }

  /** Whether the server greeted as yank's proxy. */
  get #viaProxy(): boolean {
    return this.#greeting?.proxy ?? false;
  }

  #waitingFor(): string {
    if (this.#greeting === undefined) return "the greeting";
    const oldest = this.#pending.oldest;
    return oldest === undefined ? "the next message" : `the reply to ${oldest}`;
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
    this.#pending.rejectAll((command) =>
      error instanceof QmpDisconnectedError
        ? new QmpDisconnectedError(this.socket, `the reply to ${command}`, this.#viaProxy)
        : error
    );
  }
}
