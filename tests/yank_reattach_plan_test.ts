/**
 * The pure parts of reattach: the plan from QEMU's replies and the kernel's counts, ss's
 * shutdown marks, the textfile counter, and watch's retry loop with a fake reattach and clock.
 */

import assert from "node:assert/strict";
import {
  NothingToReattachError,
  planReattach,
  ReattachRefusedError,
} from "../lib/yank/reattach_plan.ts";
import { parseSs } from "../lib/liveness/ss.ts";
import { SocketCounters } from "../lib/health/counters.ts";
import { REATTACH_MAX_MS, ReattachLoop } from "../lib/watch/reattach_loop.ts";
import { type ReattachResult, ServerNotAnsweringError } from "../lib/yank/reattach.ts";
import type { QmpClient } from "../lib/qmp/client.ts";

function nbdNode(name: string, file: string, extra: Record<string, unknown> = {}) {
  return {
    "node-name": name,
    drv: "nbd",
    file,
    ro: false,
    cache: { writeback: true, direct: false, "no-flush": false },
    detect_zeroes: "off",
    ...extra,
  };
}

function rawNode(name: string, file: string) {
  return { ...nbdNode(name, file), drv: "raw" };
}

/** A block graph: nodes by name and type, edges as [parent, child, role]. */
function graph(nodes: [string, string][], edges: [string, string, string][]) {
  const id = (name: string) => nodes.findIndex(([n]) => n === name) + 1;
  return {
    nodes: nodes.map(([name, type]) => ({ name, type, id: id(name) })),
    edges: edges.map(([parent, child, name]) => ({ parent: id(parent), child: id(child), name })),
  };
}

const SOCKET = "/run/vm1.qmp";
const FILE = "nbd+unix:///50%?socket=/run/nbd a+b.sock";

/** fmt0 (raw) over st0 (NBD on FILE) with `open` connections left: what QEMU shows of VM1. */
function rawOverNbd(open: number) {
  return {
    namedBlockNodes: [rawNode("fmt0", FILE), nbdNode("st0", FILE)],
    blockGraph: graph([["fmt0", "block-driver"], ["st0", "block-driver"]], [[
      "fmt0",
      "st0",
      "file",
    ]]),
    openConnections: new Map([["st0", open]]),
    socket: SOCKET,
  };
}

Deno.test("planReattach", async (t) => {
  await t.step("a yanked node under a raw node: server, export and options kept verbatim", () => {
    const plan = planReattach(rawOverNbd(0), { blockNode: [], disk: [] });
    assert.deepEqual(plan.refused, []);
    assert.equal(plan.targets.length, 1);
    const [target] = plan.targets;
    assert.deepEqual(target!.node.options, {
      driver: "nbd",
      server: { type: "unix", path: "/run/nbd a+b.sock" },
      export: "50%",
      "read-only": false,
      cache: { direct: false, "no-flush": false },
      "detect-zeroes": "off",
    });
    assert.equal(target!.parent.name, "fmt0");
    assert.equal(target!.parent.role, "file");
    // Nothing above fmt0 writes through it: a reopen is safe.
    assert.equal(target!.parent.swap, "reopen");
  });

  await t.step("under a device the parent is swapped by a mirror, and the disk is named", () => {
    const plan = planReattach({
      namedBlockNodes: [rawNode("fmt0", FILE), nbdNode("st0", FILE)],
      blockGraph: graph(
        [["/machine/peripheral/vdisk0/virtio-backend", "block-backend"], [
          "fmt0",
          "block-driver",
        ], ["st0", "block-driver"]],
        [["/machine/peripheral/vdisk0/virtio-backend", "fmt0", "root"], ["fmt0", "st0", "file"]],
      ),
      openConnections: new Map([["st0", 0]]),
      socket: SOCKET,
    }, { blockNode: [], disk: ["vd*"] });
    assert.equal(plan.targets[0]!.parent.swap, "mirror");
    assert.deepEqual(plan.targets[0]!.disks, ["vdisk0"]);
  });

  await t.step("a node named exactly that was never yanked is refused (exit 3)", () => {
    const plan = planReattach(rawOverNbd(1), { blockNode: ["st0"], disk: [] });
    assert.deepEqual(plan.targets, []);
    assert.deepEqual(plan.open, ["st0"]);
    assert.ok(plan.refused[0]!.error instanceof NothingToReattachError);
    assert.match(plan.refused[0]!.error.message, /was never yanked/);
    // A glob passes over it silently.
    const globbed = planReattach({
      namedBlockNodes: [nbdNode("st0", FILE)],
      blockGraph: graph([["st0", "block-driver"]], []),
      openConnections: new Map([["st0", 1]]),
      socket: SOCKET,
    }, { blockNode: ["st*"], disk: [] });
    assert.deepEqual(globbed.refused, []);
  });

  await t.step("a device's root node and a node without parent are refused (exit 2)", () => {
    for (
      const [blockGraph, why] of [
        [graph([["st0", "block-driver"]], []), /it has no parent node/],
        [
          graph([["vdisk0", "block-backend"], ["st0", "block-driver"]], [[
            "vdisk0",
            "st0",
            "root",
          ]]),
          /it is the root node of device "vdisk0"/,
        ],
      ] as const
    ) {
      const plan = planReattach({
        namedBlockNodes: [nbdNode("st0", FILE)],
        blockGraph,
        openConnections: new Map([["st0", 0]]),
        socket: SOCKET,
      }, { blockNode: [], disk: [] });
      assert.ok(plan.refused[0]!.error instanceof ReattachRefusedError);
      assert.equal(plan.refused[0]!.error.kind, "usage");
      assert.match(plan.refused[0]!.error.message, why);
    }
  });

  await t.step("nodes sharing a server, some still connected: one refusal naming them all", () => {
    const plan = planReattach({
      namedBlockNodes: [nbdNode("a", FILE), nbdNode("b", FILE)],
      blockGraph: graph([["a", "block-driver"], ["b", "block-driver"]], []),
      openConnections: new Map([["a", 1], ["b", 1]]),
      socket: SOCKET,
    }, { blockNode: [], disk: [] });
    assert.equal(plan.refused.length, 1);
    assert.match(plan.refused[0]!.error.message, /which of block-nodes "a", "b" .* were yanked/);
  });

  await t.step("a json: filename's options are kept, raw's offset passes to the parent", () => {
    const json =
      'json:{"driver":"nbd","server":{"type":"inet","host":"::1","port":"10809","ipv6":true},"export":"d 1","reconnect-delay":5}';
    const plan = planReattach({
      namedBlockNodes: [
        { ...rawNode("fmt0", `json:{"driver":"raw","offset":4096,"file":${json.slice(5)}}`) },
        nbdNode("st0", json),
      ],
      blockGraph: graph([["fmt0", "block-driver"], ["st0", "block-driver"]], [[
        "fmt0",
        "st0",
        "file",
      ]]),
      openConnections: new Map([["st0", 0]]),
      socket: SOCKET,
    }, { blockNode: [], disk: [] });
    const [target] = plan.targets;
    assert.deepEqual(target!.node.options.server, {
      type: "inet",
      host: "::1",
      port: "10809",
      ipv6: true,
    });
    assert.equal(target!.node.options.export, "d 1");
    assert.equal(target!.node.options["reconnect-delay"], 5);
    assert.equal(target!.parent.options.offset, 4096);
    assert.equal(target!.parent.options.driver, "raw");
  });
});

Deno.test("parseSs reads ss -e's shutdown marks", () => {
  const sockets = parseSs([
    'u_str ESTAB 0 0 * 34400 * 0 users:(("qemu-system-x86",pid=10731,fd=13)) ---',
    'u_str ESTAB 0 0 * 46613 * 46614 users:(("qemu-system-x86",pid=10731,fd=16)) <->',
    'tcp FIN-WAIT-1 0 1 127.0.0.1:40032 127.0.0.1:10899 users:(("qemu-system-x86",pid=10731,fd=14)) timer:(on,184ms,0) ino:47374 sk:22d cgroup:/ ---',
    'tcp CLOSE-WAIT 1 0 127.0.0.1:10899 127.0.0.1:40032 users:(("qemu-nbd",pid=16176,fd=9)) ino:47375 sk:230 cgroup:/ -->',
    "u_str ESTAB 0 0 * 1 * 2",
  ].join("\n"));
  assert.deepEqual(sockets.map((s) => s.shutDown), [true, false, true, true, undefined]);
});

Deno.test("the reattach counter has a sample per result from the start, and counts each attempt", () => {
  const counters = new SocketCounters();
  const socket = '/run/a "b".qmp';
  const zero = counters.lines("reattachAttempts", socket);
  assert.deepEqual(zero, [
    'yank_reattach_attempts_total{socket="/run/a \\"b\\".qmp",result="reattached"} 0',
    'yank_reattach_attempts_total{socket="/run/a \\"b\\".qmp",result="waiting"} 0',
    'yank_reattach_attempts_total{socket="/run/a \\"b\\".qmp",result="refused"} 0',
    'yank_reattach_attempts_total{socket="/run/a \\"b\\".qmp",result="failed"} 0',
  ]);
  counters.add("reattachAttempts", { result: "waiting" });
  counters.add("reattachAttempts", { result: "waiting" });
  counters.add("reattachAttempts", { result: "reattached" });
  assert.deepEqual(counters.lines("reattachAttempts", socket).map((line) => line.split("} ")[1]), [
    "1",
    "2",
    "0",
    "0",
  ]);
});

Deno.test("ReattachLoop retries with a pause doubling from 1 s to 60 s while a server does not answer", async () => {
  const pauses: number[] = [];
  const logged: string[] = [];
  const counted: string[] = [];
  let attempts = 0;
  const waiting = (): ReattachResult => ({
    reattached: [],
    refused: [{ node: "st0", error: new ServerNotAnsweringError("NBD server x does not answer") }],
  });
  const loop = new ReattachLoop({
    selectors: { blockNode: [], disk: [] },
    dryRun: false,
    resume: false,
    timeoutMs: 1000,
    log: (state, message) => logged.push(`${state} ${message}`),
    onAttempt: (result) => counted.push(result),
    signal: new AbortController().signal,
    sleep: (ms) => {
      pauses.push(ms);
      return Promise.resolve(true);
    },
    reattach: () => {
      attempts++;
      if (attempts < 9) return Promise.resolve(waiting());
      return Promise.resolve({ reattached: [], refused: [] });
    },
  });
  loop.start({ isClosed: false } as QmpClient);
  await loop.settled();
  assert.deepEqual(pauses, [1000, 2000, 4000, 8000, 16000, 32000, 60000, 60000, 60000]);
  assert.equal(REATTACH_MAX_MS, 60000);
  assert.equal(counted.filter((c) => c === "waiting").length, 8);
  assert.match(logged[0]!, /^reattach-waiting NBD server x does not answer; next attempt in 2 s$/);
});

Deno.test("the reattach options are usage errors where they do not apply", async () => {
  const { runMain } = await import("./support/cli.ts");
  const resume = await runMain(["watch", "--socket", "/nonexistent.qmp", "--resume"]);
  assert.deepEqual([resume.code, resume.stdout], [2, ""]);
  assert.equal(resume.stderr, 'yank: --resume needs --reattach (see "yank watch --help")\n');
  const list = await runMain(["list", "--socket", "/nonexistent.qmp", "--resume"]);
  assert.equal(list.code, 2);
  assert.match(list.stderr, /^yank: "yank list" does not take --resume/);
  const extra = await runMain(["reattach", "st0", "--socket", "/nonexistent.qmp"]);
  assert.equal(extra.code, 2);
  assert.match(extra.stderr, /^yank: "yank reattach" takes no argument "st0"/);
});
