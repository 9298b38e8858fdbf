/** The help topics of the commands that watch over QEMU and repair: check, watch, reattach. */

import { DEFAULT_PROXY_LIMITS as L } from "../../proxy/limits.ts";
import { type Run, type Topic, USAGE } from "./model.ts";
import { comment, examples, EXIT_CODES, line, options, prose, shown } from "./common.ts";

const NEGOTIATION_S = L.negotiationMs / 1000;
const IDLE_S = L.idleMs / 1000;
const UNREAD_KIB = L.maxUnreadBytes / 1024;

/** `yank help check`. */
export const CHECK: Topic = {
  command: "check",
  title: "health probe of QEMU's monitor for cron, Nagios, Icinga and Prometheus.",
  sections: [
    USAGE,
    {
      paragraphs: [
        [prose(
          "Connects, negotiates, times an in-band query-status (does QEMU's main loop answer?) and counts",
          "the yank instances with query-yank (out-of-band). The whole probe ends within --timeout.",
        )],
        [shown(
          "state     meaning",
          "OK        the main loop answers an in-band probe",
          "CRITICAL  no socket or connection refused; QEMU hung (greeting, then nothing); connection lost",
          "WARNING   monitor busy (no greeting: another client holds it, or QEMU is still starting);",
          "          OOB not offered (so yank would be unreachable during a hang); yank not supported",
          "          (QEMU older than 6.0)",
          "UNKNOWN   usage errors; the --textfile cannot be written; permission denied on the socket",
          "          or on a directory a glob reads; a socket not tried because --timeout ran out",
          "          while many others were probed; a --domain that is not running or has no",
          "          monitor for yank",
        )],
        [prose(
          "The state is data: it goes to stdout and the exit code, never to stderr; so does UNKNOWN for a",
          'usage error, as "YANK UNKNOWN - REASON". With several sockets (repeat --socket or use a glob)',
          "the worst state wins, ranked as Monitoring Plugins' max_state_alt:",
          "CRITICAL > WARNING > UNKNOWN > OK. The text output then starts with a summary line counting",
          "each state, followed by one line per socket.",
        )],
      ],
    },
    { heading: "Options", paragraphs: [[options()]] },
    {
      heading: "Examples",
      paragraphs: [
        [examples(line(
          "yank check --socket /run/vm1.qmp",
          "YANK OK - main loop answered in 0.8 ms, 3 yank instances | latency=0.0008s instances=3",
        ))],
        [examples(line(
          "yank check --socket /run/vm1.qmp --timeout 5",
          'YANK CRITICAL - QEMU\'s main loop is hung: "/run/vm1.qmp" sent its greeting but did not answer qmp_capabilities within 5 s | latency=U instances=U',
        ))],
        [examples(
          comment("cron, every minute:"),
          line({
            before: "* * * * * root ",
            command:
              "yank check --socket '/run/qemu/*.qmp' --textfile /var/lib/node_exporter/yank.prom",
          }),
        )],
      ],
    },
    {
      heading: "Exit codes (Monitoring Plugins)",
      paragraphs: [[shown(
        "0  OK",
        "1  WARNING",
        "2  CRITICAL",
        "3  UNKNOWN (including usage errors)",
      )]],
    },
  ],
};

/** What watch does about a hang, one item a point. */
const WATCH_STEPS = [
  "- it connects, retrying with backoff (0.1 s doubling to 5 s) while QEMU is absent or the",
  "  monitor busy, and reconnects the same way when QEMU restarts;",
  "- it refuses a monitor without oob, or one that refuses query-status (such as the yank-only",
  "  proxy of another watch): exit 6 when watching one socket;",
  "- every --interval it sends an in-band query-status, never more than one at a time; a probe",
  "  unanswered for --hang-after seconds is a hang;",
  "- while QEMU is healthy it learns what is behind each instance (NBD servers, chardev",
  "  addresses), again after block job, migration and device events and every 30 s;",
  "- on a hang it lists the instances out-of-band and judges, within 0.3 s, which matched peers",
  "  are dead, from the kernel's queues of QEMU's own sockets (data QEMU sent that the peer",
  "  never read or acknowledged, and that does not drain); it yanks those first;",
  "- only if the main loop still does not answer (or nothing could be judged: QEMU's process",
  "  not readable, ss missing) it yanks the rest the selectors match, in order of least harm:",
  "  the migration, then chardevs, then block nodes, one type per step, waiting for the main",
  "  loop after each step and stopping as soon as it answers;",
  "- while the main loop stays hung it does all that again, with a fresh list each time, after a",
  "  pause of 1 s doubling up to --hang-after; it never sends a second probe meanwhile;",
  "- it never yanks a monitor's chardev (its own, any id holding mon, qmp or hmp, --spare",
  "  ones); without selectors it only reports;",
  "- at start-up it warns when a selector matches nothing (libvirt names NBD nodes",
  "  libvirt-N-storage: use --disk vda rather than guessing).",
];

/** What watch says of the proxy that --listen and --listen-dir serve: one paragraph. */
const PROXY: readonly Run[] = [
  prose(
    "--listen PATH serves a restricted QMP endpoint on a new unix socket (mode 0660) while watch",
    "runs. It greets offering oob, answers qmp_capabilities itself, and forwards only query-yank and",
    "yank (sent with execute or exec-oob) over the watchdog's pre-negotiated out-of-band connection,",
    'so "yank list" and "yank chardev X" keep working through it during a hang. It answers',
    "query-chardev itself, listing only the watchdog's own monitor chardev as the proxy socket's, so",
    "yank's globs spare that chardev as they spare any monitor's own. Every other command gets",
    "CommandNotFound; a yank naming the watchdog's own monitor chardev gets GenericError; while QEMU",
    "is unreachable every forwarded command gets UpstreamUnavailable at once (yank: exit 4). Give a",
    "user yank rights without full QMP rights by giving them access to this socket only. No proxy",
    `client can slow watch down. The proxy serves at most ${L.maxClients} clients at once: a newcomer takes the`,
    "slot of the oldest client that has not negotiated yet, and is told so only if all have. It",
    `closes a client that sends no qmp_capabilities within ${NEGOTIATION_S} s, or no request for ${IDLE_S} s while nothing`,
    `is in flight; it refuses a client's commands past ${L.maxInFlight} in flight, and cuts off a client that leaves`,
    `more than ${UNREAD_KIB} KiB of replies unread (one log line each). When watch runs out of file descriptors`,
    "it logs that once and serves again as soon as descriptors are free. The socket is never wider",
    "than 0660, not even while it is created. Every yank it forwards is logged (state proxy-yank).",
    "--listen takes one literal --socket; with several or a glob, use --listen-dir DIR: one proxy per",
    "watched monitor at DIR/<file name of the monitor socket>, created when the VM appears and",
    "removed when it goes and when watch stops. DIR must exist.",
  ),
];

/** `yank help watch`. */
export const WATCH: Topic = {
  command: "watch",
  title: "watchdog that yanks when QEMU's main loop hangs.",
  sections: [
    USAGE,
    {
      paragraphs: [
        [prose(
          "A new connection cannot get through a hung main loop: QEMU greets it but never answers",
          "qmp_capabilities. So watch keeps one connection open on a dedicated monitor of each VM,",
          "negotiated with out-of-band execution (oob) while QEMU is healthy, and uses it when the hang",
          "comes:",
        )],
        [shown(...WATCH_STEPS)],
        [prose(
          "One watch serves a whole host: give --socket a glob (or several sockets) and it watches every",
          "monitor socket that matches, each VM on its own (one VM's hang, backoff or recovery never delays",
          "another's). It looks for new sockets every second and stops watching those that vanish. A",
          "monitor that can never be watched is logged once (state unwatchable) and left alone until its",
          "socket goes away and comes back. A literal --socket PATH is watched even before it exists.",
          "A watchdog failure nobody foresaw never ends watch nor drops the VM: it is logged once (state",
          "restarting, with its message; the textfile says WARNING) and that VM's watchdog starts again",
          "after 1 s, doubling to 60 s. Only a configuration error (a monitor without oob or yank) ends a",
          "one-socket watch.",
        )],
        [
          prose("Every state change and action is one logfmt line on stderr, naming the socket:"),
          shown(
            'time=2026-01-02T03:04:05.678Z socket=/run/yank/vm1.qmp state=hung instances=2 msg="..."',
          ),
          prose(
            "States: connecting, connected, busy, hung, yanking, would-yank, recovered, still-hung,",
            "judged, stalled, disconnected, warning, proxy-yank, reattached, reattach-waiting,",
            "reattach-refused, resumed, found, gone, unwatchable, restarting, stopped.",
          ),
        ],
        [prose(
          '--reattach: after a recovery that yanked NBD nodes, watch reattaches them as "yank reattach"',
          "does, once their servers answer again: 1 s after the recovery, then with a pause doubling to",
          "60 s while a server does not answer. Each attempt is logged (reattached, reattach-waiting with",
          "the reason, reattach-refused) and counted in --textfile as yank_reattach_attempts_total,",
          "labelled socket and result (reattached, waiting, refused or failed). With",
          "--resume too, a VM an I/O error paused is resumed once every disk it waits on is back.",
        )],
        PROXY,
      ],
    },
    {
      heading: "Options",
      paragraphs: [
        [options()],
        [
          prose(
            "Give QEMU a second monitor for watch, so that libvirt or your tools keep the first:",
          ),
          shown(
            "-chardev socket,id=yankmon,path=/run/vm1-yank.qmp,server=on,wait=off",
            "-mon chardev=yankmon,mode=control",
          ),
        ],
      ],
    },
    {
      heading: "Examples",
      paragraphs: [
        [examples(
          line("yank watch --socket /run/vm1-yank.qmp --block-node 'nbd*' --chardev 'charnet*'"),
          line(
            "yank watch --socket /run/vm1-yank.qmp --migration --listen /run/vm1-yank-proxy.qmp",
          ),
          line("yank list --socket /run/vm1-yank-proxy.qmp"),
          comment("the whole host: every VM's yank monitor, one proxy each, one textfile"),
          line({
            command: [
              "yank watch --socket '/run/yank/*.qmp' --block-node 'nbd*' --listen-dir /run/yank/proxy",
              "--textfile /var/lib/node_exporter/textfile/yank.prom",
            ],
          }),
        )],
        [prose("Ends with exit 0 on SIGTERM or SIGINT.")],
      ],
    },
    EXIT_CODES,
  ],
};

/** `yank help reattach`. */
export const REATTACH: Topic = {
  command: "reattach",
  title: "bring yanked NBD disks back once their server answers again.",
  sections: [
    USAGE,
    {
      paragraphs: [
        [
          prose(
            "QEMU never reconnects a yanked NBD node: every read and write on it fails with EIO until the VM",
            "restarts. For each yanked NBD node (every one, or those --block-node and --disk pick), reattach",
          ),
          shown(
            "- connects to the node's server itself and finishes an NBD handshake for its export within",
            "  --timeout; QEMU connects inside its main loop, so it is never asked to connect to a server",
            "  that has not just answered;",
            "- adds a fresh node with the same server, export, read-only, cache and detect-zeroes",
            "  settings under a temporary name (blockdev-add, with open-timeout), swaps it in under the",
            "  node's parent, and deletes the dead node (blockdev-del): blockdev-reopen of the parent",
            "  where nothing writes through it; under a device, whose reopen would flush the dead node",
            "  and fail, a mirror (sync none) of the parent to a twin on the fresh node, which QEMU puts",
            "  in the parent's place;",
            "- if the server answers a second client while QEMU's fresh one is connected, does that again",
            "  under the old name, so libvirt and scripts find the node they know; otherwise the node keeps",
            "  the temporary name (yank-XXXXXXXX), and the output says so (qemu-nbd serves one client",
            "  unless started with --shared N).",
          ),
          prose(
            "QMP shows no trace of a yank (the node keeps its yank instance and its filename): a node counts",
            "as yanked when QEMU holds no open connection to its server, which yank reads from QEMU's",
            "sockets with ss (as root or as QEMU's user). QEMU does not report discard: libvirt's unmap",
            "goes back to ignore on the reattached disk.",
          ),
        ],
        [prose(
          "Refused, one line each: a node that was never yanked, or whose server does not answer (exit 3);",
          "a node with no format or filter node above it (a device's root), nodes sharing a server of which",
          "only some were yanked, or a QEMU whose sockets yank cannot read (exit 2).",
        )],
        [prose(
          "--resume: a VM paused by the I/O error (werror/rerror=stop; status io-error) is resumed (cont)",
          "only when every disk that waits sits on NBD nodes none of which is still yanked.",
        )],
      ],
    },
    { heading: "Options", paragraphs: [[options()]] },
    {
      heading: "Examples",
      paragraphs: [
        [examples(line(
          "yank reattach --socket /run/vm1.qmp",
          "reattached block-node nbd0 (unix:/run/nbd0.sock) under fmt0 in 12 ms",
        ))],
        [examples(line(
          "yank reattach --domain vm1 --disk vda --resume",
          'reattached block-node libvirt-1-storage (10.0.0.2:10809 export "vm1") under libvirt-1-format in 15 ms',
          "resumed the VM (paused by an I/O error)",
        ))],
      ],
    },
    EXIT_CODES,
  ],
};
