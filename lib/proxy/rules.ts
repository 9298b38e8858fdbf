/**
 * What the yank-only proxy answers to one client message, as a pure function of the session's
 * state. It answers as QEMU 7.2 does (qapi/qmp-dispatch.c, checked against a real 7.2 monitor):
 * before negotiation everything but qmp_capabilities is CommandNotFound "Expecting capabilities
 * negotiation with 'qmp_capabilities'", and exec-oob is GenericError "QMP input member
 * 'exec-oob' is unexpected" until oob is negotiated; a second qmp_capabilities is CommandNotFound;
 * the id is echoed exactly. Only query-yank and yank are ever forwarded; query-chardev is
 * answered here (see `ownChardevList`).
 */

import { isJsonObject } from "../qmp/json_object.ts";
import { isSparedChardev, monitorLikeness } from "../yank/match.ts";

/** A client session's negotiation state. */
export interface ProxySession {
  negotiated: boolean;
  oob: boolean;
}

/** A QMP error reply body. */
export interface QmpErrorBody {
  class: string;
  desc: string;
}

/** What the rules need to know about the proxy and the watchdog behind it. */
export interface ProxyContext {
  /** The chardev carrying the watchdog's own monitor connection, if known. */
  ownChardev: string | undefined;
  /** The proxy's own socket path, as clients connect to it. */
  path: string;
  /** The watchdog's `--spare` globs: chardevs refused like monitors'. */
  spare?: readonly string[] | undefined;
}

/** What to do with one message. */
export type ProxyDecision =
  /** Answer at once with this reply (the id is added by `withId`). */
  | { kind: "reply"; reply: { return: unknown } | { error: QmpErrorBody } }
  /** Negotiation succeeded: mark the session, then reply `{"return": {}}`. */
  | { kind: "negotiate"; oob: boolean }
  /** Forward out-of-band to QEMU. */
  | { kind: "forward"; command: "query-yank" | "yank"; args: Record<string, unknown> | undefined };

/** The commands the proxy forwards. */
export const FORWARDED_COMMANDS: readonly string[] = ["query-yank", "yank"];

function error(errorClass: string, desc: string): ProxyDecision {
  return { kind: "reply", reply: { error: { class: errorClass, desc } } };
}

/**
 * The proxy's answer to `query-chardev`: only the watchdog's own monitor chardev, presented as
 * the chardev of the proxy socket itself. yank's CLI finds "the monitor it talks through" by a
 * chardev whose filename is `unix:<the socket it connected to>,server=on`, so it spares this one
 * from globs and wants --force for its exact name (which `decideRequest` still refuses).
 * Forwarding query-chardev instead would need the main loop, which may be hung.
 */
export function ownChardevList(context: ProxyContext): Record<string, unknown>[] {
  if (context.ownChardev === undefined) return [];
  return [{
    label: context.ownChardev,
    filename: `unix:${context.path},server=on`,
    "frontend-open": true,
  }];
}

/**
 * Decides the answer to one parsed message. A yank naming `context.ownChardev`, the chardev
 * carrying the watchdog's own monitor connection, would cut the connection the proxy lives on.
 */
export function decideRequest(
  session: ProxySession,
  message: unknown,
  context: ProxyContext,
): ProxyDecision {
  const ownChardev = context.ownChardev;
  if (!isJsonObject(message)) return error("GenericError", "QMP input must be a JSON object");
  const hasExecute = "execute" in message;
  const hasOob = "exec-oob" in message;
  if (hasExecute && hasOob) {
    return error("GenericError", "QMP input member 'execute' clashes with 'exec-oob'");
  }
  if (!hasExecute && !hasOob) return error("GenericError", "QMP input lacks member 'execute'");
  const member = hasOob ? "exec-oob" : "execute";
  const command = message[member];
  if (typeof command !== "string") {
    return error("GenericError", `QMP input member '${member}' must be a string`);
  }
  if (hasOob && !session.oob) {
    return error("GenericError", "QMP input member 'exec-oob' is unexpected");
  }
  const args = message.arguments;
  if (args !== undefined && !isJsonObject(args)) {
    return error("GenericError", "QMP input member 'arguments' must be an object");
  }
  if (!session.negotiated) {
    if (command !== "qmp_capabilities") {
      return error("CommandNotFound", "Expecting capabilities negotiation with 'qmp_capabilities'");
    }
    const enable = args?.enable ?? [];
    if (!Array.isArray(enable)) {
      return error("GenericError", "Invalid parameter type for 'enable', expected: array");
    }
    for (const capability of enable) {
      if (capability !== "oob") {
        return error(
          "GenericError",
          `Parameter 'enable' does not accept value ${JSON.stringify(capability)}`,
        );
      }
    }
    return { kind: "negotiate", oob: enable.length > 0 };
  }
  if (command === "qmp_capabilities") {
    return error(
      "CommandNotFound",
      "Capabilities negotiation is already complete, command ignored",
    );
  }
  if (command === "query-chardev") {
    return hasOob
      ? error("GenericError", "The command query-chardev does not support OOB")
      : { kind: "reply", reply: { return: ownChardevList(context) } };
  }
  if (command !== "query-yank" && command !== "yank") {
    return error(
      "CommandNotFound",
      `The command ${command} has not been found (this yank proxy forwards only query-yank and yank)`,
    );
  }
  if (command === "yank" && ownChardev !== undefined && namesChardev(args, ownChardev)) {
    return error(
      "GenericError",
      `Refusing to yank chardev ${
        JSON.stringify(ownChardev)
      }: it carries the watchdog's own monitor connection, which this proxy forwards through; nothing was yanked`,
    );
  }
  const monitor = command === "yank" ? monitorChardevNamed(args, context.spare) : undefined;
  if (monitor !== undefined) {
    return error(
      "GenericError",
      `Refusing to yank chardev ${JSON.stringify(monitor)}: ${
        monitorLikeness(monitor)
      }; this proxy never yanks a monitor's chardev; nothing was yanked`,
    );
  }
  return { kind: "forward", command, args };
}

function namesChardev(args: Record<string, unknown> | undefined, id: string): boolean {
  const instances = args?.instances;
  if (!Array.isArray(instances)) return false;
  return instances.some((i) => isJsonObject(i) && i.type === "chardev" && i.id === id);
}

/** The first chardev in a yank's instances that carries a monitor by name or `spare`. */
function monitorChardevNamed(
  args: Record<string, unknown> | undefined,
  spare: readonly string[] | undefined,
): string | undefined {
  const instances = args?.instances;
  if (!Array.isArray(instances)) return undefined;
  for (const i of instances) {
    if (isJsonObject(i) && i.type === "chardev" && typeof i.id === "string") {
      if (isSparedChardev(i.id, spare)) return i.id;
    }
  }
  return undefined;
}

/** The reply with the request's id, echoed exactly (any JSON value), or none if it had none. */
export function withId(reply: Record<string, unknown>, message: unknown): Record<string, unknown> {
  return isJsonObject(message) && "id" in message ? { ...reply, id: message.id } : reply;
}
