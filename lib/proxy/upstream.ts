/**
 * What the yank-only proxy needs from whatever stands between it and QEMU (the watchdog's
 * pre-negotiated connection): QEMU's version, the chardev to spare, and out-of-band commands.
 */

import type { QemuVersion } from "../qmp/greeting.ts";
import { YankError } from "../errors.ts";

/** The proxy's way to QEMU: a connection borrowed for out-of-band commands. */
export interface YankUpstream {
  /** QEMU's version from the last greeting, if QEMU was ever reached. */
  readonly version: QemuVersion | undefined;
  /** The chardev carrying the upstream's own monitor connection, if known. */
  readonly ownChardev: string | undefined;
  /** `--spare` globs, which the proxy refuses like monitors' chardevs. */
  readonly spareChardevs?: readonly string[] | undefined;
  /**
   * Runs `query-yank` or `yank` out-of-band. Rejects with UpstreamUnavailableError when there is
   * no connection to QEMU right now, or with a QmpError from the connection.
   */
  execOob(
    command: "query-yank" | "yank",
    args: Record<string, unknown> | undefined,
  ): Promise<unknown>;
}

/** The upstream has no connection to QEMU right now; the remedy says what to do. */
export class UpstreamUnavailableError extends YankError {
  override name = "UpstreamUnavailableError";
  override readonly kind = "connection";
}
