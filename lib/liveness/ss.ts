/**
 * The kernel's view of sockets as `ss` (iproute2) reports it through sock_diag: unix stream
 * sockets with their queues (which `/proc/net/unix` lacks) and TCP sockets with their queues,
 * retransmissions and timers. Pure functions over ss's text. (yank asks ss rather than reading
 * /proc itself: Deno lets a program read /proc/PID/* only with --allow-all.)
 */

/** One socket as the kernel reports it. */
export interface KernelSocket {
  inode: string;
  transport: "unix" | "tcp";
  /** LISTEN, ESTAB, ... (ss's names; TCP states are mapped to them). */
  state: string;
  /** Unix: the bound path ("" when unnamed). TCP: `HOST:PORT` (IPv6 in brackets). */
  local: string;
  /**
   * Unix only: the blanks ss printed after `local` but one. ss pads its columns, so a path that
   * ends in blanks shows them run into the padding: the path is `local` plus some of these.
   */
  localPadding?: string;
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
  /** TCP: the pending timer, as ss names it ("on" retransmit, "persist" zero window probe, ...). */
  timer: string;
  /** The processes holding the socket (only with `ss -p`, and only those ss may inspect). */
  pids: number[];
  /**
   * Whether the socket's owner shut it down for reading or writing (`shutdown(2)`, as a yank
   * does): ss -e shows `<->` for a socket open both ways, a `-` for each direction shut down.
   * Undefined when ss did not say.
   */
  shutDown?: boolean;
}

const SS_UNIX_ROW =
  /^u_str\s+(\S+)\s+(\d+)\s+(\d+)\s+([\s\S]*?)(\s+)(\d+)\s+(\S+)\s+(\d+)(?:\s+(.*))?$/;
/** How each row of `ss -H` starts; a line that does not is the rest of a path holding "\n". */
const SS_ROW_START = /^(u_str|u_dgr|u_seq|tcp|udp)\s/;
const SS_TCP_ROW = /^tcp\s+(\S+)\s+(\d+)\s+(\d+)\s+(\S+)\s+(\S+)(?:\s+(.*))?$/;

/**
 * Unix stream and TCP sockets from `ss -xtnaeoH` (optionally with `-p`): Netid State Recv-Q
 * Send-Q Local Peer, then extras. For unix sockets the "port" columns are the socket's and its
 * peer's inodes; for TCP `-e` adds `ino:N`, `-o` the timer `timer:(on,200ms,3)` (the last number
 * counts retransmissions), `-p` the owning processes `users:(("qemu",pid=N,fd=M))`.
 */
export function parseSs(text: string): KernelSocket[] {
  const sockets: KernelSocket[] = [];
  // ss prints a unix path as it is, newlines and all: such a row spans several lines.
  const rows: string[] = [];
  for (const line of text.replace(/\n$/, "").split("\n")) {
    if (rows.length > 0 && !SS_ROW_START.test(line)) {
      rows[rows.length - 1] += `\n${line}`;
    } else rows.push(line);
  }
  for (const line of rows) {
    const unix = SS_UNIX_ROW.exec(line);
    if (unix) {
      const [, state, rx, tx, local, padding, inode, , peerInode, extras] = unix;
      sockets.push({
        inode: inode!,
        transport: "unix",
        state: state!,
        local: local === "*" ? "" : local!,
        localPadding: padding!.slice(0, -1),
        remote: "",
        peerInode: peerInode!,
        rxQueue: Number(rx),
        txQueue: Number(tx),
        retransmits: 0,
        timer: "",
        pids: pidsOf(extras ?? ""),
        ...shutDownOf(extras ?? ""),
      });
      continue;
    }
    const tcp = SS_TCP_ROW.exec(line);
    if (!tcp) continue;
    const [, state, rx, tx, local, remote, extras = ""] = tcp;
    const timer = /\btimer:\((\w+),[^,]*,(\d+)\)/.exec(extras);
    sockets.push({
      inode: /\bino:(\d+)/.exec(extras)?.[1] ?? "0",
      transport: "tcp",
      state: state!,
      local: canonicalAddress(local!),
      remote: canonicalAddress(remote!),
      peerInode: "0",
      rxQueue: Number(rx),
      txQueue: Number(tx),
      retransmits: timer ? Number(timer[2]) : 0,
      timer: timer ? timer[1]! : "",
      pids: pidsOf(extras),
      ...shutDownOf(extras),
    });
  }
  return sockets;
}

/** ss -e's shutdown mark: `<->` open, `--`-style marks for a direction shut down. */
function shutDownOf(extras: string): { shutDown?: boolean } {
  const mark = /(?:^|\s)([<-])-([>-])(?=\s|$)/.exec(extras);
  return mark ? { shutDown: mark[1] === "-" || mark[2] === "-" } : {};
}

function pidsOf(extras: string): number[] {
  return [...extras.matchAll(/\bpid=(\d+)/g)].map((m) => Number(m[1]));
}

/** ss's `HOST:PORT` or `[V6]:PORT` in canonicalHostPort's form. */
function canonicalAddress(text: string): string {
  const last = text.lastIndexOf(":");
  return last < 0 ? text : canonicalHostPort(text.slice(0, last), text.slice(last + 1));
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

/**
 * `HOST:PORT` in one form for both sides of a comparison: ss's addresses (parseSs) and QEMU's
 * (yank/peer_endpoint.ts). IPv6 in brackets, compressed; an IPv4-mapped address as IPv4.
 */
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

/** Every path a unix socket row may stand for: `local`, and `local` with blanks ss ran into its padding. */
export function localSpellings(socket: KernelSocket): string[] {
  const padding = socket.localPadding ?? "";
  return Array.from({ length: padding.length + 1 }, (_, i) => socket.local + padding.slice(0, i));
}
