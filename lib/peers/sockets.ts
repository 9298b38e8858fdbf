/**
 * The kernel's view of sockets, parsed: `/proc/net/unix` (who listens on a path), the rows of
 * `/proc/PID/net/tcp` and `tcp6` (queues, retransmissions, timers), and `ss -xna` for unix
 * stream sockets (the only place their queues show: `/proc/net/unix` has none). Pure functions
 * over the text those produce.
 */

/** One socket as the kernel reports it. */
export interface KernelSocket {
  inode: string;
  transport: "unix" | "tcp";
  /** LISTEN, ESTAB, ... (ss's names; TCP states are mapped to them). */
  state: string;
  /** Unix: the bound path ("" when unnamed). TCP: `HOST:PORT` (IPv6 in brackets). */
  local: string;
  /** TCP: the remote `HOST:PORT`. Unix: "". */
  remote: string;
  /** Unix: the inode of the connected peer socket ("0" when none). */
  peerInode: string;
  /** Bytes received and not yet read by the socket's owner. */
  rxQueue: number;
  /** TCP: bytes sent and not acknowledged. Unix: bytes sent and not yet read by the peer. */
  txQueue: number;
  /** TCP: retransmissions of the oldest unacknowledged segment. */
  retransmits: number;
  /** TCP: the pending timer (0 none, 1 retransmit, 2 keepalive, 3 TIME_WAIT, 4 zero window probe). */
  timer: number;
}

/** The inode of the socket listening on `path`, from `/proc/net/unix`. */
export function listeningInode(procNetUnix: string, path: string): string | undefined {
  for (const line of procNetUnix.split("\n").slice(1)) {
    // Num RefCount Protocol Flags Type St Inode Path
    const fields = line.trim().split(/\s+/);
    if (fields.length < 8) continue;
    const [, , , flags, , state, inode] = fields;
    const listening = (parseInt(flags!, 16) & 0x10000) !== 0 || state === "01";
    if (listening && fields.slice(7).join(" ") === path) return inode;
  }
  return undefined;
}

const SS_UNIX_ROW = /^(\S+)\s+(\S+)\s+(\d+)\s+(\d+)\s+(.*?)\s+(\d+)\s+(.*?)\s+(\d+)\s*$/;

/** Unix stream sockets from `ss -xnaH` (Netid State Recv-Q Send-Q Local Inode Peer PeerInode). */
export function parseSsUnix(text: string): KernelSocket[] {
  const sockets: KernelSocket[] = [];
  for (const line of text.split("\n")) {
    const match = SS_UNIX_ROW.exec(line);
    if (!match || match[1] !== "u_str") continue;
    const [, , state, rx, tx, local, inode, , peerInode] = match;
    sockets.push({
      inode: inode!,
      transport: "unix",
      state: state!,
      local: local === "*" ? "" : local!,
      remote: "",
      peerInode: peerInode!,
      rxQueue: Number(rx),
      txQueue: Number(tx),
      retransmits: 0,
      timer: 0,
    });
  }
  return sockets;
}

const TCP_STATES: Record<string, string> = {
  "01": "ESTAB",
  "02": "SYN-SENT",
  "03": "SYN-RECV",
  "04": "FIN-WAIT-1",
  "05": "FIN-WAIT-2",
  "06": "TIME-WAIT",
  "07": "UNCONN",
  "08": "CLOSE-WAIT",
  "09": "LAST-ACK",
  "0A": "LISTEN",
  "0B": "CLOSING",
};

/** The rows of `/proc/PID/net/tcp` or `tcp6`. */
export function parseProcNetTcp(text: string): KernelSocket[] {
  const sockets: KernelSocket[] = [];
  for (const line of text.split("\n").slice(1)) {
    // sl local rem st tx:rx tr:when retrnsmt uid timeout inode ...
    const fields = line.trim().split(/\s+/);
    if (fields.length < 10) continue;
    const [, local, remote, state, queues, timer, retransmits, , , inode] = fields;
    const [tx, rx] = queues!.split(":");
    sockets.push({
      inode: inode!,
      transport: "tcp",
      state: TCP_STATES[state!.toUpperCase()] ?? state!,
      local: decodeTcpAddress(local!),
      remote: decodeTcpAddress(remote!),
      peerInode: "0",
      rxQueue: parseInt(rx!, 16),
      txQueue: parseInt(tx!, 16),
      retransmits: parseInt(retransmits!, 16),
      timer: parseInt(timer!.split(":")[0]!, 16),
    });
  }
  return sockets;
}

/**
 * `0100007F:1F90` is 127.0.0.1:8080: the address in the kernel's byte order, 32 bits at a
 * time, the port in hex. IPv4-mapped IPv6 addresses are written as IPv4.
 */
export function decodeTcpAddress(hex: string): string {
  const [address, port] = hex.split(":");
  const portNumber = parseInt(port!, 16);
  const words = address!.match(/.{8}/g) ?? [];
  const bytes = words.flatMap((word) =>
    [6, 4, 2, 0].map((i) => parseInt(word.slice(i, i + 2), 16))
  );
  if (bytes.length === 4) return `${bytes.join(".")}:${portNumber}`;
  const mapped = bytes.slice(0, 10).every((b) => b === 0) && bytes[10] === 255 && bytes[11] === 255;
  if (mapped) return `${bytes.slice(12).join(".")}:${portNumber}`;
  const groups = Array.from({ length: 8 }, (_, i) => ((bytes[2 * i]! << 8) | bytes[2 * i + 1]!));
  return `[${compressIpv6(groups)}]:${portNumber}`;
}

function compressIpv6(groups: number[]): string {
  let best = { start: -1, length: 0 };
  for (let i = 0; i < 8;) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > best.length && j - i > 1) best = { start: i, length: j - i };
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (best.start < 0) return hex.join(":");
  const head = hex.slice(0, best.start).join(":");
  const tail = hex.slice(best.start + best.length).join(":");
  return `${head}::${tail}`;
}

/** `HOST:PORT` in the form decodeTcpAddress writes, for comparing with QEMU's addresses. */
export function canonicalHostPort(host: string, port: string): string {
  const bare = host.replace(/^\[(.*)\]$/, "$1");
  if (!bare.includes(":")) return `${bare}:${port}`;
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(bare);
  if (mapped) return `${mapped[1]}:${port}`;
  // Expand and re-compress, so that "0:0::1" and "::1" compare equal.
  const [head, tail] = bare.includes("::") ? bare.split("::") : [bare, undefined];
  const parse = (part: string | undefined) =>
    part === undefined || part === "" ? [] : part.split(":").map((g) => parseInt(g, 16));
  const left = parse(head);
  const right = parse(tail);
  const groups = tail === undefined
    ? left
    : [...left, ...Array(8 - left.length - right.length).fill(0), ...right];
  return `[${compressIpv6(groups)}]:${port}`;
}
