/**
 * The watchdog against a scripted QMP server, for what real QEMU cannot be made to do on
 * demand: a query-yank that fails during a hang, a yank that does not end it at first.
 */

import assert from "node:assert/strict";
import { Watchdog } from "../lib/watch/watchdog.ts";
import { SocketCounters } from "../lib/health/counters.ts";
import { type FakeQmpConnection, startFakeQmp } from "./support/fake_qmp.ts";
import type { ReceivedCommand } from "./support/fake_qmp.ts";

const STATUS = { status: "running", singlestep: false, running: true };

/**
 * A QEMU whose main loop hangs at the second query-status and answers it again on the
 * `release`-th yank during the hang; `failQueryYank` query-yanks during the hang fail first.
 * Only what happens during that hang is counted: on a loaded machine the first probe may be
 * answered late, and the watchdog's recovery from that false alarm must not shift the script.
 */
async function hangingQemu(options: { failQueryYank: number; release: number }) {
  let statuses = 0;
  let held: { command: ReceivedCommand; connection: FakeQmpConnection } | undefined;
  let queryYanksInHang = 0;
  let yanks = 0;
  let statusesWhenReleased: number | undefined;
  const inHang = () => held !== undefined && statusesWhenReleased === undefined;
  const fake = await startFakeQmp({
    reply: (command, connection) => {
      if (
        command.name === "query-status" && ++statuses >= 2 && statusesWhenReleased === undefined
      ) {
        held = { command, connection };
        return { silent: true };
      }
      if (command.name === "query-yank" && inHang()) {
        if (++queryYanksInHang <= options.failQueryYank) {
          return { error: { class: "GenericError", desc: "scripted failure" } };
        }
      }
      if (command.name === "yank" && inHang() && ++yanks === options.release) {
        statusesWhenReleased = statuses;
        const { command: probe, connection: conn } = held!;
        setTimeout(() => conn.send({ return: STATUS, id: probe.id }), 10);
      }
      return undefined;
    },
  });
  return {
    fake,
    counts: () => ({ queryYanksInHang, yanks, statusesWhenReleased }),
    released: () => statusesWhenReleased !== undefined,
  };
}

/** Runs a watchdog until `until(line)` holds (or 10 s pass); returns every line. */
async function watchUntil(
  socket: string,
  until: (line: string) => boolean,
  timeoutMs = 2000,
  dryRun = false,
  counters?: SocketCounters,
): Promise<string[]> {
  const lines: string[] = [];
  const stop = new AbortController();
  const watchdog = new Watchdog({
    socket,
    counters,
    selectors: { chardev: [], blockNode: ["nbd0"], migration: false },
    intervalMs: 50,
    hangAfterMs: 200,
    timeoutMs,
    dryRun,
    log: (line) => {
      lines.push(line);
      if (until(line)) stop.abort();
    },
    now: Date.now,
    signal: stop.signal,
  });
  const timer = setTimeout(() => stop.abort(), 10_000);
  try {
    await watchdog.run();
  } finally {
    clearTimeout(timer);
  }
  return lines;
}

/**
 * Asserts that lines matching `patterns` occur in this order. Other lines may come between:
 * a probe answered late on a loaded machine adds a false alarm and its recovery.
 */
function assertLinesInOrder(lines: string[], patterns: RegExp[]): void {
  let from = 0;
  for (const pattern of patterns) {
    const at = lines.slice(from).findIndex((line) => pattern.test(line));
    assert.ok(at >= 0, `a line matching ${pattern} after line ${from} in:\n${lines.join("\n")}`);
    from += at + 1;
  }
}

Deno.test("while the main loop stays hung, the watchdog runs recovery passes again", async (t) => {
  await t.step("a query-yank that fails during the hang is followed by a fresh one", async () => {
    const { fake, counts, released } = await hangingQemu({ failQueryYank: 1, release: 1 });
    await using _ = fake;
    const lines = await watchUntil(fake.path, (l) => released() && /state=recovered/.test(l));
    assertLinesInOrder(lines, [
      /state=connected /,
      /state=hung .*within 0\.2 s, and query-yank failed: .*scripted failure/,
      /state=still-hung .*recovery pass 2 in 0\.2 s/,
      // A fake QEMU has no process whose sockets could be judged.
      /state=judged .*no evidence about the matched peers \(.*\): yanking every match/,
      /state=hung .*recovery pass 2, main loop hung for .*will yank in 1 step\(s\)/,
      /state=yanking /,
      /state=recovered /,
      /state=stopped /,
    ]);
    assert.deepEqual(counts(), { queryYanksInHang: 2, yanks: 1, statusesWhenReleased: 2 });
  });

  await t.step("a pass whose yanks do not end the hang is followed by another", async () => {
    const { fake, counts, released } = await hangingQemu({ failQueryYank: 0, release: 2 });
    await using _ = fake;
    const counters = new SocketCounters();
    const lines = await watchUntil(
      fake.path,
      (l) => released() && /state=recovered/.test(l),
      2000,
      false,
      counters,
    );
    assertLinesInOrder(lines, [
      /state=connected /,
      /state=judged /,
      /state=hung /,
      /state=yanking /,
      /state=still-hung .*after yanking block-node \\"nbd0\\"; recovery pass 2/,
      /state=judged /,
      /state=hung /,
      /state=yanking /,
      /state=recovered /,
      /state=stopped /,
    ]);
    // One probe stayed in flight through both passes; each pass listed the instances afresh.
    assert.deepEqual(counts(), { queryYanksInHang: 2, yanks: 2, statusesWhenReleased: 2 });
    // Without evidence every yank is a fallback, one instance each; a probe answered late on a
    // loaded machine may add a hang of its own, recovered as well.
    const yanks = fake.commands.filter((c) => c.name === "yank").length;
    assert.equal(counters.value("yanked", { type: "block-node", reason: "fallback" }), yanks);
    assert.equal(counters.value("yanked", { type: "block-node", reason: "dead-peer" }), 0);
    assert.ok(counters.value("hangs")! >= 1);
    assert.equal(counters.value("recoveries"), counters.value("hangs"));
    assert.ok(counters.value("lastRecovery")! > 0);
  });
});

Deno.test("--dry-run says what it would yank, never that it is yanking", async () => {
  const { fake, counts } = await hangingQemu({ failQueryYank: 0, release: 1 });
  await using _ = fake;
  const lines = await watchUntil(fake.path, (l) => /state=would-yank/.test(l), 2000, true);
  assertLinesInOrder(lines, [
    /state=judged .*no evidence about the matched peers \(.*\): would yank every match/,
    /state=hung .*would yank in 1 step\(s\): block-node \\"nbd0\\"/,
    /state=would-yank .*would yank block-node \\"nbd0\\" \(dry run\)/,
  ]);
  assert.ok(!lines.some((l) => /yanking|will yank/.test(l)), lines.join("\n"));
  assert.equal(counts().yanks, 0);
});

Deno.test("a hang met while connecting is logged as watch's own situation, not the one-shot advice", async () => {
  await using fake = await startFakeQmp({
    reply: (command) => command.name === "qmp_capabilities" ? { silent: true } : undefined,
  });
  const lines = await watchUntil(fake.path, (l) => /state=hung/.test(l), 200);
  const hung = lines.find((l) => /state=hung/.test(l))!;
  assert.match(
    hung,
    /msg="QEMU's main loop is hung: it did not answer qmp_capabilities within 0\.2 s while watch was connecting, so watch has no connection to yank through until the main loop answers \(a watchdog must connect while QEMU is healthy\); retrying"$/,
  );
  assert.doesNotMatch(hung, /yank watch/);
});
