/**
 * The examples in `yank COMMAND --help` are real: each `$ yank ...` line is run against a real
 * QEMU set up as the help describes, and must print exactly the output shown under it.
 */

import assert from "node:assert/strict";
import { runMain } from "./support/cli.ts";
import { eventually, migrationStatus, type Qemu, QemuLab } from "./support/qemu_lab.ts";
import { QmpClient } from "../lib/qmp/client.ts";
import { helpText } from "../lib/cli/help.ts";
import { parseCliArgs } from "../lib/cli/args.ts";
import { COMMAND_OPTIONS, type CommandName, COMMANDS, option } from "../lib/cli/options.ts";

/** The socket the help's examples name; replaced by the lab's. */
const EXAMPLE_SOCKET = "/run/vm1.qmp";

interface Example {
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

/** The `$ ` examples of a help topic, each with the output lines under it. */
function examples(topic: CommandName): Example[] {
  const text = helpText(topic);
  const section = text.split("\nExamples:\n")[1];
  assert.ok(section, `"yank help ${topic}" has examples`);
  const found: Example[] = [];
  for (const line of section.split("\n")) {
    if (!line.startsWith("  ")) {
      if (line === "") continue;
      break;
    }
    const body = line.slice(2);
    if (body.startsWith("$ ")) {
      found.push({ ...shellWords(body.slice(2)), output: "" });
    } else {
      assert.ok(found.length > 0, `output before any command in "yank help ${topic}"`);
      found.at(-1)!.output += `${body}\n`;
    }
  }
  return found;
}

/** The VM of the help's examples: charnet0 and charnet1 on TCP peers, nbd0 on qemu-nbd. */
async function exampleVm(lab: QemuLab): Promise<{ qemu: Qemu; swaps: [string, string][] }> {
  const [peer0, peer1] = [lab.tcpPeer(), lab.tcpPeer()];
  const nbd = await lab.startNbd();
  const qemu = await lab.startQemu({
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
  const list = examples(topic);
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

Deno.test("every example in the overview and in completions is a valid command line", () => {
  for (const [topic, count] of [["yank", 5], ["completions", 3]] as const) {
    let checked = 0;
    for (const line of helpText(topic).split("\n")) {
      const command = /^\s+(?:\w+\s+)?\$ (.*?)(?:\s{2,}\(.*)?$/.exec(line)?.[1];
      if (command === undefined) continue;
      const { env, args } = shellWords(command.replace(/\s*>.*$/, ""));
      assert.doesNotThrow(() => parseCliArgs(args, (name) => env[name]), command);
      checked++;
    }
    assert.equal(checked, count, `examples found in "yank help ${topic}"`);
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
