import assert from "node:assert/strict";
import { describeFailure, remedyText, type YankError } from "../lib/errors.ts";
import { ExitCode, exitCodeFor, messageFor, UsageError } from "../lib/cli/exit_codes.ts";
import { wordRemedyAction } from "../lib/cli/remedies.ts";
import {
  QmpCommandError,
  QmpConnectError,
  QmpDisconnectedError,
  QmpProtocolError,
  QmpProxyUnavailableError,
  QmpTimeoutError,
  QmpTurnedAwayError,
} from "../lib/qmp/errors.ts";
import {
  InstanceNotFoundError,
  MalformedReplyError,
  MonitorChardevRefusedError,
  YankUnsupportedError,
} from "../lib/yank/yank.ts";
import { GlobSyntaxError } from "../lib/glob.ts";
import {
  DomainNotFoundError,
  LibvirtAccessError,
  NoYankMonitorError,
} from "../lib/libvirt/domains.ts";
import { OobNotOfferedError, ProbeRefusedError } from "../lib/watch/errors.ts";
import { occupiedListenError } from "../lib/proxy/errors.ts";
import { UpstreamUnavailableError } from "../lib/proxy/upstream.ts";
import { TextfileError } from "../lib/health/textfile.ts";
import { OutputError } from "../lib/cli/io.ts";
import { globUnreadable, noSocketMatches } from "../lib/sockets/plan.ts";
import { SocketNotTriedError } from "../lib/sockets/visit.ts";

const S = "/run/vm1.qmp";
const Q = JSON.stringify(S);

/** Each failure, the line the CLI says for it, and its exit code. */
const CASES: [YankError, string, number][] = [
  [
    new QmpConnectError(S, "missing"),
    `Cannot connect to ${Q}: no such file (is the VM running, and is this its QMP socket?)`,
    ExitCode.connection,
  ],
  [
    new QmpConnectError(S, "not-socket"),
    `Cannot connect to ${Q}: it is not a socket (check the path given with --socket)`,
    ExitCode.connection,
  ],
  [
    new QmpConnectError(S, "busy", "5 s"),
    `The monitor ${Q} is busy: its queue of waiting connections stayed full for 5 s (another client holds it and others wait; close them or give QEMU a second monitor; if it is a "yank watch --listen" socket, that watch is out of file descriptors: see its log)`,
    ExitCode.timeout,
  ],
  [
    new QmpTimeoutError(S, "connect", 5000),
    `Cannot connect to ${Q}: no answer within 5 s (is the VM overloaded? try a longer --timeout)`,
    ExitCode.timeout,
  ],
  [
    new QmpTimeoutError(S, "negotiation", 5000),
    `QEMU's main loop is hung: ${Q} sent its greeting but did not answer qmp_capabilities within 5 s (a new connection cannot yank through a hang; use "yank watch" on a second monitor)`,
    ExitCode.timeout,
  ],
  [
    new QmpTimeoutError(S, "command", 500, "query-yank", true),
    `QEMU did not answer out-of-band query-yank on ${Q} within 0.5 s (its monitor I/O thread is stuck; try a longer --timeout)`,
    ExitCode.timeout,
  ],
  [
    new QmpDisconnectedError(S, "the greeting"),
    `Connection to ${Q} was lost while waiting for the greeting (did QEMU exit? try again)`,
    ExitCode.connection,
  ],
  [
    new QmpDisconnectedError(S, "the greeting", true),
    `Connection to the yank proxy ${Q} was lost while waiting for the greeting (yank watch stopped, or closed this client for breaking a limit: see its log; try again)`,
    ExitCode.connection,
  ],
  [
    new QmpProtocolError(S, "invalid JSON: x"),
    `${Q} does not speak QMP: invalid JSON: x (is this a QEMU QMP socket?)`,
    ExitCode.connection,
  ],
  [
    new QmpTurnedAwayError(S, "GenericError", "Too many clients (try again shortly)"),
    `${Q} turned the connection away: GenericError: Too many clients (try again shortly)`,
    ExitCode.connection,
  ],
  [
    new QmpProxyUnavailableError(S, "query-yank", "not connected"),
    `The yank proxy ${Q} cannot reach QEMU: not connected`,
    ExitCode.connection,
  ],
  [
    new QmpCommandError(S, "yank", "GenericError", "nope"),
    `QEMU at ${Q} refused yank: GenericError: nope (see "yank list" for what can be yanked)`,
    ExitCode.qemuError,
  ],
  [
    new YankUnsupportedError(S, "5.2.0"),
    `QEMU 5.2.0 at ${Q} does not support yank (it needs QEMU 6.0 or newer; upgrade QEMU)`,
    ExitCode.unsupported,
  ],
  [
    new InstanceNotFoundError(S, [{ type: "migration" }], " any more (it vanished)"),
    `No yank instance migration on ${Q} any more (it vanished) (run "yank list" to see the instances)`,
    ExitCode.notFound,
  ],
  [
    new MonitorChardevRefusedError(S, "yankmon", false),
    `Refusing to yank chardev "yankmon": on ${Q} it looks like a monitor's chardev (its id holds "mon", "qmp" or "hmp"), and yanking it cuts that monitor's client (add --force to do it anyway)`,
    ExitCode.usage,
  ],
  [
    new MonitorChardevRefusedError(S, "mgmt1", false),
    `Refusing to yank chardev "mgmt1": on ${Q} it looks like a monitor's chardev (a pattern of chardevs to spare names it), and yanking it cuts that monitor's client (add --force to do it anyway)`,
    ExitCode.usage,
  ],
  [
    new MonitorChardevRefusedError(S, "charmonitor", false),
    `Refusing to yank chardev "charmonitor": on ${Q} it looks like a monitor's chardev (its id holds "mon", "qmp" or "hmp"; libvirt kills a VM whose "charmonitor" is cut), and yanking it cuts that monitor's client (add --force to do it anyway)`,
    ExitCode.usage,
  ],
  [
    new MonitorChardevRefusedError(S, "mon0"),
    `Refusing to yank chardev "mon0": it carries the monitor ${Q} that yank is talking through, so yanking it cuts this connection (add --force to do it anyway)`,
    ExitCode.usage,
  ],
  [
    new MalformedReplyError(S, "query-yank did not return a list"),
    `${Q} sent a malformed reply: query-yank did not return a list (is this really QEMU?)`,
    ExitCode.connection,
  ],
  [new GlobSyntaxError(`"[" has an unclosed "["`), `"[" has an unclosed "["`, ExitCode.usage],
  [
    new DomainNotFoundError("web1", "/run/libvirt/qemu"),
    `No running libvirt domain "web1" (yank reads the status XML libvirt keeps in "/run/libvirt/qemu" for running domains; check "virsh list")`,
    ExitCode.notFound,
  ],
  [
    new NoYankMonitorError("web1"),
    `libvirt domain "web1" has no QMP monitor for yank (libvirt's own is always held and cut at its peril): add to its XML <qemu:commandline> with -chardev socket,id=yankmon,path=/run/yank/web1.qmp,server=on,wait=off and -mon chardev=yankmon,mode=control, then restart the VM (see "yank --help" and README, "yank under libvirt")`,
    ExitCode.notFound,
  ],
  [
    new LibvirtAccessError("/run/libvirt/qemu", "permission denied"),
    `Cannot read libvirt's domain status "/run/libvirt/qemu": permission denied (run yank as root, or name the monitor with --socket)`,
    ExitCode.connection,
  ],
  [
    new OobNotOfferedError(S),
    `${Q} does not offer out-of-band execution (oob), so yank watch could not yank through a hang (watch a unix socket monitor of QEMU 4.0 or newer; Proxmox's QEMU disables oob)`,
    ExitCode.unsupported,
  ],
  [
    new ProbeRefusedError(S, "CommandNotFound"),
    `${Q} refused query-status (CommandNotFound), so yank watch cannot tell whether QEMU's main loop answers: it is not QEMU's own monitor, perhaps the yank-only proxy of another yank watch (watch the QEMU monitor socket itself)`,
    ExitCode.unsupported,
  ],
  [
    new UpstreamUnavailableError(`not connected`, [
      "QEMU is absent; ",
      { action: "watch-log" },
    ]),
    `not connected (QEMU is absent; see the log of yank watch)`,
    ExitCode.connection,
  ],
  [
    new TextfileError(`Cannot write the textfile "/dev/x"`, [
      "give a file path; ",
      { action: "print-metrics" },
    ]),
    `Cannot write the textfile "/dev/x" (give a file path; to print the metrics, use --format prometheus without --textfile)`,
    ExitCode.qemuError,
  ],
  [
    new OutputError("No space left on device (os error 28)"),
    "Cannot write to standard output: No space left on device (check where the output goes)",
    ExitCode.qemuError,
  ],
  [
    noSocketMatches("/run/*.qmp"),
    `Cannot connect to "/run/*.qmp": no socket matches this pattern (check the path given with --socket)`,
    ExitCode.connection,
  ],
  [
    globUnreadable("/secret/*.qmp", "/secret"),
    `Cannot look for sockets matching "/secret/*.qmp": permission denied reading the directory "/secret" (run as a user that may read it, or as root)`,
    ExitCode.connection,
  ],
  [
    new SocketNotTriedError(S, 5000, 64),
    `${Q} was not tried: --timeout 5 s ran out while the 64 sockets before it were handled, 64 at a time (raise --timeout)`,
    ExitCode.timeout,
  ],
  [new UsageError(`Bad (see "yank --help")`), `Bad (see "yank --help")`, ExitCode.usage],
];

Deno.test("every failure says what happened and what to do in one line, with its exit code", async (t) => {
  for (const [error, line, code] of CASES) {
    await t.step(`${error.name}: ${line.slice(0, 60)}`, () => {
      assert.equal(messageFor(error), line);
      assert.equal(exitCodeFor(error), code);
      assert.equal(exitCodeFor(error, "check"), 3, "check says UNKNOWN");
    });
  }
});

Deno.test("library failures name no option or command of the CLI; the CLI words those", () => {
  const library = CASES.filter(([error]) =>
    !(error instanceof UsageError || error instanceof SocketNotTriedError)
  );
  for (const [error] of library) {
    const said = describeFailure(error);
    assert.doesNotMatch(said, /--[a-z]|"yank [a-z]/, said);
    for (const part of error.remedy) {
      if (typeof part === "string") assert.doesNotMatch(part, /--[a-z]|"yank [a-z]/, part);
    }
  }
});

Deno.test("a remedy without the front end's words leaves out what needs them", () => {
  const error = new QmpTimeoutError(S, "connect", 5000);
  assert.equal(remedyText(error.remedy), "");
  assert.equal(describeFailure(error), `Cannot connect to ${Q}: no answer within 5 s`);
  assert.equal(
    describeFailure(error, wordRemedyAction),
    `Cannot connect to ${Q}: no answer within 5 s (is the VM overloaded? try a longer --timeout)`,
  );
  assert.equal(
    describeFailure(new QmpConnectError(S, "denied")),
    `Cannot connect to ${Q}: permission denied (run as the user that owns the socket, or as root)`,
  );
});

Deno.test("what is not a known failure is reported as a bug, exit 1", () => {
  const error = new TypeError("x is undefined");
  assert.equal(
    messageFor(error),
    "Internal error: x is undefined (please report this as a bug in yank)",
  );
  assert.equal(exitCodeFor(error), ExitCode.qemuError);
});

Deno.test("a path the proxy cannot listen on is said by what it is", async (t) => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/file`, "");
    await Deno.symlink(`${dir}/file`, `${dir}/link`);
    const cases: [string, string][] = [
      [
        dir,
        `it is a directory (give --listen the path of a new socket inside it, e.g. ${
          JSON.stringify(`${dir}/vm1.qmp`)
        })`,
      ],
      [
        `${dir}/file`,
        "it is a regular file, not a socket (remove it, or choose another --listen path)",
      ],
      [`${dir}/link`, "it is a symlink (give --listen the path of a new socket, not a link)"],
      [`${dir}/gone`, "something else took the path meanwhile (try again)"],
    ];
    for (const [path, said] of cases) {
      await t.step(said, () => {
        const error = occupiedListenError(path);
        assert.equal(messageFor(error), `Cannot listen on ${JSON.stringify(path)}: ${said}`);
        assert.equal(exitCodeFor(error), ExitCode.connection);
      });
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
