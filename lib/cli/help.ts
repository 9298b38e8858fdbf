/**
 * Help texts. Each command's help says what it does, shows examples, and lists the exit codes
 * that scripts rely on.
 */

import type { CommandName } from "./args.ts";
import { DEFAULT_TIMEOUT_SECONDS } from "./args.ts";

/** The program's version. */
export const VERSION = "0.1.0";

const EXIT_CODES = `Exit codes:
  0  success
  1  QEMU returned an error
  2  usage error (including naming yank's own monitor chardev without --force)
  3  instance not found, or a selector matched nothing
  4  cannot connect, not a QMP server, or connection lost
  5  timed out: the monitor is busy (another client holds it) or QEMU's main loop is hung
  6  unsupported: this QEMU has no yank (older than 6.0)`;

const COMMON = `Options for every command:
  -s, --socket PATH     QMP monitor socket; repeat it or use a glob for many VMs
                        (default: $YANK_SOCKET, several separated by ":")
  -t, --timeout SECONDS bound on the whole run: connect, greeting, negotiation, commands
                        (default ${DEFAULT_TIMEOUT_SECONDS})
      --trace           print every QMP message sent and received on stderr
  -h, --help            show help`;

const SELECTOR_NOTES =
  `Names are exact or shell-style globs (*, ?, [a-z]). A glob never matches the chardev of
the monitor yank talks through (yanking it would cut yank's own connection); naming that
chardev exactly needs --force. All matches go into one "yank" command, which QEMU runs
out-of-band, so it works even while QEMU's main loop is busy.`;

const TOPICS: Record<string, string> = {
  yank: `yank ${VERSION}: get a hung QEMU back by yanking its network connections.

QEMU 6.0 and newer can shut down, out-of-band, the connections behind a chardev (a socket
character device), an NBD block node or a migration: a QEMU blocked on a dead peer then
recovers. yank talks to QEMU's QMP monitor socket to list these "yank instances" and yank them.

Usage:
  yank list [--json]                       list the yank instances
  yank chardev ID...                       yank chardevs by id
  yank block-node NODE-NAME...             yank NBD block nodes by node-name
  yank migration                           yank the running migration
  yank [--chardev P]... [--block-node P]... [--migration] [--dry-run] [--force] [--json]
                                           yank every instance the patterns match
  yank check                               health probe for cron and monitoring
  yank watch                               watchdog that yanks when the main loop hangs
  yank completions bash|zsh|fish           print a shell completion script
  yank help [COMMAND]                      help for one command

${COMMON}
  -V, --version         print the version

Examples:
  yank list --socket /run/vm1.qmp
  yank chardev charnet0 --socket /run/vm1.qmp
  YANK_SOCKET=/run/vm1.qmp yank --block-node 'nbd*' --dry-run
  yank list --socket '/run/qemu/*.qmp' --json

${EXIT_CODES}
`,
  list: `yank list: list the yank instances of QEMU (query-yank).

Usage: yank list [--socket PATH]... [--json] [--timeout SECONDS]

Prints a table with TYPE and NAME columns (NAME is the chardev id or the node-name, "-" for a
migration); with several sockets a SOCKET column comes first. --json prints QEMU's own instance
objects as a JSON array; with several sockets each object also carries "socket".

Options:
      --json            print JSON instead of a table
${COMMON}

Examples:
  yank list --socket /run/vm1.qmp
  TYPE        NAME
  chardev     compat_monitor0
  chardev     charnet0
  block-node  nbd0

  yank list --socket /run/vm1.qmp --json
  [{"type":"chardev","id":"compat_monitor0"},{"type":"chardev","id":"charnet0"},{"node-name":"nbd0","type":"block-node"}]

${EXIT_CODES}
`,
  chardev: `yank chardev: yank socket chardevs, shutting down their connections.

Usage: yank chardev ID... [--socket PATH] [--dry-run] [--force] [--json]

The peer sees the connection close; a chardev with reconnect=N reconnects after N seconds.
${SELECTOR_NOTES}

Options:
      --dry-run         print what would be yanked, yank nothing
      --force           allow yanking the chardev of the monitor yank talks through
      --json            print the yanked instances as JSON
${COMMON}

Examples:
  yank chardev charnet0 --socket /run/vm1.qmp
  yanked chardev charnet0

  yank chardev 'charnet*' --socket /run/vm1.qmp --dry-run
  would yank chardev charnet0
  would yank chardev charnet1

${EXIT_CODES}
`,
  "block-node": `yank block-node: yank NBD block nodes, shutting down their connections.

Usage: yank block-node NODE-NAME... [--socket PATH] [--dry-run] [--json]

QEMU does not reconnect a yanked NBD node: I/O pending on it fails with EIO, and block jobs on
it end with an error. Prefer yanking a migration or a chardev when that is enough.
${SELECTOR_NOTES}

Options:
      --dry-run         print what would be yanked, yank nothing
      --force           allow yanking the chardev of the monitor yank talks through
      --json            print the yanked instances as JSON
${COMMON}

Examples:
  yank block-node nbd0 --socket /run/vm1.qmp
  yanked block-node nbd0

${EXIT_CODES}
`,
  migration: `yank migration: yank the running migration; it fails and can be retried.

Usage: yank migration [--socket PATH] [--dry-run] [--json]

The migration instance exists only while a migration runs; after the yank, query-migrate shows
"failed".

Options:
      --dry-run         print what would be yanked, yank nothing
      --json            print the yanked instance as JSON
${COMMON}

Examples:
  yank migration --socket /run/vm1.qmp
  yanked migration

${EXIT_CODES}
`,
};

/** The help text for a command ("yank" for the overview). */
export function helpText(command: CommandName): string {
  return TOPICS[command] ?? TOPICS.yank!;
}
