/** The help topics of the overview, list, the yank forms and completions. */

import type { OptionName } from "../options.ts";
import { everyCommandTakes, type Topic, USAGE } from "./model.ts";
import {
  EXAMPLE_VM,
  examples,
  EXIT_CODES,
  line,
  options,
  prose,
  run,
  SELECTOR_NOTES,
  shown,
} from "./common.ts";

/** `yank help`: what yank is, every command, the selector form's options. */
export const OVERVIEW: Topic = {
  command: "yank",
  title: "get a hung QEMU back by yanking its network connections.",
  sections: [
    {
      paragraphs: [[
        prose(
          "QEMU 6.0 and newer can shut down, on request, the network connections behind a chardev (a",
          "socket character device, e.g. a serial port or a vhost-user backend), an NBD block node (a disk",
          "served over the network) or a migration. A QEMU stuck waiting on a dead peer then recovers.",
          'QEMU calls each of these a "yank instance". yank asks QEMU for them and yanks them through the',
          "VM's QMP socket: the JSON control socket QEMU opens when started with",
        ),
        shown("-qmp unix:/run/vm1.qmp,server=on,wait=off"),
        prose(
          'Yanking runs "out-of-band", so it gets through even while QEMU\'s main loop is busy.',
        ),
      ]],
    },
    {
      heading: "Usage",
      paragraphs: [[{
        kind: "commands",
        commands: [
          "list",
          "chardev",
          "block-node",
          "migration",
          "yank",
          "check",
          "watch",
          "reattach",
          "completions",
          "help",
        ],
      }]],
    },
    {
      paragraphs: [[
        prose(
          "Selector form (no command word): yank every instance the patterns match, in one request.",
        ),
        options((name: OptionName) => !everyCommandTakes(name)),
        prose("A pattern that matches nothing is an error (exit 3), and then nothing is yanked."),
      ]],
    },
    { heading: "Options for every command", paragraphs: [[options(everyCommandTakes)]] },
    {
      heading: "Examples",
      paragraphs: [[
        examples(
          run("yank list --socket /run/vm1.qmp"),
          run("yank chardev charnet0 --socket /run/vm1.qmp"),
          run("YANK_SOCKET=/run/vm1.qmp yank --block-node 'nbd*' --dry-run"),
          run("yank --chardev 'charnet*' --migration --socket /run/vm1.qmp"),
          run("yank list --socket '/run/qemu/*.qmp' --json"),
        ),
        prose('Run "yank help COMMAND" for each command\'s options and what it prints.'),
      ]],
    },
    EXIT_CODES,
  ],
};

/** `yank help list`. */
export const LIST: Topic = {
  command: "list",
  title: "list the yank instances of QEMU (query-yank).",
  sections: [
    USAGE,
    {
      paragraphs: [
        [prose(
          'Prints a table with TYPE and NAME columns (NAME is the chardev id or the node-name, "-" for a',
          "migration), PEER (what is on the other end: a chardev's address, an NBD node's server and",
          "export, the migration's status and bytes sent) and DISK (the guest device a block node backs);",
          "with several sockets a SOCKET column comes first. --json prints QEMU's own instance objects as",
          'a JSON array, each with "peer" (an object, or null when unknown) and "disk" (a device id, or',
          'null) added; with several sockets each object also carries "socket".',
        )],
        [prose(
          "PEER and DISK come from in-band queries (query-chardev, query-named-block-nodes, query-block,",
          "query-migrate) sent together with the out-of-band query-yank. When QEMU's main loop does not",
          'answer them within --timeout, the instances are still listed, PEER and DISK are "-", and one',
          "line on stderr says why.",
        )],
      ],
    },
    {
      heading: "Options",
      paragraphs: [
        [options()],
        [prose(
          "compat_monitor0 is the chardev of the QMP socket itself; yanking it ends the monitor",
          'connection (see "yank help chardev").',
        )],
        EXAMPLE_VM,
      ],
    },
    {
      heading: "Examples",
      paragraphs: [
        [examples(run(
          "yank list --socket /run/vm1.qmp",
          "TYPE        NAME             PEER                                         DISK",
          "chardev     compat_monitor0  unix:/run/vm1.qmp (listening, connected)     -",
          "chardev     charnet0         10.0.0.2:4444                                -",
          "chardev     charnet1         10.0.0.2:4445                                -",
          "block-node  nbd0             unix:/run/nbd0.sock                          -",
        ))],
        [examples(run(
          "yank list --socket /run/vm1.qmp --json",
          '[{"type":"chardev","id":"compat_monitor0","peer":{"protocol":"unix","listening":true,"connected":true,"filename":"unix:/run/vm1.qmp,server=on","local":{"type":"unix","path":"/run/vm1.qmp"}},"disk":null},{"type":"chardev","id":"charnet0","peer":{"protocol":"tcp","listening":false,"connected":true,"filename":"tcp:10.0.0.1:51000 <-> 10.0.0.2:4444","local":{"type":"inet","host":"10.0.0.1","port":"51000"},"remote":{"type":"inet","host":"10.0.0.2","port":"4444"}},"disk":null},{"type":"chardev","id":"charnet1","peer":{"protocol":"tcp","listening":false,"connected":true,"filename":"tcp:10.0.0.1:51001 <-> 10.0.0.2:4445","local":{"type":"inet","host":"10.0.0.1","port":"51001"},"remote":{"type":"inet","host":"10.0.0.2","port":"4445"}},"disk":null},{"node-name":"nbd0","type":"block-node","peer":{"server":{"type":"unix","path":"/run/nbd0.sock"},"filename":"nbd+unix://?socket=/run/nbd0.sock"},"disk":null}]',
        ))],
      ],
    },
    EXIT_CODES,
  ],
};

/** `yank help chardev`. */
export const CHARDEV: Topic = {
  command: "chardev",
  title: "yank socket chardevs, shutting down their connections.",
  sections: [
    USAGE,
    {
      paragraphs: [[prose(
        "The peer sees the connection close; a chardev with reconnect=N reconnects after N seconds.",
        ...SELECTOR_NOTES,
      )]],
    },
    { heading: "Options", paragraphs: [[options()], EXAMPLE_VM] },
    {
      heading: "Examples",
      paragraphs: [
        [examples(run("yank chardev charnet0 --socket /run/vm1.qmp", "yanked chardev charnet0"))],
        [examples(run(
          "yank chardev 'charnet*' --socket /run/vm1.qmp --dry-run",
          "would yank chardev charnet0",
          "would yank chardev charnet1",
        ))],
        [examples(run(
          "yank chardev '*' --socket /run/vm1.qmp --json",
          '[{"type":"chardev","id":"charnet0"},{"type":"chardev","id":"charnet1"}]',
        ))],
        [examples(run(
          "yank chardev 'charnet*' --socket /run/vm1.qmp --dry-run --json",
          '[{"type":"chardev","id":"charnet0","dry-run":true},{"type":"chardev","id":"charnet1","dry-run":true}]',
        ))],
      ],
    },
    EXIT_CODES,
  ],
};

/** `yank help block-node`. */
export const BLOCK_NODE: Topic = {
  command: "block-node",
  title: "yank NBD block nodes, shutting down their connections.",
  sections: [
    USAGE,
    {
      paragraphs: [[prose(
        "QEMU does not reconnect a yanked NBD node: I/O pending on it fails with EIO, and block jobs on",
        "it end with an error. Prefer yanking a migration or a chardev when that is enough.",
        'Names are exact or shell-style globs (*, ?, [a-z]). All matches go into one "yank" command,',
        "which QEMU runs out-of-band, so it works even while QEMU's main loop is busy.",
      )]],
    },
    { heading: "Options", paragraphs: [[options()], EXAMPLE_VM] },
    {
      heading: "Examples",
      paragraphs: [
        [examples(run(
          "yank block-node nbd0 --socket /run/vm1.qmp --dry-run",
          "would yank block-node nbd0",
        ))],
        [examples(run("yank block-node nbd0 --socket /run/vm1.qmp", "yanked block-node nbd0"))],
      ],
    },
    EXIT_CODES,
  ],
};

/** `yank help migration`. */
export const MIGRATION: Topic = {
  command: "migration",
  title: "yank the running migration; it fails and can be retried.",
  sections: [
    USAGE,
    {
      paragraphs: [[prose(
        "The migration instance exists only while a migration runs; after the yank, query-migrate shows",
        '"failed".',
      )]],
    },
    {
      heading: "Options",
      paragraphs: [
        [options()],
        [prose("The examples talk to a VM migrating to a peer that stopped reading.")],
      ],
    },
    {
      heading: "Examples",
      paragraphs: [
        [examples(run(
          "yank list --socket /run/vm1.qmp",
          "TYPE       NAME             PEER                                      DISK",
          "chardev    compat_monitor0  unix:/run/vm1.qmp (listening, connected)  -",
          "migration  -                active, 1.2 GiB sent                      -",
        ))],
        [examples(run("yank migration --socket /run/vm1.qmp", "yanked migration"))],
      ],
    },
    EXIT_CODES,
  ],
};

/** `yank help completions`. */
export const COMPLETIONS: Topic = {
  command: "completions",
  title: "print a shell completion script.",
  sections: [
    USAGE,
    {
      paragraphs: [[prose(
        "The script completes commands and options, and the names of the chardevs and NBD block nodes",
        'of a running VM after "yank chardev", "yank block-node", --chardev and --block-node. For those',
        'it runs "yank completions --list-names chardev|block-node" with the --socket on the line being',
        "completed (or $YANK_SOCKET) and a 1 second timeout, so a hung VM never hangs your shell.",
      )]],
    },
    {
      heading: "Install",
      paragraphs: [[examples(
        line({
          before: "bash  $ ",
          command: "yank completions bash",
          after: " > ~/.local/share/bash-completion/completions/yank",
        }),
        line({
          before: "      or add to ~/.bashrc:  source <(",
          command: "yank completions bash",
          after: ")",
        }),
        line({
          before: "zsh   $ ",
          command: "yank completions zsh",
          after: ' > "${fpath[1]}/_yank"      (then start a new shell)',
        }),
        line({
          before: "      or add to ~/.zshrc after compinit:  source <(",
          command: "yank completions zsh",
          after: ")",
        }),
        line({
          before: "fish  $ ",
          command: "yank completions fish",
          after: " > ~/.config/fish/completions/yank.fish",
        }),
      )]],
    },
    { heading: "Options", paragraphs: [[options()]] },
    {
      heading: "Exit codes",
      inline: true,
      paragraphs: [[prose('0 success, 2 unknown shell; with --list-names as for "yank list".')]],
    },
  ],
};
