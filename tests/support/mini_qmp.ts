/**
 * A tiny fake QMP monitor for the few states real QEMU 7.2 cannot show: a monitor without OOB,
 * a QEMU without yank, a connection cut mid-conversation. It greets, negotiates like QEMU, and
 * answers each command from `answer`. (A fuller fake, tests/support/fake_qmp.ts, is being
 * written on another branch; these tests keep to this one so that they stand alone.)
 */

import { JsonStreamParser } from "../../lib/qmp/json_stream.ts";

/** What the fake does with one command: reply, cut the connection, or never answer. */
export type MiniAnswer =
  | { return: unknown }
  | { error: { class: string; desc: string } }
  | "close"
  | "silent";

/** Options of `startMiniQmp`. */
export interface MiniQmpOptions {
  /** Greeting capabilities (default `["oob"]`). */
  capabilities?: string[];
  /** Greeting version (default 7.2.0). */
  version?: { major: number; minor: number; micro: number };
  /** Answer to a command after negotiation; undefined falls back to a healthy QEMU 7.2. */
  answer?: (command: string, args: unknown) => MiniAnswer | undefined;
}

/** A running fake; `close()` it. */
export interface MiniQmp {
  path: string;
  /** Commands received, in order, as "execute:NAME" or "exec-oob:NAME". */
  received: string[];
  close(): Promise<void>;
}

const encoder = new TextEncoder();

/** Listens on `path` and serves every client in turn. */
export function startMiniQmp(path: string, options: MiniQmpOptions = {}): MiniQmp {
  const listener = Deno.listen({ transport: "unix", path });
  const received: string[] = [];
  const conns = new Set<Deno.Conn>();
  const serving = (async () => {
    for await (const conn of listener) {
      conns.add(conn);
      serve(conn, options, received).catch(() => {}).finally(() => {
        conns.delete(conn);
        try {
          conn.close();
        } catch {
          // Already closed.
        }
      });
    }
  })().catch(() => {});
  return {
    path,
    received,
    async close() {
      try {
        listener.close();
      } catch {
        // Already closed.
      }
      for (const conn of conns) {
        try {
          conn.close();
        } catch {
          // Already closed.
        }
      }
      await serving;
    },
  };
}

async function serve(conn: Deno.Conn, options: MiniQmpOptions, received: string[]) {
  const send = (message: unknown) => conn.write(encoder.encode(`${JSON.stringify(message)}\r\n`));
  const { major, minor, micro } = options.version ?? { major: 7, minor: 2, micro: 0 };
  const capabilities = options.capabilities ?? ["oob"];
  await send({ QMP: { version: { qemu: { major, minor, micro }, package: "" }, capabilities } });
  const parser = new JsonStreamParser();
  const buffer = new Uint8Array(4096);
  let negotiated = false;
  for (;;) {
    const count = await conn.read(buffer);
    if (count === null) return;
    for (const message of parser.push(buffer.subarray(0, count)) as Record<string, unknown>[]) {
      const oob = "exec-oob" in message;
      const command = String(oob ? message["exec-oob"] : message.execute);
      received.push(`${oob ? "exec-oob" : "execute"}:${command}`);
      const id = "id" in message ? { id: message.id } : {};
      let answer: MiniAnswer | undefined;
      if (!negotiated) {
        answer = command === "qmp_capabilities" && !oob
          ? { return: {} }
          : { error: { class: "CommandNotFound", desc: "Expecting capabilities negotiation" } };
        negotiated = command === "qmp_capabilities";
      } else {
        answer = options.answer?.(command, message.arguments) ?? healthy(command);
      }
      if (answer === "close") return;
      if (answer === "silent") continue;
      await send({ ...answer, ...id });
    }
  }
}

function healthy(command: string): MiniAnswer {
  switch (command) {
    case "query-status":
      return { return: { status: "running", singlestep: false, running: true } };
    case "query-yank":
      return { return: [{ type: "chardev", id: "compat_monitor0" }] };
    case "query-chardev":
      return { return: [] };
    default:
      return {
        error: { class: "CommandNotFound", desc: `The command ${command} has not been found` },
      };
  }
}
