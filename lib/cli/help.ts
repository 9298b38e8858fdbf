/**
 * Help texts. Each command's help says what it does, shows examples, and lists the exit codes
 * that scripts rely on. Examples are `$ COMMAND` lines followed by what yank prints;
 * tests/help_test.ts runs them against a real QEMU set up as they describe, so they cannot drift.
 * The option blocks are generated from the declarations in options.ts; the prose is written here.
 */

import {
  COMMAND_OPTIONS,
  type CommandName,
  option,
  type OptionName,
  QEMU_COMMANDS,
} from "./options.ts";
import { DEFAULT_PROXY_LIMITS as L } from "../proxy/limits.ts";

/** Where option texts start in an option block. */
const TEXT_COLUMN = 26;

/** Help lines wrap at this width. */
const WIDTH = 96;

const NEGOTIATION_S = L.negotiationMs / 1000;
const IDLE_S = L.idleMs / 1000;
const UNREAD_KIB = L.maxUnreadBytes / 1024;

/** The program's version. */
export const VERSION = "0.1.0";

const EXIT_CODES = `Exit codes:
  0  success
  1  QEMU returned an error (or stdout could not be written)
  2  usage error (including naming a monitor's chardev without --force); (reattach) a node
     that cannot be reattached safely
  3  instance not found, or a selector matched nothing; a --domain not running or without
     a yank monitor; (reattach) nothing yanked, or the server does not answer yet
  4  cannot connect, not a QMP server, or connection lost; libvirt's status XML unreadable
  5  timed out: no greeting (another client holds the monitor, or QEMU is still starting),
     or QEMU's main loop is hung
  6  unsupported: this QEMU has no yank (older than 6.0), or (watch) the monitor offers no oob
     or refuses query-status (a yank proxy, say)`;

const SELECTOR_NOTES =
  `Names are exact or shell-style globs (*, ?, [a-z]). A glob never matches a monitor's
chardev: the one yank talks through (yanking it cuts yank's own connection), any chardev whose
id holds "mon", "qmp" or "hmp" in any case (QEMU's compat_monitorN, libvirt's charmonitor, whose
cut makes libvirt kill the VM, Proxmox's qmp, a yankmon), and those named with --spare P.
Naming one exactly needs --force. All matches go into one "yank" command, which QEMU runs
out-of-band, so it works even while QEMU's main loop is busy.`;

const EXAMPLE_VM = `The examples talk to a VM started with
  -qmp unix:/run/vm1.qmp,server=on,wait=off
  -chardev socket,id=charnet0,host=10.0.0.2,port=4444      (and charnet1 likewise)
  -blockdev driver=nbd,node-name=nbd0,server.type=unix,server.path=/run/nbd0.sock`;

const TOPICS: Record<string, string> = {
  yank: `yank ${VERSION}: get a hung QEMU back by yanking its network connections.

QEMU 6.0 and newer can shut down, on request, the network connections behind a chardev (a
socket character device, e.g. a serial port or a vhost-user backend), an NBD block node (a disk
served over the network) or a migration. A QEMU stuck waiting on a dead peer then recovers.
QEMU calls each of these a "yank instance". yank asks QEMU for them and yanks them through the
VM's QMP socket: the JSON control socket QEMU opens when started with
  -qmp unix:/run/vm1.qmp,server=on,wait=off
Yanking runs "out-of-band", so it gets through even while QEMU's main loop is busy.

Usage:
  yank list [--json]                       list the yank instances
  yank chardev ID...                       yank chardevs by id
  yank block-node NODE-NAME...             yank NBD block nodes by node-name
  yank migration                           yank the running migration
  yank [--chardev P]... [--block-node P]... [--migration] [--dry-run] [--force] [--json]
                                           yank every instance the patterns match
  yank check [--format F] [--textfile P]   health probe for cron and monitoring (exit 0-3)
  yank watch [SELECTORS] [--listen-dir D]  watchdog that yanks when the main loop hangs
  yank reattach [--block-node P] [--disk D] [--resume]
                                           bring yanked NBD disks back once their server answers
  yank completions bash|zsh|fish           print a shell completion script
  yank help [COMMAND]                      help for one command

Selector form (no command word): yank every instance the patterns match, in one request.
${optionBlock("yank", (name) => !everyCommandTakes(name))}
A pattern that matches nothing is an error (exit 3), and then nothing is yanked.

Options for every command:
${optionBlock("yank", everyCommandTakes)}

Examples:
  $ yank list --socket /run/vm1.qmp
  $ yank chardev charnet0 --socket /run/vm1.qmp
  $ YANK_SOCKET=/run/vm1.qmp yank --block-node 'nbd*' --dry-run
  $ yank --chardev 'charnet*' --migration --socket /run/vm1.qmp
  $ yank list --socket '/run/qemu/*.qmp' --json
Run "yank help COMMAND" for each command's options and what it prints.

${EXIT_CODES}
`,
  list: `yank list: list the yank instances of QEMU (query-yank).

Usage: yank list [--socket PATH]... [--json] [--timeout SECONDS]

Prints a table with TYPE and NAME columns (NAME is the chardev id or the node-name, "-" for a
migration), PEER (what is on the other end: a chardev's address, an NBD node's server and
export, the migration's status and bytes sent) and DISK (the guest device a block node backs);
with several sockets a SOCKET column comes first. --json prints QEMU's own instance objects as
a JSON array, each with "peer" (an object, or null when unknown) and "disk" (a device id, or
null) added; with several sockets each object also carries "socket".

PEER and DISK come from in-band queries (query-chardev, query-named-block-nodes, query-block,
query-migrate) sent together with the out-of-band query-yank. When QEMU's main loop does not
answer them within --timeout, the instances are still listed, PEER and DISK are "-", and one
line on stderr says why.

Options:
${optionBlock("list")}

compat_monitor0 is the chardev of the QMP socket itself; yanking it ends the monitor
connection (see "yank help chardev").

${EXAMPLE_VM}

Examples:
  $ yank list --socket /run/vm1.qmp
  TYPE        NAME             PEER                                         DISK
  chardev     compat_monitor0  unix:/run/vm1.qmp (listening, connected)     -
  chardev     charnet0         10.0.0.2:4444                                -
  chardev     charnet1         10.0.0.2:4445                                -
  block-node  nbd0             unix:/run/nbd0.sock                          -

  $ yank list --socket /run/vm1.qmp --json
  [{"type":"chardev","id":"compat_monitor0","peer":{"protocol":"unix","listening":true,"connected":true,"filename":"unix:/run/vm1.qmp,server=on","local":{"type":"unix","path":"/run/vm1.qmp"}},"disk":null},{"type":"chardev","id":"charnet0","peer":{"protocol":"tcp","listening":false,"connected":true,"filename":"tcp:10.0.0.1:51000 <-> 10.0.0.2:4444","local":{"type":"inet","host":"10.0.0.1","port":"51000"},"remote":{"type":"inet","host":"10.0.0.2","port":"4444"}},"disk":null},{"type":"chardev","id":"charnet1","peer":{"protocol":"tcp","listening":false,"connected":true,"filename":"tcp:10.0.0.1:51001 <-> 10.0.0.2:4445","local":{"type":"inet","host":"10.0.0.1","port":"51001"},"remote":{"type":"inet","host":"10.0.0.2","port":"4445"}},"disk":null},{"node-name":"nbd0","type":"block-node","peer":{"server":{"type":"unix","path":"/run/nbd0.sock"},"filename":"nbd+unix://?socket=/run/nbd0.sock"},"disk":null}]

${EXIT_CODES}
`,
  chardev: `yank chardev: yank socket chardevs, shutting down their connections.

Usage: yank chardev ID... [--socket PATH] [--dry-run] [--force] [--json]

The peer sees the connection close; a chardev with reconnect=N reconnects after N seconds.
${SELECTOR_NOTES}

Options:
${optionBlock("chardev")}

${EXAMPLE_VM}

Examples:
  $ yank chardev charnet0 --socket /run/vm1.qmp
  yanked chardev charnet0

  $ yank chardev 'charnet*' --socket /run/vm1.qmp --dry-run
  would yank chardev charnet0
  would yank chardev charnet1

  $ yank chardev '*' --socket /run/vm1.qmp --json
  [{"type":"chardev","id":"charnet0"},{"type":"chardev","id":"charnet1"}]

  $ yank chardev 'charnet*' --socket /run/vm1.qmp --dry-run --json
  [{"type":"chardev","id":"charnet0","dry-run":true},{"type":"chardev","id":"charnet1","dry-run":true}]

${EXIT_CODES}
`,
  "block-node": `yank block-node: yank NBD block nodes, shutting down their connections.

Usage: yank block-node NODE-NAME... [--socket PATH] [--dry-run] [--json]

QEMU does not reconnect a yanked NBD node: I/O pending on it fails with EIO, and block jobs on
it end with an error. Prefer yanking a migration or a chardev when that is enough.
Names are exact or shell-style globs (*, ?, [a-z]). All matches go into one "yank" command,
which QEMU runs out-of-band, so it works even while QEMU's main loop is busy.

Options:
${optionBlock("block-node")}

${EXAMPLE_VM}

Examples:
  $ yank block-node nbd0 --socket /run/vm1.qmp --dry-run
  would yank block-node nbd0

  $ yank block-node nbd0 --socket /run/vm1.qmp
  yanked block-node nbd0

${EXIT_CODES}
`,
  migration: `yank migration: yank the running migration; it fails and can be retried.

Usage: yank migration [--socket PATH] [--dry-run] [--json]

The migration instance exists only while a migration runs; after the yank, query-migrate shows
"failed".

Options:
${optionBlock("migration")}

The examples talk to a VM migrating to a peer that stopped reading.

Examples:
  $ yank list --socket /run/vm1.qmp
  TYPE       NAME             PEER                                      DISK
  chardev    compat_monitor0  unix:/run/vm1.qmp (listening, connected)  -
  migration  -                active, 1.2 GiB sent                      -

  $ yank migration --socket /run/vm1.qmp
  yanked migration

${EXIT_CODES}
`,
  check: `yank check: health probe of QEMU's monitor for cron, Nagios, Icinga and Prometheus.

Usage: yank check --socket PATH... [--timeout SECONDS] [--format text|json|prometheus]
                  [--textfile PATH]

Connects, negotiates, times an in-band query-status (does QEMU's main loop answer?) and counts
the yank instances with query-yank (out-of-band). The whole probe ends within --timeout.

  state     meaning
  OK        the main loop answers an in-band probe
  CRITICAL  no socket or connection refused; QEMU hung (greeting, then nothing); connection lost
  WARNING   monitor busy (no greeting: another client holds it, or QEMU is still starting);
            OOB not offered (so yank would be unreachable during a hang); yank not supported
            (QEMU older than 6.0)
  UNKNOWN   usage errors; the --textfile cannot be written; permission denied on the socket
            or on a directory a glob reads; a socket not tried because --timeout ran out
            while many others were probed; a --domain that is not running or has no
            monitor for yank

The state is data: it goes to stdout and the exit code, never to stderr; so does UNKNOWN for a
usage error, as "YANK UNKNOWN - REASON". With several sockets
(repeat --socket or use a glob) the worst state wins, ranked as Monitoring Plugins'
max_state_alt: CRITICAL > WARNING > UNKNOWN > OK. The text output then starts with a summary line
counting each state, followed by one line per socket.

Options:
${optionBlock("check")}

Examples:
  yank check --socket /run/vm1.qmp
  YANK OK - main loop answered in 0.8 ms, 3 yank instances | latency=0.0008s instances=3

  yank check --socket /run/vm1.qmp --timeout 5
  YANK CRITICAL - QEMU's main loop is hung: "/run/vm1.qmp" sent its greeting but did not answer qmp_capabilities within 5 s | latency=U instances=U

  # cron, every minute:
  * * * * * root yank check --socket '/run/qemu/*.qmp' --textfile /var/lib/node_exporter/yank.prom

Exit codes (Monitoring Plugins):
  0  OK
  1  WARNING
  2  CRITICAL
  3  UNKNOWN (including usage errors)
`,
  watch: `yank watch: watchdog that yanks when QEMU's main loop hangs.

Usage: yank watch --socket PATH|GLOB...|--domain NAME [--chardev P]... [--block-node P]...
                  [--disk D]... [--migration] [--spare P]...
                  [--interval SECONDS] [--hang-after SECONDS] [--stall-after SECONDS]
                  [--dry-run] [--listen PATH | --listen-dir DIR] [--textfile PATH]

A new connection cannot get through a hung main loop: QEMU greets it but never answers
qmp_capabilities. So watch keeps one connection open on a dedicated monitor of each VM,
negotiated with out-of-band execution (oob) while QEMU is healthy, and uses it when the hang
comes:

  - it connects, retrying with backoff (0.1 s doubling to 5 s) while QEMU is absent or the
    monitor busy, and reconnects the same way when QEMU restarts;
  - it refuses a monitor without oob, or one that refuses query-status (such as the yank-only
    proxy of another watch): exit 6 when watching one socket;
  - every --interval it sends an in-band query-status, never more than one at a time; a probe
    unanswered for --hang-after seconds is a hang;
  - while QEMU is healthy it learns what is behind each instance (NBD servers, chardev
    addresses), again after block job, migration and device events and every 30 s;
  - on a hang it lists the instances out-of-band and judges, within 0.3 s, which matched peers
    are dead, from the kernel's queues of QEMU's own sockets (data QEMU sent that the peer
    never read or acknowledged, and that does not drain); it yanks those first;
  - only if the main loop still does not answer (or nothing could be judged: QEMU's process
    not readable, ss missing) it yanks the rest the selectors match, in order of least harm:
    the migration, then chardevs, then block nodes, one type per step, waiting for the main
    loop after each step and stopping as soon as it answers;
  - while the main loop stays hung it does all that again, with a fresh list each time, after a
    pause of 1 s doubling up to --hang-after; it never sends a second probe meanwhile;
  - it never yanks a monitor's chardev (its own, any id holding mon, qmp or hmp, --spare
    ones); without selectors it only reports;
  - at start-up it warns when a selector matches nothing (libvirt names NBD nodes
    libvirt-N-storage: use --disk vda rather than guessing).

One watch serves a whole host: give --socket a glob (or several sockets) and it watches every
monitor socket that matches, each VM on its own (one VM's hang, backoff or recovery never delays
another's). It looks for new sockets every second and stops watching those that vanish. A
monitor that can never be watched is logged once (state unwatchable) and left alone until its
socket goes away and comes back. A literal --socket PATH is watched even before it exists.
A watchdog failure nobody foresaw never ends watch nor drops the VM: it is logged once (state
restarting, with its message; the textfile says WARNING) and that VM's watchdog starts again
after 1 s, doubling to 60 s. Only a configuration error (a monitor without oob or yank) ends a
one-socket watch.

Every state change and action is one logfmt line on stderr, naming the socket:
  time=2026-01-02T03:04:05.678Z socket=/run/yank/vm1.qmp state=hung instances=2 msg="..."
States: connecting, connected, busy, hung, yanking, would-yank, recovered, still-hung,
judged, stalled, disconnected, warning, proxy-yank, reattached, reattach-waiting,
reattach-refused, resumed, found, gone, unwatchable, restarting, stopped.

--reattach: after a recovery that yanked NBD nodes, watch reattaches them as "yank reattach"
does, once their servers answer again: 1 s after the recovery, then with a pause doubling to
60 s while a server does not answer. Each attempt is logged (reattached, reattach-waiting with
the reason, reattach-refused) and counted in --textfile as yank_reattach_attempts_total,
labelled socket and result (reattached, waiting, refused or failed). With
--resume too, a VM an I/O error paused is resumed once every disk it waits on is back.

--listen PATH serves a restricted QMP endpoint on a new unix socket (mode 0660) while watch runs.
It greets offering oob, answers qmp_capabilities itself, and forwards only query-yank and yank
(sent with execute or exec-oob) over the watchdog's pre-negotiated out-of-band connection, so
"yank list" and "yank chardev X" keep working through it during a hang. It answers
query-chardev itself, listing only the watchdog's own monitor chardev as the proxy socket's, so
yank's globs spare that chardev as they spare any monitor's own. Every other command gets
CommandNotFound; a yank naming the watchdog's own monitor chardev gets GenericError; while
QEMU is unreachable every forwarded command gets UpstreamUnavailable at once (yank: exit 4).
Give a user yank rights without full QMP rights by giving them access to this socket only.
No proxy client can slow watch down. The proxy serves at most ${L.maxClients} clients at once: a
newcomer takes the slot of the oldest client that has not negotiated yet, and is told so only
if all have. It closes a client that sends no qmp_capabilities within ${NEGOTIATION_S} s, or no request
for ${IDLE_S} s while nothing is in flight; it refuses a client's commands past ${L.maxInFlight} in flight,
and cuts off a client that leaves more than ${UNREAD_KIB} KiB of replies unread (one log line
each). When watch runs out of file descriptors it logs that once and serves again as soon as
descriptors are free. The socket is never wider than 0660, not even while it is created.
Every yank it forwards is logged (state proxy-yank). --listen takes one literal --socket; with
several or a glob, use --listen-dir DIR: one proxy per watched monitor at DIR/<file name of
the monitor socket>, created when the VM appears and removed when it goes and when watch
stops. DIR must exist.

Options:
${optionBlock("watch")}

Give QEMU a second monitor for watch, so that libvirt or your tools keep the first:
  -chardev socket,id=yankmon,path=/run/vm1-yank.qmp,server=on,wait=off
  -mon chardev=yankmon,mode=control

Examples:
  yank watch --socket /run/vm1-yank.qmp --block-node 'nbd*' --chardev 'charnet*'
  yank watch --socket /run/vm1-yank.qmp --migration --listen /run/vm1-yank-proxy.qmp
  yank list --socket /run/vm1-yank-proxy.qmp
  # the whole host: every VM's yank monitor, one proxy each, one textfile
  yank watch --socket '/run/yank/*.qmp' --block-node 'nbd*' --listen-dir /run/yank/proxy \\
    --textfile /var/lib/node_exporter/textfile/yank.prom

Ends with exit 0 on SIGTERM or SIGINT.

${EXIT_CODES}
`,
  reattach: `yank reattach: bring yanked NBD disks back once their server answers again.

Usage: yank reattach --socket PATH|--domain NAME [--block-node P]... [--disk D]... [--resume]
                     [--dry-run] [--json] [--timeout SECONDS]

QEMU never reconnects a yanked NBD node: every read and write on it fails with EIO until the VM
restarts. For each yanked NBD node (every one, or those --block-node and --disk pick), reattach
  - connects to the node's server itself and finishes an NBD handshake for its export within
    --timeout; QEMU connects inside its main loop, so it is never asked to connect to a server
    that has not just answered;
  - adds a fresh node with the same server, export, read-only, cache and detect-zeroes
    settings under a temporary name (blockdev-add, with open-timeout), swaps it in under the
    node's parent, and deletes the dead node (blockdev-del): blockdev-reopen of the parent
    where nothing writes through it; under a device, whose reopen would flush the dead node
    and fail, a mirror (sync none) of the parent to a twin on the fresh node, which QEMU puts
    in the parent's place;
  - if the server answers a second client while QEMU's fresh one is connected, does that again
    under the old name, so libvirt and scripts find the node they know; otherwise the node keeps
    the temporary name (yank-XXXXXXXX), and the output says so (qemu-nbd serves one client
    unless started with --shared N).
QMP shows no trace of a yank (the node keeps its yank instance and its filename): a node counts
as yanked when QEMU holds no open connection to its server, which yank reads from QEMU's
sockets with ss (as root or as QEMU's user). QEMU does not report discard: libvirt's unmap
goes back to ignore on the reattached disk.

Refused, one line each: a node that was never yanked, or whose server does not answer (exit 3);
a node with no format or filter node above it (a device's root), nodes sharing a server of which
only some were yanked, or a QEMU whose sockets yank cannot read (exit 2).

--resume: a VM paused by the I/O error (werror/rerror=stop; status io-error) is resumed (cont)
only when every disk that waits sits on NBD nodes none of which is still yanked.

Options:
${optionBlock("reattach")}

Examples:
  yank reattach --socket /run/vm1.qmp
  reattached block-node nbd0 (unix:/run/nbd0.sock) under fmt0 in 12 ms

  yank reattach --domain vm1 --disk vda --resume
  reattached block-node libvirt-1-storage (10.0.0.2:10809 export "vm1") under libvirt-1-format in 15 ms
  resumed the VM (paused by an I/O error)

${EXIT_CODES}
`,
  completions: `yank completions: print a shell completion script.

Usage: yank completions bash|zsh|fish

The script completes commands and options, and the names of the chardevs and NBD block nodes
of a running VM after "yank chardev", "yank block-node", --chardev and --block-node. For those
it runs "yank completions --list-names chardev|block-node" with the --socket on the line being
completed (or $YANK_SOCKET) and a 1 second timeout, so a hung VM never hangs your shell.

Install:
  bash  $ yank completions bash > ~/.local/share/bash-completion/completions/yank
        or add to ~/.bashrc:  source <(yank completions bash)
  zsh   $ yank completions zsh > "\${fpath[1]}/_yank"      (then start a new shell)
        or add to ~/.zshrc after compinit:  source <(yank completions zsh)
  fish  $ yank completions fish > ~/.config/fish/completions/yank.fish

Options:
${optionBlock("completions")}

Exit codes: 0 success, 2 unknown shell; with --list-names as for "yank list".
`,
};

/** Whether every command that talks to QEMU takes the option. */
function everyCommandTakes(name: OptionName): boolean {
  return QEMU_COMMANDS.every((command) => COMMAND_OPTIONS[command].includes(name));
}

/** An option as help writes it, indented: "  -s, --socket PATH" or "      --json". */
export function optionUsage(name: OptionName): string {
  const { short, valueName } = option(name);
  return `  ${short ? `-${short}, ` : "    "}--${name}${valueName ? ` ${valueName}` : ""}`;
}

/** The options `command` takes (those `pick` accepts), one or more lines each. */
function optionBlock(command: CommandName, pick: (name: OptionName) => boolean = () => true) {
  return COMMAND_OPTIONS[command].filter((name) => !option(name).hidden && pick(name))
    .map((name) => describeOption(command, name)).join("\n");
}

/** One option: its usage, then its text in a column, noting whether it repeats and its default. */
function describeOption(command: CommandName, name: OptionName): string {
  const declared = option(name);
  const notes = [
    ...(declared.repeatable ? ["repeatable"] : []),
    ...(declared.default === undefined ? [] : [`default: ${declared.default}`]),
  ];
  const [first, ...more] = (declared.helpIn?.[command] ?? declared.help).split("\n");
  // The notes end the first line, before the colon of one that introduces a list.
  const lead = /^(.*?)(:?)$/.exec(first!)!;
  const text = [notes.length > 0 ? `${lead[1]} (${notes.join("; ")})${lead[2]}` : first!, ...more];
  const lines = text.flatMap((line) => wrap(line, WIDTH - TEXT_COLUMN));
  const usage = optionUsage(name);
  const head = usage.length + 2 <= TEXT_COLUMN
    ? [usage.padEnd(TEXT_COLUMN) + lines.shift()]
    : [usage];
  return [...head, ...lines.map((line) => " ".repeat(TEXT_COLUMN) + line)].join("\n");
}

/** Splits text into lines of at most `width` columns, at spaces. */
function wrap(text: string, width: number): string[] {
  const lines: string[] = [];
  let line = "";
  for (const word of text.split(" ")) {
    if (line !== "" && line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else {
      line = line === "" ? word : `${line} ${word}`;
    }
  }
  return [...lines, line];
}

/** The help text for a command ("yank" for the overview). */
export function helpText(command: CommandName): string {
  return TOPICS[command] ?? TOPICS.yank!;
}
