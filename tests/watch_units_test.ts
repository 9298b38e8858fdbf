import assert from "node:assert/strict";
import { formatLogLine, WATCH_STATES } from "../lib/watch/log.ts";
import { helpText } from "../lib/cli/help.ts";
import { OPTIONS } from "../lib/cli/options.ts";
import { planRecovery } from "../lib/watch/recovery.ts";
import { nextBackoff } from "../lib/watch/timing.ts";
import { decideRequest, type ProxyContext, withId } from "../lib/proxy/rules.ts";
import { instanceName, type YankInstance } from "../lib/yank/instances.ts";

const INSTANCES: YankInstance[] = [
  { type: "chardev", id: "compat_monitor0" },
  { type: "block-node", "node-name": "nbd0" },
  { type: "chardev", id: "yankmon" },
  { type: "chardev", id: "charnet0" },
  { type: "migration" },
];

Deno.test("the watchdog's log lines are logfmt, one per entry", async (t) => {
  await t.step("plain values stay bare, others are quoted with JSON escapes", () => {
    assert.equal(
      formatLogLine({
        time: Date.UTC(2026, 0, 2, 3, 4, 5, 678),
        socket: "/run/vm1-yank.qmp",
        state: "hung",
        instances: 3,
        message: 'yanking block-node "nbd0"',
      }),
      'time=2026-01-02T03:04:05.678Z socket=/run/vm1-yank.qmp state=hung instances=3 msg="yanking block-node \\"nbd0\\""',
    );
  });

  await t.step("unknown instances are '-', and a newline cannot split the line", () => {
    assert.equal(
      formatLogLine({
        time: 0,
        socket: "/tmp/a b\n.qmp",
        state: "connecting",
        instances: undefined,
        message: "x",
      }),
      'time=1970-01-01T00:00:00.000Z socket="/tmp/a b\\n.qmp" state=connecting instances=- msg=x',
    );
  });
});

Deno.test("a recovery yanks least harm first and never the watchdog's own chardev", async (t) => {
  await t.step("migration, then chardevs, then block nodes, one type per step", () => {
    const steps = planRecovery(INSTANCES, {
      chardev: ["char*"],
      blockNode: ["nbd0"],
      migration: true,
    }, { ownChardev: "yankmon" });
    assert.deepEqual(steps, [
      { type: "migration", instances: [{ type: "migration" }], dead: false },
      { type: "chardev", instances: [{ type: "chardev", id: "charnet0" }], dead: false },
      {
        type: "block-node",
        instances: [{ type: "block-node", "node-name": "nbd0" }],
        dead: false,
      },
    ]);
  });

  await t.step("instances judged dead come first, least harm first among them", () => {
    const nodes: YankInstance[] = [
      ...INSTANCES,
      { type: "block-node", "node-name": "nbd1" },
      { type: "block-node", "node-name": "nbd2" },
    ];
    const steps = planRecovery(
      nodes,
      {
        chardev: ["char*"],
        blockNode: ["nbd*"],
        migration: true,
      },
      {
        ownChardev: "yankmon",
        dead: [
          { "node-name": "nbd2", type: "block-node" },
          { type: "chardev", id: "charnet0" },
          // Judged dead but a monitor's: never yanked.
          { type: "chardev", id: "compat_monitor0" },
        ],
      },
    );
    assert.deepEqual(
      steps.map((
        s,
      ) => [s.dead, s.instances.map((i) => i.type === "migration" ? "-" : instanceName(i))]),
      [
        [true, ["charnet0"]],
        [true, ["nbd2"]],
        [false, ["-"]],
        [false, ["nbd0", "nbd1"]],
      ],
    );
  });

  await t.step("the own chardev is spared by a glob and by its exact name", () => {
    const byGlob = planRecovery(
      INSTANCES,
      { chardev: ["*"], blockNode: [], migration: false },
      { ownChardev: "yankmon" },
    );
    // compat_monitor0 is another monitor's: spared by a glob too.
    assert.deepEqual(byGlob[0]!.instances.map((i) => i.type === "chardev" && i.id), [
      "charnet0",
    ]);
    assert.deepEqual(
      planRecovery(INSTANCES, { chardev: ["yankmon"], blockNode: [], migration: false }, {
        ownChardev: "yankmon",
      }),
      [],
    );
  });

  await t.step("a monitor's chardev by name or --spare is never yanked, even named exactly", () => {
    const instances = [
      { type: "chardev" as const, id: "charmonitor" },
      { type: "chardev" as const, id: "qmp-event" },
      { type: "chardev" as const, id: "mgmt" },
      { type: "chardev" as const, id: "charserial0" },
    ];
    const steps = planRecovery(instances, {
      chardev: ["*", "charmonitor", "mgmt"],
      blockNode: [],
      migration: false,
    }, { spare: ["mg*"] });
    assert.deepEqual(steps, [{
      type: "chardev",
      instances: [{ type: "chardev", id: "charserial0" }],
      dead: false,
    }]);
  });

  await t.step("a disk selector yanks the NBD nodes behind the disk", () => {
    const steps = planRecovery(
      [
        { type: "block-node", "node-name": "libvirt-1-storage" },
        { type: "block-node", "node-name": "libvirt-2-storage" },
      ],
      { chardev: [], blockNode: [], migration: false, disk: ["vda"] },
      {
        disks: [
          { names: ["vda", "virtio-disk0"], nodes: ["libvirt-1-format", "libvirt-1-storage"] },
          { names: ["vdb", "virtio-disk1"], nodes: ["libvirt-2-format", "libvirt-2-storage"] },
        ],
      },
    );
    assert.deepEqual(steps, [{
      type: "block-node",
      instances: [{ type: "block-node", "node-name": "libvirt-1-storage" }],
      dead: false,
    }]);
  });

  await t.step("a dead peer is yanked first only where selectors, --spare and --disk allow", () => {
    const instances: YankInstance[] = [
      { type: "chardev", id: "mgmt" },
      { type: "chardev", id: "charserial0" },
      { type: "block-node", "node-name": "libvirt-1-storage" },
      { type: "block-node", "node-name": "libvirt-2-storage" },
    ];
    const steps = planRecovery(
      instances,
      { chardev: ["*"], blockNode: [], migration: false, disk: ["vda"] },
      {
        spare: ["mgmt"],
        disks: [
          { names: ["vda"], nodes: ["libvirt-1-format", "libvirt-1-storage"] },
          { names: ["vdb"], nodes: ["libvirt-2-format", "libvirt-2-storage"] },
        ],
        // mgmt is spared, libvirt-2-storage backs vdb, which is not selected.
        dead: [
          { type: "chardev", id: "mgmt" },
          { type: "block-node", "node-name": "libvirt-1-storage" },
          { type: "block-node", "node-name": "libvirt-2-storage" },
        ],
      },
    );
    assert.deepEqual(steps, [
      {
        type: "block-node",
        instances: [{ type: "block-node", "node-name": "libvirt-1-storage" }],
        dead: true,
      },
      { type: "chardev", instances: [{ type: "chardev", id: "charserial0" }], dead: false },
    ]);
  });

  await t.step("the backoff doubles from 0.1 s up to 5 s", () => {
    const delays = [100];
    while (delays.length < 8) delays.push(nextBackoff(delays.at(-1)!));
    assert.deepEqual(delays, [100, 200, 400, 800, 1600, 3200, 5000, 5000]);
  });
});

Deno.test("the proxy answers like QEMU and forwards only query-yank and yank", async (t) => {
  const fresh = { negotiated: false, oob: false };
  const ready = { negotiated: true, oob: true };
  const unknownOwn: ProxyContext = { ownChardev: undefined, path: "/run/yank/vm1.qmp" };
  const own: ProxyContext = { ownChardev: "yankmon", path: "/run/yank/vm1.qmp" };

  await t.step("before negotiation only qmp_capabilities works", () => {
    assert.deepEqual(decideRequest(fresh, { execute: "query-yank", id: 1 }, unknownOwn), {
      kind: "reply",
      reply: {
        error: {
          class: "CommandNotFound",
          desc: "Expecting capabilities negotiation with 'qmp_capabilities'",
        },
      },
    });
    assert.deepEqual(
      decideRequest(
        fresh,
        { execute: "qmp_capabilities", arguments: { enable: ["oob"] } },
        unknownOwn,
      ),
      { kind: "negotiate", oob: true },
    );
    assert.deepEqual(decideRequest(fresh, { "exec-oob": "query-yank" }, unknownOwn), {
      kind: "reply",
      reply: {
        error: { class: "GenericError", desc: "QMP input member 'exec-oob' is unexpected" },
      },
    });
  });

  await t.step("exec-oob needs oob negotiated", () => {
    const noOob = { negotiated: true, oob: false };
    assert.equal(decideRequest(noOob, { "exec-oob": "yank" }, unknownOwn).kind, "reply");
    assert.equal(decideRequest(noOob, { execute: "query-yank" }, unknownOwn).kind, "forward");
  });

  await t.step("query-yank and yank are forwarded with their arguments", () => {
    const args = { instances: [{ type: "block-node", "node-name": "nbd0" }] };
    assert.deepEqual(decideRequest(ready, { "exec-oob": "yank", arguments: args }, own), {
      kind: "forward",
      command: "yank",
      args,
    });
  });

  await t.step("everything else is CommandNotFound, as QEMU says of unknown commands", () => {
    for (const command of ["quit", "query-status", "human-monitor-command", "system_reset"]) {
      const decision = decideRequest(ready, { execute: command }, unknownOwn);
      assert.equal(decision.kind, "reply");
      assert.equal(
        decision.kind === "reply" && "error" in decision.reply && decision.reply.error.class,
        "CommandNotFound",
      );
    }
    assert.equal(
      decideRequest(ready, { execute: "qmp_capabilities" }, unknownOwn).kind,
      "reply",
    );
  });

  await t.step("query-chardev is answered here with the own chardev as the proxy's", () => {
    assert.deepEqual(decideRequest(ready, { execute: "query-chardev", id: 7 }, own), {
      kind: "reply",
      reply: {
        return: [{
          label: "yankmon",
          filename: "unix:/run/yank/vm1.qmp,server=on",
          "frontend-open": true,
        }],
      },
    });
    assert.deepEqual(decideRequest(ready, { execute: "query-chardev" }, unknownOwn), {
      kind: "reply",
      reply: { return: [] },
    });
    assert.deepEqual(decideRequest(ready, { "exec-oob": "query-chardev" }, own), {
      kind: "reply",
      reply: {
        error: { class: "GenericError", desc: "The command query-chardev does not support OOB" },
      },
    });
  });

  await t.step("a yank naming the watchdog's own chardev is refused", () => {
    const decision = decideRequest(ready, {
      execute: "yank",
      arguments: {
        instances: [{ type: "chardev", id: "charnet0" }, { type: "chardev", id: "yankmon" }],
      },
    }, own);
    assert.equal(decision.kind, "reply");
    assert.match(
      decision.kind === "reply" && "error" in decision.reply ? decision.reply.error.desc : "",
      /^Refusing to yank chardev "yankmon"/,
    );
  });

  await t.step("a yank naming any monitor's chardev or a --spare one is refused", () => {
    const spare: ProxyContext = { ...own, spare: ["mgmt*"] };
    for (const id of ["charmonitor", "compat_monitor0", "qmp", "qmp-event", "mgmt1"]) {
      const decision = decideRequest(ready, {
        "exec-oob": "yank",
        arguments: { instances: [{ type: "chardev", id: "charnet0" }, { type: "chardev", id }] },
      }, spare);
      const desc = decision.kind === "reply" && "error" in decision.reply
        ? decision.reply.error.desc
        : "";
      assert.match(
        desc,
        new RegExp(`^Refusing to yank chardev "${id}": it looks like a monitor's chardev \\(`),
        id,
      );
      // Only libvirt's own monitor is libvirt's.
      assert.equal(desc.includes("libvirt"), id === "charmonitor", desc);
    }
    const other = decideRequest(ready, {
      "exec-oob": "yank",
      arguments: { instances: [{ type: "chardev", id: "charserial0" }] },
    }, spare);
    assert.equal(other.kind, "forward");
  });

  await t.step("malformed input gets QEMU's errors; ids are echoed exactly", () => {
    assert.deepEqual(decideRequest(ready, [1, 2], unknownOwn), {
      kind: "reply",
      reply: { error: { class: "GenericError", desc: "QMP input must be a JSON object" } },
    });
    assert.deepEqual(decideRequest(ready, { execute: "yank", "exec-oob": "yank" }, unknownOwn), {
      kind: "reply",
      reply: {
        error: {
          class: "GenericError",
          desc: "QMP input member 'execute' clashes with 'exec-oob'",
        },
      },
    });
    const id = { complex: ["id", 1] };
    assert.deepEqual(withId({ return: {} }, { execute: "x", id }), { return: {}, id });
    assert.deepEqual(withId({ return: {} }, { execute: "x" }), { return: {} });
  });
});

Deno.test("watch's help and option summaries describe what watch really does", async (t) => {
  await t.step("the help lists every state the watchdog logs, in order", () => {
    const listed = /\nStates: ([^.]+)\./.exec(helpText("watch"))![1]!.split(/,\s+/);
    assert.deepEqual(listed, [...WATCH_STATES]);
  });

  await t.step("--listen is summarised as the proxy socket it serves", () => {
    assert.equal(OPTIONS.listen.summary, "serve the yank-only QMP proxy socket at this path");
  });
});
