/**
 * Failures of the watchdog that the CLI maps to exit codes. Kept apart from the watchdog so
 * that commands which never watch do not load it.
 */

import { QmpError } from "../qmp/errors.ts";

/** The monitor offers no out-of-band execution, so a hang could never be yanked through it. */
export class OobNotOfferedError extends QmpError {
  override name = "OobNotOfferedError";
  constructor(readonly socket: string) {
    super(
      `${
        JSON.stringify(socket)
      } does not offer out-of-band execution (oob), so yank watch could not yank through a hang (watch a unix socket monitor of QEMU 4.0 or newer; Proxmox's QEMU disables oob)`,
    );
  }
}
