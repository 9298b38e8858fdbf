/**
 * The examples in `yank COMMAND --help` are real: each `$ yank ...` example, those of check and
 * watch and reattach's first run against a real QEMU set up as the help describes and must print
 * what the help shows under them; every example is parsed by the real parser. The help is data
 * (lib/cli/help/), so these read the topics, not the rendered text.
 */

import assert from "node:assert/strict";
import { runMain } from "./support/cli.ts";
import { startWatch } from "./support/watch.ts";
import {
  addNbdNode,
  eventually,
  hungMainLoop,
  migrationStatus,
  type Qemu,
  QemuLab,
} from "./support/qemu_lab.ts";
import { QmpClient } from "../lib/qmp/client.ts";
import { helpText, helpTopic, TOPICS } from "../lib/cli/help.ts";
import {
  commandLine,
  everyCommandTakes,
  type Example,
  topicExamples,
  WIDTH,
} from "../lib/cli/help/model.ts";
import { exampleLines } from "../lib/cli/help/text.ts";
import { parseCliArgs } from "../lib/cli/args.ts";
import { COMMAND_OPTIONS, type CommandName, COMMANDS, option } from "../lib/cli/options.ts";

/** The socket the help's examples name; replaced by the lab's. */
const EXAMPLE_SOCKET = "/run/vm1.qmp";

interface Run {
  env: Record<string, string>;
  args: string[];
  /** What the help shows under the command ("" when it shows nothing). */
  output: string;
}

/** Splits a shell command line with '...' quoting and leading NAME=value assignments. */
function shellWords(line: string): { env: Record<string, string>; args: string[] } {
  const words = [...line.matchAll(/'([^']*)'|(\S+)/g)].map((m) => m[1] ?? m[2]!);
  const env: Record<string, string> = {};
  while (words.length > 0 && /^[A-Z_]+=/.test(words[0]!)) {
    const [name, ...value] = words.shift()!.split("=");
    env[name!] = value.join("=");
  }
  assert.equal(words.shift(), "yank", `an example runs yank: ${line}`);
  return { env, args: words };
}

/** The examples of a topic that are command lines, each with the output shown under it. */
function runs(topic: CommandName, kind: Example["kind"] = "run"): Run[] {
  return topicExamples(helpTopic(topic)).flatMap((example) =>
    example.kind === kind && example.kind !== "comment"
      ? [{
        ...shellWords(commandLine(example)),
        output: (example.output ?? []).map((line) => `${line}\n`).join(""),
      }]
      : []
  );
}

/** The VM of the help's examples: charnet0 and charnet1 on TCP peers, nbd0 on qemu-nbd. */
async function exampleVm(
  lab: QemuLab,
  socket?: string,
): Promise<{ qemu: Qemu; swaps: [string, string][] }> {
  const [peer0, peer1] = [lab.tcpPeer(), lab.tcpPeer()];
  const nbd = await lab.startNbd();
  const qemu = await lab.startQemu({
    ...(socket === undefined ? {} : { socket }),
    args: [
      "-chardev",
      `socket,id=charnet0,host=127.0.0.1,port=${peer0.port}`,
      "-chardev",
      `socket,id=charnet1,host=127.0.0.1,port=${peer1.port}`,
      "-blockdev",
      `driver=nbd,node-name=nbd0,server.type=unix,server.path=${nbd.socket}`,
    ],
  });
  const [conn0, conn1] = await Promise.all([peer0.accepted, peer1.accepted]);
  const local = (conn: Deno.Conn) => (conn.remoteAddr as Deno.NetAddr).port;
  // The lab's addresses, written as the help's.
  const swaps: [string, string][] = [
    [`127.0.0.1:${local(conn0)}`, "10.0.0.1:51000"],
    [`127.0.0.1:${local(conn1)}`, "10.0.0.1:51001"],
    [`"host":"127.0.0.1","port":"${local(conn0)}"`, `"host":"10.0.0.1","port":"51000"`],
    [`"host":"127.0.0.1","port":"${local(conn1)}"`, `"host":"10.0.0.1","port":"51001"`],
    [`127.0.0.1:${peer0.port}`, "10.0.0.2:4444"],
    [`127.0.0.1:${peer1.port}`, "10.0.0.2:4445"],
    [`"host":"127.0.0.1","port":"${peer0.port}"`, `"host":"10.0.0.2","port":"4444"`],
    [`"host":"127.0.0.1","port":"${peer1.port}"`, `"host":"10.0.0.2","port":"4445"`],
    [nbd.socket, "/run/nbd0.sock"],
  ];
  return { qemu, swaps };
}

/**
 * Output as the help shows it: the lab's addresses written as the help's, column padding and
 * the amount a migration sent made comparable (both vary with the lab's paths and timing).
 */
function comparable(text: string, swaps: readonly [string, string][]): string {
  for (const [from, to] of swaps) text = text.replaceAll(from, to);
  return text.replace(/[\d.]+ [KMG]iB sent/g, "N sent").replace(/ {2,}/g, "  ");
}

async function runExamples(
  t: Deno.TestContext,
  topic: CommandName,
  qemu: Qemu,
  swaps: [string, string][] = [],
): Promise<void> {
  const list = runs(topic);
  assert.ok(list.length > 0);
  for (const example of list) {
    const shown = [...Object.entries(example.env).map(([k, v]) => `${k}=${v}`), ...example.args];
    await t.step(`yank ${shown.join(" ")}`, async () => {
      const swap = (s: string) => s.replaceAll(EXAMPLE_SOCKET, qemu.socket);
      const env = Object.fromEntries(Object.entries(example.env).map(([k, v]) => [k, swap(v)]));
      const run = await runMain(example.args.map(swap), env);
      assert.equal(run.stderr, "");
      assert.equal(run.code, 0);
      const back = [[qemu.socket, EXAMPLE_SOCKET], ...swaps] as [string, string][];
      assert.equal(comparable(run.stdout, back), comparable(example.output, []));
    });
  }
}

for (const topic of ["list", "chardev", "block-node"] as const) {
  Deno.test(`the examples in "yank ${topic} --help" print what they show`, async (t) => {
    await using lab = await QemuLab.create();
    const { qemu, swaps } = await exampleVm(lab);
    await runExamples(t, topic, qemu, swaps);
  });
}

Deno.test(`the examples in "yank migration --help" print what they show`, async (t) => {
  await using lab = await QemuLab.create();
  // As in the help: one QMP socket, and a migration to a peer that accepts and never reads.
  const peer = lab.tcpPeer({ read: false });
  const qemu = await lab.startQemu({ args: ["-m", "8G"] });
  const setup = await QmpClient.connect(qemu.socket, { timeoutMs: 10_000 });
  try {
    await setup.execute("migrate", { uri: `tcp:127.0.0.1:${peer.port}` });
    await peer.accepted;
    assert.ok(await eventually(async () => (await migrationStatus(setup)) === "active", 10_000));
  } finally {
    setup.close(); // frees the only QMP socket for the examples
  }
  await runExamples(t, "migration", qemu);
});

/** An example's words with the help's paths replaced by the lab's. */
function swapped(words: string[], swaps: readonly [string, string][]): string[] {
  return words.map((word) => swaps.reduce((w, [from, to]) => w.replaceAll(from, to), word));
}

Deno.test(`the examples in "yank check --help" print what they show`, async (t) => {
  await using lab = await QemuLab.create();
  const [ok, hung, cron] = runs("check", "line");
  assert.ok(ok && hung && cron);
  // Latency varies from run to run.
  const comparable = (text: string) =>
    text.replace(/answered in [\d.]+ ms/, "answered in N ms").replace(
      /latency=[\d.]+s/,
      "latency=N",
    );

  // A VM whose monitor has three yank instances: its own chardev, and two on TCP peers.
  const dir = lab.path("qemu");
  await Deno.mkdir(dir);
  const [peer0, peer1] = [lab.tcpPeer(), lab.tcpPeer()];
  const qemu = await lab.startQemu({
    socket: `${dir}/vm1.qmp`,
    args: [
      "-chardev",
      `socket,id=charnet0,host=127.0.0.1,port=${peer0.port}`,
      "-chardev",
      `socket,id=charnet1,host=127.0.0.1,port=${peer1.port}`,
    ],
  });
  await Promise.all([peer0.accepted, peer1.accepted]);

  await t.step(`OK: yank ${ok.args.join(" ")}`, async () => {
    const run = await runMain(swapped(ok.args, [[EXAMPLE_SOCKET, qemu.socket]]));
    assert.equal(run.stderr, "");
    assert.equal(run.code, 0);
    assert.equal(comparable(run.stdout), comparable(ok.output));
  });

  await t.step(`cron: yank ${cron.args.join(" ")}`, async () => {
    const textfile = lab.path("yank.prom");
    const swaps: [string, string][] = [
      ["/run/qemu/", `${dir}/`],
      ["/var/lib/node_exporter/yank.prom", textfile],
    ];
    const run = await runMain(swapped(cron.args, swaps));
    assert.deepEqual([run.code, run.stdout, run.stderr], [0, "", ""]);
    const metrics = await Deno.readTextFile(textfile);
    assert.ok(metrics.includes(`yank_up{socket="${qemu.socket}"} 1\n`), metrics);
  });

  await t.step(`CRITICAL: yank ${hung.args.join(" ")}`, async () => {
    const { qemu: stuck } = await hungMainLoop(lab);
    const run = await runMain(swapped(hung.args, [[EXAMPLE_SOCKET, stuck.socket]]));
    assert.equal(run.stderr, "");
    assert.equal(run.code, 2);
    assert.equal(run.stdout.replaceAll(stuck.socket, EXAMPLE_SOCKET), hung.output);
  });
});

Deno.test(`the examples in "yank watch --help" watch, serve the proxy, and end on SIGTERM`, async (t) => {
  await using lab = await QemuLab.create();
  const [one, proxied, listed, host] = runs("watch", "line");
  assert.ok(one && proxied && listed && host);
  // The VM of list's examples, its monitor where the host example's glob finds it.
  const yankDir = lab.path("yank");
  await Deno.mkdir(`${yankDir}/proxy`, { recursive: true });
  const { qemu } = await exampleVm(lab, `${yankDir}/vm1.qmp`);
  const swaps: [string, string][] = [
    ["/run/vm1-yank-proxy.qmp", lab.path("vm1-yank-proxy.qmp")],
    ["/run/vm1-yank.qmp", qemu.socket],
    ["/run/yank/", `${yankDir}/`],
    ["/var/lib/node_exporter/textfile/yank.prom", lab.path("yank.prom")],
  ];

  await t.step(`yank ${one.args.join(" ")}`, async () => {
    const watch = await startWatch(swapped(one.args, swaps));
    const end = await watch.stop("SIGTERM");
    assert.equal(end.code, 0, end.stderr);
    assert.equal(end.stdout, "");
  });

  await t.step(`yank ${proxied.args.join(" ")}, then yank ${listed.args.join(" ")}`, async () => {
    const watch = await startWatch(swapped(proxied.args, swaps));
    try {
      const list = await runMain(swapped(listed.args, swaps));
      assert.equal(list.stderr, "");
      assert.equal(list.code, 0);
      assert.match(list.stdout, /^TYPE +NAME/);
      assert.match(list.stdout, /^block-node +nbd0 /m);
    } finally {
      const end = await watch.stop("SIGTERM");
      assert.equal(end.code, 0, end.stderr);
    }
  });

  await t.step(`yank ${host.args.join(" ")}`, async () => {
    const watch = await startWatch(swapped(host.args, swaps));
    try {
      const proxy = `${yankDir}/proxy/vm1.qmp`;
      assert.ok(await eventually(() => Deno.stat(proxy).then(() => true, () => false), 10_000));
      const textfile = lab.path("yank.prom");
      const running = new RegExp(`^yank_watch_running\\{socket="${qemu.socket}"\\} 1$`, "m");
      const read = () => Deno.readTextFile(textfile).catch(() => "");
      assert.ok(await eventually(async () => running.test(await read()), 10_000), await read());
    } finally {
      const end = await watch.stop("SIGTERM");
      assert.equal(end.code, 0, end.stderr);
    }
  });
});

Deno.test(`the first example in "yank reattach --help" prints what it shows`, async () => {
  await using lab = await QemuLab.create();
  const [example] = runs("reattach", "line");
  assert.ok(example);
  // As in list's examples, nbd0 on qemu-nbd (serving two clients, so the name is kept), and
  // the raw node fmt0 above it; nbd0 yanked as block-node's example yanks it.
  const nbd = await lab.startNbd(16, { shared: 2 });
  const qemu = await lab.startQemu({ monitors: 2 });
  const setup = await lab.qmp(qemu.extraSockets[0]!);
  await addNbdNode(setup, nbd);
  await setup.execute("blockdev-add", { driver: "raw", "node-name": "fmt0", file: "nbd0" });
  const yanked = await runMain(["block-node", "nbd0", "--socket", qemu.socket]);
  assert.equal(yanked.stdout, "yanked block-node nbd0\n", yanked.stderr);

  const run = await runMain(swapped(example.args, [[EXAMPLE_SOCKET, qemu.socket]]));
  assert.equal(run.stderr, "");
  assert.equal(run.code, 0);
  const inMs = (text: string) => text.replace(/ in \d+ ms$/m, " in N ms");
  assert.equal(inMs(run.stdout.replaceAll(nbd.socket, "/run/nbd0.sock")), inMs(example.output));
});

Deno.test("every example in every topic is a command line the parser takes", async (t) => {
  let checked = 0;
  for (const topic of TOPICS) {
    for (const example of topicExamples(topic)) {
      if (example.kind === "comment") continue;
      const line = commandLine(example);
      await t.step(`yank help ${topic.command}: ${line}`, () => {
        const { env, args } = shellWords(line);
        // The parser refuses an option that is not declared, or that the command does not take.
        const parsed = parseCliArgs(args, (name) => env[name]);
        for (const word of args.filter((arg) => arg.startsWith("--"))) {
          const name = word.slice(2).replace(/=.*/, "");
          assert.ok(
            (COMMAND_OPTIONS[parsed.command] as readonly string[]).includes(name),
            `${word} is an option of "yank ${parsed.command}"`,
          );
        }
        // And the help shows the example as written.
        const text = helpText(topic.command);
        for (const shown of exampleLines(example)) assert.ok(text.includes(shown), shown);
      });
      checked++;
    }
  }
  // Every topic has examples: the overview 5, list 2, chardev 4, block-node 2, migration 2,
  // check 3, watch 4, reattach 2, completions 5.
  assert.equal(checked, 29);
});

Deno.test("each Usage line names every option its command takes", () => {
  const inUsage = (command: CommandName) =>
    COMMAND_OPTIONS[command].filter((name) =>
      !option(name).hidden && !["help", "version"].includes(name)
    );
  const usageOf = (text: string) => /^Usage:[^]*?\n\n/m.exec(text)![0];
  const named = (usage: string) => [...usage.matchAll(/--([\w-]+)/g)].map((m) => m[1]!).sort();
  for (const command of COMMANDS.filter((c) => c !== "help")) {
    assert.deepEqual(named(usageOf(helpText(command))), inUsage(command).toSorted(), command);
  }
  // The overview: every command, the options each takes beyond those every command takes.
  const entries = usageOf(helpText("yank")).split(/\n(?= {2}yank )/);
  for (const command of ["yank", ...COMMANDS] as const) {
    const start = command === "yank" ? " yank [" : ` yank ${command} `;
    const lines = entries.find((entry) => entry.startsWith(` ${start}`));
    assert.ok(lines, `the overview's Usage shows "yank ${command}"`);
    assert.deepEqual(
      named(lines),
      inUsage(command).filter((name) => !everyCommandTakes(name)).toSorted(),
      `"yank ${command}" in the overview`,
    );
  }
});

Deno.test("no line of help is wider than 96 columns, but those of examples", () => {
  for (const topic of TOPICS) {
    const examples = new Set(topicExamples(topic).flatMap(exampleLines).map((l) => `  ${l}`));
    for (const line of helpText(topic.command).split("\n")) {
      if (examples.has(line)) continue;
      assert.ok(line.length <= WIDTH, `yank help ${topic.command}: ${line.length}: ${line}`);
    }
  }
});

Deno.test("the overview explains each selector-form option", () => {
  const overview = helpText("yank");
  for (const option of ["--chardev", "--block-node", "--migration", "--dry-run", "--force"]) {
    assert.match(overview, new RegExp(`^ +${option} .*\\w`, "m"), option);
  }
  assert.match(overview, /^ +--json +\w/m);
});

Deno.test("each command's help lists exactly the options the parser lets it take", () => {
  for (const command of ["yank", ...COMMANDS.filter((c) => c !== "help")] as const) {
    const listed = helpText(command).match(/^ {2}(?:-\w, | {4})--[\w-]+/gm)!
      .map((line) => line.replace(/^.*--/, ""));
    const taken = COMMAND_OPTIONS[command].filter((name) => !option(name).hidden);
    assert.deepEqual(listed.sort(), taken.toSorted(), command);
    for (const name of taken) {
      const args = [...(command === "yank" ? [] : [command]), `--${name}`];
      if (option(name).type === "string") args.push("x");
      try {
        parseCliArgs(args, () => undefined);
      } catch (error) {
        assert.doesNotMatch(String(error), /does not take/, args.join(" "));
      }
    }
  }
});
