/**
 * Failures of a QMP conversation. Each message is a sentence that names the socket; the remedy
 * says what to do (see lib/errors.ts).
 */

import { type ErrorKind, type Remedy, type RemedyAction, YankError } from "../errors.ts";

/** Base class: every failure the QMP client can report. */
export abstract class QmpError extends YankError {
  override name = "QmpError";
}

/**
 * Why a connection could not be made. "busy": the monitor's queue of waiting connections stayed
 * full until the timeout, because a client holds the monitor and others already wait (QEMU's
 * backlog is 1); the detail is how long yank kept trying ("5 s").
 */
export type ConnectFailure = "missing" | "not-socket" | "refused" | "busy" | "denied" | "other";

/** The socket could not be connected to. */
export class QmpConnectError extends QmpError {
  override name = "QmpConnectError";
  /** A busy monitor is a wait that ran out; every other failure is one of the connection. */
  override readonly kind: ErrorKind;
  constructor(readonly socket: string, readonly failure: ConnectFailure, detail = "") {
    super(...connectMessage(socket, failure, detail));
    this.kind = failure === "busy" ? "timeout" : "connection";
  }
}

const CHECK_SOCKET_PATH: RemedyAction = { action: "check-socket-path" };

function connectMessage(
  socket: string,
  failure: ConnectFailure,
  detail: string,
): [string, Remedy] {
  const where = `Cannot connect to ${JSON.stringify(socket)}`;
  switch (failure) {
    case "missing":
      return [`${where}: no such file`, ["is the VM running, and is this its QMP socket?"]];
    case "not-socket":
      return [`${where}: it is not a socket`, [CHECK_SOCKET_PATH]];
    case "refused":
      return [`${where}: connection refused`, ["nothing listens there; is the VM running?"]];
    case "busy":
      return [
        `The monitor ${
          JSON.stringify(socket)
        } is busy: its queue of waiting connections stayed full${
          detail === "" ? "" : ` for ${detail}`
        }`,
        [
          "another client holds it and others wait; close them or give QEMU a second monitor; ",
          PROXY_SILENT_HINT,
        ],
      ];
    case "denied":
      return [`${where}: permission denied`, ["run as the user that owns the socket, or as root"]];
    case "other":
      return [`${where}: ${detail}`, [CHECK_SOCKET_PATH]];
  }
}

/** The peer broke the protocol: not a QMP server, garbage, or a malformed message. */
export class QmpProtocolError extends QmpError {
  override name = "QmpProtocolError";
  override readonly kind = "connection";
  constructor(readonly socket: string, detail: string) {
    super(`${JSON.stringify(socket)} does not speak QMP: ${detail}`, [
      "is this a QEMU QMP socket?",
    ]);
  }
}

/**
 * The server sent an error instead of its greeting: it turned this connection away (yank's own
 * proxy does so past its client limit). QEMU never does; its desc says why and what to do.
 */
export class QmpTurnedAwayError extends QmpError {
  override name = "QmpTurnedAwayError";
  override readonly kind = "connection";
  constructor(readonly socket: string, readonly errorClass: string, readonly desc: string) {
    const said = peerText(desc);
    super(
      `${JSON.stringify(socket)} turned the connection away: ${errorClass}: ${said.finding}`,
      said.remedy,
    );
  }
}

/**
 * A peer's error text as finding and remedy. yank's proxy (the only server that turns clients
 * away or answers that QEMU is out of reach) says "what happened (what to do)" in one string,
 * as QMP has no field for a remedy; the last parenthesis is its remedy.
 */
function peerText(desc: string): { finding: string; remedy: Remedy } {
  const match = /^(.*\S) \(([^()]*)\)$/s.exec(desc);
  return match ? { finding: match[1]!, remedy: [match[2]!] } : { finding: desc, remedy: [] };
}

/**
 * A socket that does not greet may be yank's own proxy, not QEMU: it greets every client at
 * once unless its process is out of file descriptors.
 */
const PROXY_SILENT_HINT: RemedyAction = { action: "proxy-out-of-fds" };

/** The connection ended while something was still expected. */
export class QmpDisconnectedError extends QmpError {
  override name = "QmpDisconnectedError";
  override readonly kind = "connection";
  /** `viaProxy`: the server greeted as yank's proxy, so QEMU is not the one that left. */
  constructor(readonly socket: string, waitingFor: string, viaProxy = false) {
    super(
      `Connection to ${viaProxy ? "the yank proxy " : ""}${
        JSON.stringify(socket)
      } was lost while waiting for ${waitingFor}`,
      viaProxy ? [{ action: "proxy-ended" }, "; try again"] : ["did QEMU exit? try again"],
    );
  }
}

/** Where a wait ran out of time; the phase tells a busy monitor from a hung main loop. */
export type TimeoutPhase = "connect" | "greeting" | "negotiation" | "command";

/** Nothing arrived within the timeout. */
export class QmpTimeoutError extends QmpError {
  override name = "QmpTimeoutError";
  override readonly kind = "timeout";
  constructor(
    readonly socket: string,
    readonly phase: TimeoutPhase,
    readonly timeoutMs: number,
    readonly command = "",
    readonly outOfBand = false,
  ) {
    super(...timeoutMessage(socket, phase, timeoutMs, command, outOfBand));
  }
}

const WATCH_SECOND_MONITOR: RemedyAction = { action: "watch-second-monitor" };
const LONGER_TIMEOUT: RemedyAction = { action: "longer-timeout" };

function timeoutMessage(
  socket: string,
  phase: TimeoutPhase,
  timeoutMs: number,
  command: string,
  outOfBand: boolean,
): [string, Remedy] {
  const name = JSON.stringify(socket);
  const within = `within ${formatSeconds(timeoutMs)}`;
  switch (phase) {
    case "connect":
      return [`Cannot connect to ${name}: no answer ${within}`, [
        "is the VM overloaded? ",
        LONGER_TIMEOUT,
      ]];
    case "greeting":
      // QEMU greets from its monitor I/O thread, but accepts a client only once no other client
      // holds the monitor and start-up is over (a QEMU still opening an NBD disk accepts none).
      return [
        `The monitor ${name} is busy or QEMU is still starting: connected, but no QMP greeting ${within}`,
        [
          "another client holds the monitor, or QEMU has not finished starting, e.g. it is still opening a disk; close the other client or give QEMU a second monitor, or wait for QEMU to start; ",
          PROXY_SILENT_HINT,
        ],
      ];
    case "negotiation":
      return [
        `QEMU's main loop is hung: ${name} sent its greeting but did not answer qmp_capabilities ${within}`,
        ["a new connection cannot yank through a hang; ", WATCH_SECOND_MONITOR],
      ];
    case "command":
      return outOfBand
        ? [`QEMU did not answer out-of-band ${command} on ${name} ${within}`, [
          "its monitor I/O thread is stuck; ",
          LONGER_TIMEOUT,
        ]]
        : [`QEMU's main loop is hung: ${name} did not answer ${command} ${within}`, [
          "in-band commands cannot get through a hang; ",
          WATCH_SECOND_MONITOR,
        ]];
  }
}

/** QEMU answered a command with an error object. */
export class QmpCommandError extends QmpError {
  override name = "QmpCommandError";
  override readonly kind = "failed";
  constructor(
    readonly socket: string,
    readonly command: string,
    readonly errorClass: string,
    readonly desc: string,
  ) {
    super(`QEMU at ${JSON.stringify(socket)} refused ${command}: ${errorClass}: ${desc}`, [
      { action: "list-yankable" },
    ]);
  }
}

/**
 * The error class yank's proxy answers with when it has no connection to QEMU right now (the
 * watchdog behind it is connecting or reconnecting). Only a server whose greeting marks it as
 * yank's proxy is trusted to mean this by it.
 */
export const PROXY_UNAVAILABLE_CLASS = "UpstreamUnavailable";

/** yank's proxy answered that it cannot reach QEMU right now. */
export class QmpProxyUnavailableError extends QmpError {
  override name = "QmpProxyUnavailableError";
  override readonly kind = "connection";
  constructor(readonly socket: string, readonly command: string, readonly desc: string) {
    const said = peerText(desc);
    super(
      `The yank proxy ${JSON.stringify(socket)} cannot reach QEMU: ${said.finding}`,
      said.remedy,
    );
  }
}

/** A command was to run out-of-band on a connection that did not negotiate it. */
export class QmpOobNotNegotiatedError extends QmpError {
  override name = "QmpOobNotNegotiatedError";
  override readonly kind = "failed";
  constructor(readonly socket: string) {
    super(`Out-of-band execution was not negotiated on ${socket}`);
  }
}

/** Seconds for messages: "5 s", "0.5 s". */
export function formatSeconds(ms: number): string {
  return `${Number((ms / 1000).toFixed(3))} s`;
}
