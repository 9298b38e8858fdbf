/**
 * What one message from a QMP server is: an event, the greeting, a reply (its id and its return
 * value or error), a refusal before any greeting, or something to drop. Pure: the client waits,
 * traces and matches ids; this only reads.
 */

import {
  PROXY_UNAVAILABLE_CLASS,
  QmpCommandError,
  type QmpError,
  QmpProtocolError,
  QmpProxyUnavailableError,
  QmpTurnedAwayError,
} from "./errors.ts";
import { isJsonObject } from "./json_object.ts";

/** An asynchronous event (`{"event", "data", "timestamp"}`). */
export interface QmpEvent {
  event: string;
  data?: unknown;
  timestamp?: { seconds: number; microseconds: number };
}

/** A received message, read. */
export type Incoming =
  | { kind: "event"; event: QmpEvent }
  /** The greeting's `QMP` member, not yet checked (`parseGreeting` does). */
  | { kind: "greeting"; qmp: unknown }
  /** An error in place of the greeting: the server turns clients away. */
  | { kind: "turned-away"; error: QmpTurnedAwayError }
  | { kind: "return"; id: unknown; value: unknown }
  | { kind: "error"; id: unknown; error: unknown }
  /** Neither a reply nor an event: dropped. */
  | { kind: "other" };

/**
 * Reads one message, before the greeting (`greeted` false) or after it. Throws a
 * QmpProtocolError for a value that is not an object, or for anything but a greeting, an event
 * or a refusal before the greeting.
 */
export function readIncoming(socket: string, message: unknown, greeted: boolean): Incoming {
  if (!isJsonObject(message)) {
    throw new QmpProtocolError(socket, "received a JSON value that is not an object");
  }
  if (typeof message.event === "string") {
    return { kind: "event", event: message as unknown as QmpEvent };
  }
  if (!greeted) {
    if ("QMP" in message) return { kind: "greeting", qmp: message.QMP };
    const error = message.error;
    if (isJsonObject(error) && typeof error.class === "string" && !("id" in message)) {
      const desc = typeof error.desc === "string" ? error.desc : "(no description)";
      return { kind: "turned-away", error: new QmpTurnedAwayError(socket, error.class, desc) };
    }
    const kind = "return" in message || "error" in message ? "a reply" : "a message";
    // A reply to a previous client can precede nothing but our greeting; anything else
    // before the greeting means this is not a QMP server.
    throw new QmpProtocolError(socket, `expected a greeting, got ${kind}`);
  }
  if ("error" in message) return { kind: "error", id: message.id, error: message.error };
  if ("return" in message) return { kind: "return", id: message.id, value: message.return };
  return { kind: "other" };
}

/** The failure an error reply to `command` stands for; `viaProxy` when yank's proxy greeted. */
export function replyError(
  socket: string,
  command: string,
  error: unknown,
  viaProxy: boolean,
): QmpError {
  if (!isJsonObject(error) || typeof error.class !== "string") {
    return new QmpProtocolError(socket, `the error reply to ${command} has no class`);
  }
  const desc = typeof error.desc === "string" ? error.desc : "(no description)";
  return viaProxy && error.class === PROXY_UNAVAILABLE_CLASS
    ? new QmpProxyUnavailableError(socket, command, desc)
    : new QmpCommandError(socket, command, error.class, desc);
}
