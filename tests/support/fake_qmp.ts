/**
 * A scriptable fake QMP server on a temporary unix socket, for what real QEMU cannot be made to
 * do on demand: garbage, stale replies, slow drips, hostile names, closing at a chosen step.
 *
 * By default it behaves like a healthy QEMU 7.2 monitor: it greets, negotiates, and answers
 * `query-yank`, `query-chardev` and `yank` from `instances`. A test changes one step by passing a
 * `reply` function, or takes over the whole exchange with `script`. Every command the client
 * sent is recorded, parsed, in `commands`.
 *
 * This is the one fixture for tests that need a fake QMP server: `await using server = await
 * startFakeQmp(options)`, then `server.path` for the CLI, or `await server.connect()` for a
 * QmpClient that the server closes when it closes.
 */

import { QmpClient, type QmpClientOptions } from "../../lib/qmp/client.ts";

/** A command as the client sent it. */
export interface ReceivedCommand {
  /** The command name, from `execute` or `exec-oob`. */
  name: string;
  /** Whether it was sent with `exec-oob`. */
  oob: boolean;
  /** `arguments`, or undefined when the client sent none. */
  args: Record<string, unknown> | undefined;
  /** `id`, or undefined when the client sent none. */
  id: unknown;
  /** The whole message as parsed. */
  message: Record<string, unknown>;
}

/**
 * What the server does about one command: reply with a value or an error, write raw bytes
 * instead, close the connection, or stay silent (`{ silent: true }`, or `undefined` to fall
 * back to the default behaviour).
 */
export type FakeReply =
  | { return: unknown }
  | { error: { class: string; desc: string } }
  | { raw: string | Uint8Array }
  | { close: true }
  | { silent: true };

/** Decides the reply to one command; `undefined` means "do what QEMU would". */
export type FakeReplier = (
  command: ReceivedCommand,
  connection: FakeQmpConnection,
) => FakeReply | undefined | Promise<FakeReply | undefined>;

/** Options of `startFakeQmp`. */
export interface FakeQmpOptions {
  /** Greeting capabilities; `["oob"]` by default, like a QEMU 7.2 socket monitor. */
  capabilities?: string[];
  /** QEMU version in the greeting; 7.2.22 by default. */
  version?: { major: number; minor: number; micro: number; package?: string };
  /** The greeting: the object to send, raw bytes, or `null` to never greet (a busy monitor). */
  greeting?: Record<string, unknown> | string | Uint8Array | null;
  /** Raw bytes written right after accepting, before the greeting (events, garbage). */
  beforeGreeting?: string | Uint8Array;
  /** Instances for the default `query-yank` (and the default `yank`'s existence check). */
  instances?: Record<string, unknown>[];
  /** `query-chardev` return for the default handler; `[]` by default. */
  chardevs?: Record<string, unknown>[];
  /** Per-command override; return `undefined` for the default behaviour. */
  reply?: FakeReplier;
  /** Replaces the whole exchange for each connection (greeting included). */
  script?: (connection: FakeQmpConnection) => Promise<void>;
  /** Write each reply this many bytes at a time with `dripDelayMs` between writes. */
  dripBytes?: number;
  /** Delay between dripped writes, in milliseconds. */
  dripDelayMs?: number;
}

/** The greeting a QEMU 7.2 monitor sends (key order as QEMU prints it). */
export function qemuGreeting(
  capabilities: string[] = ["oob"],
  version = { major: 7, minor: 2, micro: 22, package: "Debian 1:7.2+dfsg-7+deb12u18+b3" },
): Record<string, unknown> {
  const { major, minor, micro, package: pkg = "" } = version;
  return { QMP: { version: { qemu: { micro, minor, major }, package: pkg }, capabilities } };
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

function toBytes(data: string | Uint8Array): Uint8Array {
  return typeof data === "string" ? encoder.encode(data) : data;
}

/** QMP's framing: one JSON object and CRLF. */
export function qmpLine(message: unknown): string {
  return `${JSON.stringify(message)}\r\n`;
}

/** Errors that only mean the client went away; a fake server ignores them. */
function isDisconnect(error: unknown): boolean {
  return error instanceof Deno.errors.BrokenPipe ||
    error instanceof Deno.errors.ConnectionReset ||
    error instanceof Deno.errors.BadResource ||
    error instanceof Deno.errors.Interrupted ||
    error instanceof Deno.errors.NotConnected;
}

/** One accepted client, seen from the server side. */
export class FakeQmpConnection {
  readonly #conn: Deno.UnixConn;
  readonly #server: FakeQmpServer;
  #buffer = "";
  #closed = false;
  /** Whether `close()` ran: the socket is released even when the client hung up first. */
  #released = false;
  /** Bytes written so far (to check that a client stopped a flood early). */
  bytesWritten = 0;

  constructor(conn: Deno.UnixConn, server: FakeQmpServer) {
    this.#conn = conn;
    this.#server = server;
  }

  /** The server this connection belongs to. */
  get server(): FakeQmpServer {
    return this.#server;
  }

  /** Whether this side closed, or noticed that the client did. */
  get closed(): boolean {
    return this.#closed;
  }

  /** Writes raw bytes; false when the client has gone. */
  async write(data: string | Uint8Array): Promise<boolean> {
    const bytes = toBytes(data);
    try {
      for (let offset = 0; offset < bytes.length;) {
        if (this.#closed) return false;
        const count = await this.#conn.write(bytes.subarray(offset));
        offset += count;
        this.bytesWritten += count;
      }
      return true;
    } catch (error) {
      if (!isDisconnect(error)) throw error;
      this.#closed = true;
      return false;
    }
  }

  /** Writes `data` `chunkBytes` at a time, pausing `delayMs` between writes. */
  async drip(data: string | Uint8Array, chunkBytes = 1, delayMs = 10): Promise<boolean> {
    const bytes = toBytes(data);
    for (let offset = 0; offset < bytes.length; offset += chunkBytes) {
      if (offset > 0) await delay(delayMs);
      if (!await this.write(bytes.subarray(offset, offset + chunkBytes))) return false;
    }
    return true;
  }

  /** Sends one message in QMP framing. */
  send(message: unknown): Promise<boolean> {
    return this.write(qmpLine(message));
  }

  /**
   * Waits for the client's next command (one JSON object per line, as clients send them) and
   * records it; null when the client closed the connection.
   */
  async nextCommand(): Promise<ReceivedCommand | null> {
    const chunk = new Uint8Array(4096);
    while (true) {
      const newline = this.#buffer.indexOf("\n");
      if (newline >= 0) {
        const line = this.#buffer.slice(0, newline).trim();
        this.#buffer = this.#buffer.slice(newline + 1);
        if (line === "") continue;
        const command = parseCommand(line);
        this.#server.commands.push(command);
        return command;
      }
      let count: number | null;
      try {
        count = await this.#conn.read(chunk);
      } catch (error) {
        if (!isDisconnect(error)) throw error;
        count = null;
      }
      if (count === null) {
        this.#closed = true;
        return null;
      }
      this.#buffer += decoder.decode(chunk.subarray(0, count), { stream: true });
    }
  }

  /** Reads and discards whatever the client sends until it closes. */
  async drain(): Promise<void> {
    while (await this.nextCommand() !== null) {
      // Recorded by nextCommand.
    }
  }

  /** Carries out a FakeReply for `command`, honouring the server's drip settings. */
  async answer(command: ReceivedCommand, reply: FakeReply): Promise<boolean> {
    if ("close" in reply) {
      this.close();
      return false;
    }
    if ("silent" in reply) return true;
    let bytes: string | Uint8Array;
    if ("raw" in reply) {
      bytes = reply.raw;
    } else {
      const message: Record<string, unknown> = { ...reply };
      if (command.id !== undefined) message.id = command.id;
      bytes = qmpLine(message);
    }
    const { dripBytes, dripDelayMs } = this.#server.options;
    return dripBytes === undefined
      ? await this.write(bytes)
      : await this.drip(bytes, dripBytes, dripDelayMs ?? 10);
  }

  /** Closes the connection (the client sees EOF). Safe to call twice. */
  close(): void {
    this.#closed = true;
    if (this.#released) return;
    this.#released = true;
    try {
      this.#conn.close();
    } catch {
      // Already closed.
    }
  }
}

function parseCommand(line: string): ReceivedCommand {
  const message = JSON.parse(line) as Record<string, unknown>;
  const oob = "exec-oob" in message;
  const name = String(oob ? message["exec-oob"] : message.execute);
  const args = message.arguments as Record<string, unknown> | undefined;
  return { name, oob, args, id: message.id, message };
}

/** Resolves after `ms` milliseconds. */
export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** A running fake QMP server. Dispose it (`await using`) to stop it and remove its socket. */
export class FakeQmpServer implements AsyncDisposable {
  /** The socket path to give the client. */
  readonly path: string;
  readonly options: FakeQmpOptions;
  /** Every command received, on every connection, in order. */
  readonly commands: ReceivedCommand[] = [];
  /** Connections accepted so far. */
  readonly connections: FakeQmpConnection[] = [];
  /** Instances the default handlers answer with; tests may change them between commands. */
  instances: Record<string, unknown>[] = [];
  readonly #dir: string;
  readonly #listener: Deno.UnixListener;
  readonly #sessions: Promise<void>[] = [];
  readonly #accepting: Promise<void>;
  #scriptErrors: unknown[] = [];
  readonly #clients: QmpClient[] = [];

  constructor(dir: string, listener: Deno.UnixListener, options: FakeQmpOptions) {
    this.#dir = dir;
    this.#listener = listener;
    this.path = (listener.addr as Deno.UnixAddr).path;
    this.options = options;
    this.#accepting = this.#accept();
  }

  async #accept(): Promise<void> {
    try {
      for await (const conn of this.#listener) {
        const connection = new FakeQmpConnection(conn, this);
        this.connections.push(connection);
        this.#sessions.push(
          this.#session(connection).catch((error) => {
            if (!isDisconnect(error)) this.#scriptErrors.push(error);
          }).finally(() => connection.close()),
        );
      }
    } catch (error) {
      if (!isDisconnect(error)) throw error;
    }
  }

  async #session(connection: FakeQmpConnection): Promise<void> {
    const options = this.options;
    if (options.script) return await options.script(connection);
    if (options.beforeGreeting !== undefined) await connection.write(options.beforeGreeting);
    const greeting = options.greeting === undefined
      ? qemuGreeting(options.capabilities, defaultVersion(options.version))
      : options.greeting;
    if (greeting === null) return await connection.drain();
    const greetingBytes = typeof greeting === "string" || greeting instanceof Uint8Array
      ? greeting
      : qmpLine(greeting);
    if (!await connection.write(greetingBytes)) return;
    await this.serve(connection);
  }

  /** Answers commands on `connection` until either side closes: `reply`, then the defaults. */
  async serve(connection: FakeQmpConnection): Promise<void> {
    while (true) {
      const command = await connection.nextCommand();
      if (command === null) return;
      const reply = await this.options.reply?.(command, connection) ?? this.defaultReply(command);
      if (!await connection.answer(command, reply)) return;
    }
  }

  /** What a healthy QEMU 7.2 would answer (for the commands yank sends). */
  defaultReply(command: ReceivedCommand): FakeReply {
    switch (command.name) {
      case "qmp_capabilities":
        return { return: {} };
      case "query-yank":
        return { return: this.instances };
      case "query-chardev":
        return { return: this.options.chardevs ?? [] };
      case "query-status":
        return { return: { status: "running", singlestep: false, running: true } };
      case "query-named-block-nodes":
      case "query-block":
        return { return: [] };
      case "query-migrate":
        return { return: {} };
      case "yank": {
        const wanted = (command.args?.instances ?? []) as Record<string, unknown>[];
        const known = (i: Record<string, unknown>) =>
          this.instances.some((k) =>
            k.type === i.type && k.id === i.id && k["node-name"] === i["node-name"]
          );
        return wanted.every(known)
          ? { return: {} }
          : { error: { class: "DeviceNotFound", desc: "Instance not found" } };
      }
      default:
        return {
          error: {
            class: "CommandNotFound",
            desc: `The command ${command.name} has not been found`,
          },
        };
    }
  }

  /**
   * Connects a QmpClient to this server (2 s timeout unless given). The server closes it when
   * it closes; close it earlier to test a later connection on its own.
   */
  async connect(options: Partial<QmpClientOptions> = {}): Promise<QmpClient> {
    const client = await QmpClient.connect(this.path, { timeoutMs: 2000, ...options });
    this.#clients.push(client);
    return client;
  }

  /** The commands received, as names with "oob:" for exec-oob, to assert sequences. */
  get commandNames(): string[] {
    return this.commands.map((c) => c.oob ? `oob:${c.name}` : c.name);
  }

  /**
   * Closes the clients from `connect`, stops listening, closes every connection, waits for the
   * scripts, removes the socket.
   */
  async close(): Promise<void> {
    for (const client of this.#clients) client.close();
    try {
      this.#listener.close();
    } catch {
      // Already closed.
    }
    await this.#accepting;
    for (const connection of this.connections) connection.close();
    await Promise.all(this.#sessions);
    await Deno.remove(this.#dir, { recursive: true }).catch(() => {});
    if (this.#scriptErrors.length > 0) throw this.#scriptErrors[0];
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

function defaultVersion(version: FakeQmpOptions["version"]) {
  return {
    major: version?.major ?? 7,
    minor: version?.minor ?? 2,
    micro: version?.micro ?? 22,
    package: version?.package ?? "",
  };
}

/** Starts a fake QMP server on a fresh temporary unix socket. */
export async function startFakeQmp(options: FakeQmpOptions = {}): Promise<FakeQmpServer> {
  const dir = await Deno.makeTempDir({ prefix: "yank-fake-qmp-" });
  const listener = Deno.listen({ transport: "unix", path: `${dir}/qmp.sock` });
  const server = new FakeQmpServer(dir, listener, options);
  server.instances = options.instances ?? [
    { type: "chardev", id: "compat_monitor0" },
    { type: "chardev", id: "charnet0" },
    { "node-name": "nbd0", type: "block-node" },
  ];
  return server;
}
