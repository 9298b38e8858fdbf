/**
 * The programs the bench needs besides QEMU: socat (the baseline one-liner) and GNU time
 * (peak RSS), installed from Debian's packages when missing (see tests/support/debian.ts).
 */

import { ensurePrograms } from "../tests/support/debian.ts";

/** Installs socat and GNU time if missing; throws with the remedy when it cannot. */
export async function ensureBenchTools(): Promise<void> {
  await ensurePrograms({ "socat": "socat", "/usr/bin/time": "time" });
}
