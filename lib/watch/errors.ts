/**
 * Failures of the watchdog that the CLI maps to exit codes. Kept apart from the watchdog so
 * that commands which never watch do not load it.
 */

import { type Remedy, YankError } from "../errors.ts";

/**
 * A monitor that can never be watched, however often watch reconnects: retrying would only
 * fill the log. Watching one socket, watch stops with it; watching a glob, it stops watching
 * that socket until the socket goes away and comes back.
 */
export class UnwatchableError extends YankError {
  override name = "UnwatchableError";
  override readonly kind = "unsupported";
  constructor(readonly socket: string, finding: string, remedy: Remedy) {
    super(finding, remedy);
  }
}

/** The monitor offers no out-of-band execution, so a hang could never be yanked through it. */
export class OobNotOfferedError extends UnwatchableError {
  override name = "OobNotOfferedError";
  constructor(socket: string) {
    super(
      socket,
      `${
        JSON.stringify(socket)
      } does not offer out-of-band execution (oob), so yank watch could not yank through a hang`,
      ["watch a unix socket monitor of QEMU 4.0 or newer; Proxmox's QEMU disables oob"],
    );
  }
}

/**
 * The monitor refuses the probe (`query-status`): it is not QEMU's own monitor but, say, the
 * yank-only proxy of another watch, which forwards only query-yank and yank.
 */
export class ProbeRefusedError extends UnwatchableError {
  override name = "ProbeRefusedError";
  constructor(socket: string, errorClass: string) {
    super(
      socket,
      `${
        JSON.stringify(socket)
      } refused query-status (${errorClass}), so yank watch cannot tell whether QEMU's main loop answers: it is not QEMU's own monitor, perhaps the yank-only proxy of another yank watch`,
      ["watch the QEMU monitor socket itself"],
    );
  }
}
