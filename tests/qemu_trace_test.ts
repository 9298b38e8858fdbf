/**
 * `--trace` against real QEMU: stdout is untouched, and stderr carries one parseable line per
 * QMP message, `TIME SOCKET DIRECTION JSON`, in the order the conversation happened.
 * One traced run is a real process (its stderr as a user gets it); the rest run in-process.
 */

import assert from "node:assert/strict";
import { runCli, runMain } from "./support/cli.ts";
import { chardevConnectedToPeer, QemuLab } from "./support/qemu_lab.ts";
import { traceTo } from "../lib/cli/monitor.ts";
import type { CliIo } from "../lib/cli/io.ts";

interface TraceLine {
  time: string;
  socket: string;
  direction: string;
  message: Record<string, unknown>;
}

const TRACE_LINE = /^(\S+) (.+?) (->|<-|<- \(dropped\)) (\{.*\})$/;

function parseTrace(stderr: string): TraceLine[] {
  assert.ok(stderr.endsWith("\n"), "stderr ends with a newline");
  return stderr.slice(0, -1).split("\n").map((line) => {
    const match = TRACE_LINE.exec(line);
    assert.ok(match, `a trace line: ${line}`);
    const [, time, socket, direction, json] = match;
    assert.equal(new Date(time!).toISOString(), time, "the time is ISO 8601 in UTC");
    return { time: time!, socket: socket!, direction: direction!, message: JSON.parse(json!) };
  });
}

/** A summary of one line, for comparing conversations: direction plus the command or reply. */
function gist(line: TraceLine): string {
  const m = line.message;
  if ("QMP" in m) return `${line.direction} greeting`;
  if ("execute" in m) return `${line.direction} execute ${m.execute}`;
  if ("exec-oob" in m) return `${line.direction} exec-oob ${m["exec-oob"]}`;
  if ("return" in m) return `${line.direction} return`;
  if ("error" in m) return `${line.direction} error`;
  return `${line.direction} ${JSON.stringify(m)}`;
}

Deno.test("--trace leaves stdout alone and traces the QMP conversation on stderr", async (t) => {
  await using lab = await QemuLab.create();
  const { qemu } = await chardevConnectedToPeer(lab);

  await t.step("list: greeting, qmp_capabilities with oob, exec-oob query-yank", async () => {
    const plain = await runMain(["list", "--socket", qemu.socket]);
    const traced = await runCli(["list", "--socket", qemu.socket, "--trace"]);
    assert.equal(plain.stderr, "");
    assert.equal(traced.code, 0);
    assert.equal(traced.stdout, plain.stdout);
    const lines = parseTrace(traced.stderr);
    const gists = lines.map(gist);
    assert.deepEqual(gists.slice(0, 3), [
      "<- greeting",
      "-> execute qmp_capabilities",
      "<- return",
    ]);
    // The in-band peer queries go out with the out-of-band query-yank; replies come in any order.
    const sent = lines.slice(3).filter((l) => l.direction === "->");
    assert.deepEqual(sent.map(gist), [
      "-> execute query-chardev",
      "-> execute query-named-block-nodes",
      "-> execute query-block",
      "-> execute query-migrate",
      "-> exec-oob query-yank",
    ]);
    const replies = lines.slice(3).filter((l) => l.direction === "<-");
    assert.deepEqual(replies.map(gist), Array(5).fill("<- return"));
    for (const line of lines) assert.equal(line.socket, qemu.socket);
    assert.deepEqual(lines[1]!.message.arguments, { enable: ["oob"] });
    assert.equal(lines[2]!.message.id, lines[1]!.message.id, "the reply matches by id");
    const ids = (group: typeof lines) => group.map((l) => String(l.message.id)).sort();
    assert.deepEqual(ids(replies), ids(sent), "every reply matches a command by id");
    assert.ok(!ids(sent).includes(String(lines[1]!.message.id)));
    const times = lines.map((l) => Date.parse(l.time));
    assert.deepEqual(times, [...times].sort((a, b) => a - b), "times never go backwards");
  });

  await t.step("list --json: the same JSON on stdout with or without --trace", async () => {
    const plain = await runMain(["list", "--json", "--socket", qemu.socket]);
    const traced = await runMain(["list", "--json", "--trace", "--socket", qemu.socket]);
    assert.equal(traced.stdout, plain.stdout);
    assert.equal(parseTrace(traced.stderr).length, 13);
  });

  await t.step("chardev: the yank itself is traced, out-of-band, with its instance", async () => {
    const traced = await runMain(["chardev", "charnet0", "--trace", "--socket", qemu.socket]);
    assert.equal(traced.code, 0);
    assert.equal(traced.stdout, "yanked chardev charnet0\n");
    const lines = parseTrace(traced.stderr);
    const gists = lines.map(gist);
    assert.deepEqual(gists.slice(0, 4), [
      "<- greeting",
      "-> execute qmp_capabilities",
      "<- return",
      "-> exec-oob query-yank",
    ]);
    // query-chardev (to spare yank's own monitor) goes out in the same round trip.
    assert.deepEqual(gists.slice(4, 7).sort(), [
      "-> execute query-chardev",
      "<- return",
      "<- return",
    ]);
    assert.deepEqual(gists.slice(-2), ["-> exec-oob yank", "<- return"]);
    assert.deepEqual(lines.at(-2)!.message.arguments, {
      instances: [{ type: "chardev", id: "charnet0" }],
    });
  });

  await t.step("a failure still ends with its one yank: line after the trace", async () => {
    const traced = await runMain(["chardev", "nosuch", "--trace", "--socket", qemu.socket]);
    assert.equal(traced.code, 3);
    assert.equal(traced.stdout, "");
    const lines = traced.stderr.trimEnd().split("\n");
    assert.match(lines.at(-1)!, /^yank: .*"nosuch"/);
    assert.equal(lines.filter((l) => l.startsWith("yank: ")).length, 1);
    parseTrace(`${lines.slice(0, -1).join("\n")}\n`);
  });
});

Deno.test("traceTo writes terminal controls inside the JSON as \\u escapes", () => {
  const written: string[] = [];
  const io: CliIo = {
    stdout: () => assert.fail("trace writes to stdout"),
    stderr: (text) => written.push(text),
    env: () => undefined,
    stdoutIsTerminal: true,
    stderrIsTerminal: true,
    now: () => Date.UTC(2024, 0, 2, 3, 4, 5, 6),
  };
  const hostile = JSON.stringify({ return: [{ type: "chardev", id: "a\u009b2J\u202eb" }] });
  traceTo(io, "/run/vm1.qmp")("recv", hostile);
  assert.equal(
    written.join(""),
    '2024-01-02T03:04:05.006Z /run/vm1.qmp <- {"return":[{"type":"chardev","id":"a\\u009b2J\\u202eb"}]}\n',
  );
  const json = written[0]!.split(" <- ")[1]!;
  assert.deepEqual(JSON.parse(json), JSON.parse(hostile), "still the same JSON");
});
