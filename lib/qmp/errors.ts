/**
 * Failures of a QMP conversation. Each message is a full sentence that names the socket and
 * says what to do; the CLI maps each class to one exit code.
 */

/** Base class: every failure the QMP client can report. */
export class QmpError extends Error {
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
  constructor(readonly socket: string, readonly failure: ConnectFailure, detail = "") {
    super(connectMessage(socket, failure, detail));
  }
}

function connectMessage(socket: string, failure: ConnectFailure, detail: string): string {
  const where = `Cannot connect to ${JSON.stringify(socket)}`;
  switch (failure) {
    case "missing":
      return `${where}: no such file (is the VM running, and is this its QMP socket?)`;
    case "not-socket":
      return `${where}: it is not a socket (check the path given with --socket)`;
    case "refused":
      return `${where}: connection refused (nothing listens there; is the VM running?)`;
    case "busy":
      return `The monitor ${
        JSON.stringify(socket)
      } is busy: its queue of waiting connections stayed full${
        detail === "" ? "" : ` for ${detail}`
      } (another client holds it and others wait; close them or give QEMU a second monitor)`;
    case "denied":
      return `${where}: permission denied (run as the user that owns the socket, or as root)`;
    case "other":
      return `${where}: ${detail} (check the path given with --socket)`;
  }
}

/** The peer broke the protocol: not a QMP server, garbage, or a malformed message. */
export class QmpProtocolError extends QmpError {
  override name = "QmpProtocolError";
  constructor(readonly socket: string, detail: string) {
    super(
      `${JSON.stringify(socket)} does not speak QMP: ${detail} (is this a QEMU QMP socket?)`,
    );
  }
}

/**
 * The server sent an error instead of its greeting: it turned this connection away (yank's own
 * proxy does so past its client limit). QEMU never does; its desc says why and what to do.
 */
export class QmpTurnedAwayError extends QmpError {
  override name = "QmpTurnedAwayError";
  constructor(readonly socket: string, readonly errorClass: string, readonly desc: string) {
    super(`${JSON.stringify(socket)} turned the connection away: ${errorClass}: ${desc}`);
  }
}

/** The connection ended while something was still expected. */
export class QmpDisconnectedError extends QmpError {
  override name = "QmpDisconnectedError";
  constructor(readonly socket: string, waitingFor: string) {
    super(
      `Connection to ${
        JSON.stringify(socket)
      } was lost while waiting for ${waitingFor} (did QEMU exit? try again)`,
    );
  }
}

/** Where a wait ran out of time; the phase tells a busy monitor from a hung main loop. */
export type TimeoutPhase = "connect" | "greeting" | "negotiation" | "command";

/** Nothing arrived within the timeout. */
export class QmpTimeoutError extends QmpError {
  override name = "QmpTimeoutError";
  constructor(
    readonly socket: string,
    readonly phase: TimeoutPhase,
    readonly timeoutMs: number,
    readonly command = "",
    readonly outOfBand = false,
  ) {
    super(timeoutMessage(socket, phase, timeoutMs, command, outOfBand));
  }
}

function timeoutMessage(
  socket: string,
  phase: TimeoutPhase,
  timeoutMs: number,
  command: string,
  outOfBand: boolean,
): string {
  const name = JSON.stringify(socket);
  const within = `within ${formatSeconds(timeoutMs)}`;
  switch (phase) {
    case "connect":
      return `Cannot connect to ${name}: no answer ${within} (is the VM overloaded? try a longer --timeout)`;
    case "greeting":
      // QEMU greets from its monitor I/O thread, but accepts a client only once no other client
      // holds the monitor and start-up is over (a QEMU still opening an NBD disk accepts none).
      return `The monitor ${name} is busy or QEMU is still starting: connected, but no QMP greeting ${within} (another client holds the monitor, or QEMU has not finished starting, e.g. it is still opening a disk; close the other client or give QEMU a second monitor, or wait for QEMU to start)`;
    case "negotiation":
      return `QEMU's main loop is hung: ${name} sent its greeting but did not answer qmp_capabilities ${within} (a new connection cannot yank through a hang; use "yank watch" on a second monitor)`;
    case "command":
      return outOfBand
        ? `QEMU did not answer out-of-band ${command} on ${name} ${within} (its monitor I/O thread is stuck; try a longer --timeout)`
        : `QEMU's main loop is hung: ${name} did not answer ${command} ${within} (in-band commands cannot get through a hang; use "yank watch" on a second monitor)`;
  }
}

/** QEMU answered a command with an error object. */
export class QmpCommandError extends QmpError {
  override name = "QmpCommandError";
  constructor(
    readonly socket: string,
    readonly command: string,
    readonly errorClass: string,
    readonly desc: string,
  ) {
    super(
      `QEMU at ${
        JSON.stringify(socket)
      } refused ${command}: ${errorClass}: ${desc} (see "yank list" for what can be yanked)`,
    );
  }
}

/** Seconds for messages: "5 s", "0.5 s". */
export function formatSeconds(ms: number): string {
  return `${Number((ms / 1000).toFixed(3))} s`;
}
