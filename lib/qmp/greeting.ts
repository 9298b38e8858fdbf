/**
 * The greeting a QMP server sends first: QEMU's version and the capabilities it offers.
 */

import { QmpProtocolError } from "./errors.ts";
import { isJsonObject } from "./json_object.ts";

/** QEMU's version as announced in the greeting. */
export interface QemuVersion {
  major: number;
  minor: number;
  micro: number;
  package: string;
}

/**
 * The member of the greeting's `QMP` object by which yank's own proxy (`yank watch --listen`)
 * tells clients that they talk to it, not to QEMU. QMP clients ignore unknown members.
 */
export const PROXY_GREETING_KEY = "yank-proxy";

/** The greeting a QMP server sends first. */
export interface QmpGreeting {
  /** Undefined when the server announced no version we could read. */
  version: QemuVersion | undefined;
  capabilities: string[];
  /** The server is yank's proxy in front of QEMU, not QEMU itself. */
  proxy: boolean;
}

/** Checks the `QMP` member of a greeting; throws QmpProtocolError when it is malformed. */
export function parseGreeting(socket: string, qmp: unknown): QmpGreeting {
  if (!isJsonObject(qmp)) throw new QmpProtocolError(socket, "the greeting is not an object");
  const capabilities = qmp.capabilities;
  if (!Array.isArray(capabilities) || !capabilities.every((c) => typeof c === "string")) {
    throw new QmpProtocolError(socket, "the greeting has no list of capabilities");
  }
  return {
    version: parseVersion(qmp.version),
    capabilities,
    proxy: isJsonObject(qmp[PROXY_GREETING_KEY]),
  };
}

function parseVersion(version: unknown): QemuVersion | undefined {
  if (!isJsonObject(version) || !isJsonObject(version.qemu)) return undefined;
  const { major, minor, micro } = version.qemu;
  if (typeof major !== "number" || typeof minor !== "number" || typeof micro !== "number") {
    return undefined;
  }
  const pkg = typeof version.package === "string" ? version.package : "";
  return { major, minor, micro, package: pkg };
}

/** Formats a version as "7.2.0". */
export function formatVersion(version: QemuVersion | undefined): string {
  return version ? `${version.major}.${version.minor}.${version.micro}` : "(unknown version)";
}
