/** Two health reports (a healthy VM, a hung one) that the renderers' tests render. */

import type { HealthReport } from "../../lib/health/state.ts";

/** A healthy VM, as check and watch report it. */
export const ok: HealthReport = {
  socket: "/run/vm1.qmp",
  state: "OK",
  reason: "ok",
  message: "main loop answered in 0.8 ms, 3 yank instances",
  remedy: "",
  latencySeconds: 0.0008,
  instances: 3,
  qemuVersion: "7.2.22",
  oob: true,
};

/** A VM whose main loop hangs during the handshake. */
export const hung: HealthReport = {
  socket: "/run/vm2.qmp",
  state: "CRITICAL",
  reason: "hung",
  message:
    `QEMU's main loop is hung: "/run/vm2.qmp" sent its greeting but did not answer qmp_capabilities within 5 s`,
  remedy: `a new connection cannot yank through a hang; use "yank watch" on a second monitor`,
  latencySeconds: undefined,
  instances: undefined,
  qemuVersion: "7.2.22",
  oob: undefined,
};
