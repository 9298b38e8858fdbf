/**
 * An NBD handshake from yank itself: proves a server answers before QEMU is asked to connect
 * to it (QEMU's `blockdev-add` connects inside its main loop). Fixed newstyle negotiation
 * (NBDMAGIC, IHAVEOPT), `NBD_OPT_INFO` for the export, then `NBD_OPT_ABORT`; the probe never
 * enters the transmission phase, so it reads or writes no data. Bounded by one deadline.
 */

import { YankError } from "../errors.ts";
import { deadline } from "../qmp/deadline.ts";

/** Where an NBD server listens, as QEMU's `SocketAddress` in an nbd node's `server`. */
export type NbdServerAddress =
  | { type: "unix"; path: string }
  | { type: "inet"; host: string; port: string | number };

/** What the server said of the export. */
export interface NbdExportInfo {
  /** The export's size in bytes, when the server said it. */
  size?: bigint;
  /** The transmission flags, when the server said them. */
  flags?: number;
}

/** The server did not answer, or answered something that is not NBD. */
export class NbdProbeError extends YankError {
  override name = "NbdProbeError";
  override readonly kind = "connection";
}

/** The server did not finish the handshake in time. */
export class NbdProbeTimeoutError extends YankError {
  override name = "NbdProbeTimeoutError";
  override readonly kind = "timeout";
}

const NBDMAGIC = 0x4e42444d41474943n;
const IHAVEOPT = 0x49484156454f5054n;
const REPLY_MAGIC = 0x3e889045565a9n;
const FLAG_FIXED_NEWSTYLE = 1;
const FLAG_NO_ZEROES = 2;
const OPT_ABORT = 2;
const OPT_INFO = 6;
const REP_ACK = 1;
const REP_INFO = 3;
const INFO_EXPORT = 0;
const REP_ERROR_BIT = 0x80000000;
const REP_ERRORS: Readonly<Record<number, string>> = {
  1: "unsupported request",
  2: "refused by policy",
  3: "invalid request",
  4: "unsupported on this platform",
  5: "TLS required",
  6: "no such export",
  7: "shutting down",
  8: "block size negotiation required",
};
const REP_ERR_UNSUP = REP_ERROR_BIT + 1;

/** Says where `address` is, for messages. */
export function describeNbdAddress(address: NbdServerAddress): string {
  return address.type === "unix" ? address.path : `${address.host}:${address.port}`;
}

/** Options of `probeNbd`. */
export interface NbdProbeOptions {
  /** The export to ask for ("" is the default export). */
  export?: string;
  /** Bound on the whole handshake, in milliseconds. */
  timeoutMs: number;
  /** Connects (default Deno.connect); tests pass the world in. */
  connect?: (address: NbdServerAddress) => Promise<Deno.Conn>;
}

/**
 * Connects to `address` and finishes an NBD handshake for the export, within `timeoutMs`.
 * Resolves with what the server said of the export; rejects with an NbdProbeTimeoutError
 * when the server is silent (e.g. frozen), an NbdProbeError otherwise.
 */
export async function probeNbd(
  address: NbdServerAddress,
  options: NbdProbeOptions,
): Promise<NbdExportInfo> {
  const where = describeNbdAddress(address);
  const connect = options.connect ?? defaultConnect;
  let conn: Deno.Conn | undefined;
  const run = async () => {
    try {
      conn = await connect(address);
    } catch (error) {
      throw new NbdProbeError(
        `NBD server ${where} does not accept connections: ${(error as Error).message}`,
      );
    }
    return await negotiate(conn, options.export ?? "", where);
  };
  try {
    return await deadline(run(), options.timeoutMs, () =>
      new NbdProbeTimeoutError(
        `NBD server ${where} did not finish a handshake within ${options.timeoutMs} ms`,
        ["is it frozen or overloaded? ", { action: "longer-timeout" }],
      ));
  } finally {
    try {
      conn?.close();
    } catch {
      // Already closed.
    }
  }
}

function defaultConnect(address: NbdServerAddress): Promise<Deno.Conn> {
  return address.type === "unix"
    ? Deno.connect({ transport: "unix", path: address.path })
    : Deno.connect({ hostname: address.host, port: Number(address.port) });
}

async function negotiate(conn: Deno.Conn, name: string, where: string): Promise<NbdExportInfo> {
  const reader = new ExactReader(conn, where);
  const greeting = new DataView((await reader.read(18)).buffer);
  if (greeting.getBigUint64(0) !== NBDMAGIC) {
    throw new NbdProbeError(`${where} is not an NBD server (no NBDMAGIC greeting)`);
  }
  if (greeting.getBigUint64(8) !== IHAVEOPT) {
    throw new NbdProbeError(`NBD server ${where} speaks only the old style protocol`);
  }
  const serverFlags = greeting.getUint16(16);
  if ((serverFlags & FLAG_FIXED_NEWSTYLE) === 0) {
    throw new NbdProbeError(`NBD server ${where} does not speak fixed newstyle negotiation`);
  }
  const clientFlags = new Uint8Array(4);
  new DataView(clientFlags.buffer).setUint32(
    0,
    FLAG_FIXED_NEWSTYLE | (serverFlags & FLAG_NO_ZEROES),
  );
  await writeAll(conn, clientFlags);
  const nameBytes = new TextEncoder().encode(name);
  const data = new Uint8Array(4 + nameBytes.length + 2);
  new DataView(data.buffer).setUint32(0, nameBytes.length);
  data.set(nameBytes, 4);
  await writeAll(conn, option(OPT_INFO, data));
  const info: NbdExportInfo = {};
  for (;;) {
    const header = new DataView((await reader.read(20)).buffer);
    if (header.getBigUint64(0) !== REPLY_MAGIC || header.getUint32(8) !== OPT_INFO) {
      throw new NbdProbeError(`NBD server ${where} sent a malformed option reply`);
    }
    const type = header.getUint32(12);
    const length = header.getUint32(16);
    if (length > 65536) throw new NbdProbeError(`NBD server ${where} sent an oversized reply`);
    const body = await reader.read(length);
    if (type === REP_ACK) break;
    if (type === REP_INFO && length >= 12) {
      const view = new DataView(body.buffer);
      if (view.getUint16(0) === INFO_EXPORT) {
        info.size = view.getBigUint64(2);
        info.flags = view.getUint16(10);
      }
    } else if (type === REP_ERR_UNSUP) {
      break; // An old server without NBD_OPT_INFO: its greeting and reply prove it answers.
    } else if (type >= REP_ERROR_BIT) {
      const said = REP_ERRORS[type - REP_ERROR_BIT] ?? `error ${type.toString(16)}`;
      const message = new TextDecoder().decode(body).slice(0, 200);
      throw new NbdProbeError(
        `NBD server ${where} refused export "${name}": ${said}${message ? ` (${message})` : ""}`,
      );
    }
  }
  // Ends the negotiation politely; the server's ACK is not awaited.
  await writeAll(conn, option(OPT_ABORT, new Uint8Array(0))).catch(() => {});
  return info;
}

function option(code: number, data: Uint8Array): Uint8Array {
  const bytes = new Uint8Array(16 + data.length);
  const view = new DataView(bytes.buffer);
  view.setBigUint64(0, IHAVEOPT);
  view.setUint32(8, code);
  view.setUint32(12, data.length);
  bytes.set(data, 16);
  return bytes;
}

async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  for (let done = 0; done < bytes.length;) done += await conn.write(bytes.subarray(done));
}

/** Reads exactly n bytes, or fails saying the server hung up. */
class ExactReader {
  constructor(readonly conn: Deno.Conn, readonly where: string) {}

  async read(n: number): Promise<Uint8Array> {
    const bytes = new Uint8Array(n);
    for (let done = 0; done < n;) {
      let got: number | null;
      try {
        got = await this.conn.read(bytes.subarray(done));
      } catch (error) {
        throw new NbdProbeError(
          `NBD server ${this.where} broke the handshake: ${(error as Error).message}`,
        );
      }
      if (got === null) {
        throw new NbdProbeError(`NBD server ${this.where} hung up during the handshake`);
      }
      done += got;
    }
    return bytes;
  }
}
