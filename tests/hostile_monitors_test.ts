/**
 * Hostile or broken peers: a fake server sends garbage, wrong shapes, drips, silence, or closes
 * at each step, and yank must end with the documented exit code, exactly one line on stderr
 * naming the socket, no stack trace, and no wait past --timeout.
 *
 * The cases run `main()` in-process with a captured io and Deno's sanitizers on, so that a late
 * rejection, a timer left running or a socket left open fails the test too. A few run the real
 * CLI process as well, one per promise only a process shows: its exit status and stderr for
 * hostile bytes, for a timeout and for a bad command line, and its peak memory under a flood.
 */

import assert from "node:assert/strict";
import { withoutPeers } from "./support/table.ts";
import {
  type CliRun,
  runCli,
  runMain,
  STARTUP_ALLOWANCE_MS,
  TIMEOUT_ALLOWANCE_MS,
} from "./support/cli.ts";
import {
  delay,
  type FakeQmpConnection,
  type FakeQmpOptions,
  type FakeReplier,
  qemuGreeting,
  qmpLine,
  startFakeQmp,
} from "./support/fake_qmp.ts";
import { watchPeakRss } from "./support/peak_rss.ts";

const TIMEOUT_S = 2;
/** Leaks fail the test: yank must close what it opens even when the peer misbehaves. */
const SANITIZED = { sanitizeOps: true, sanitizeResources: true } as const;

interface Expectation {
  code: number;
  stderr?: RegExp;
  args?: string[];
  timeoutS?: number;
}

/** Runs `main()` in-process against a fake server built from `options`; checks the promises. */
async function runAgainst(options: FakeQmpOptions, expect: Expectation): Promise<CliRun> {
  await using server = await startFakeQmp(options);
  const timeoutS = expect.timeoutS ?? TIMEOUT_S;
  const args = [...(expect.args ?? ["list"]), "--socket", server.path, "-t", String(timeoutS)];
  const run = await runMain(args);
  assertWellBehaved(run, expect.code, timeoutS * 1000 + TIMEOUT_ALLOWANCE_MS);
  if (expect.code !== 0 || expect.stderr) {
    assertOneLine(run.stderr, expect.stderr);
    if (expect.code !== 0) assert.ok(run.stderr.includes(server.path), "names the socket");
  }
  return run;
}

function assertWellBehaved(run: CliRun, code: number, limitMs: number): void {
  assert.equal(run.code, code, `exit code; stderr: ${run.stderr}`);
  assert.doesNotMatch(run.stderr, /^\s+at /m, "no stack trace");
  assert.doesNotMatch(run.stderr, /error: Uncaught|Internal error/);
  assert.ok(run.elapsedMs < limitMs, `took ${Math.round(run.elapsedMs)} ms, limit ${limitMs}`);
}

function assertOneLine(stderr: string, pattern?: RegExp): void {
  assert.match(stderr, /^yank: [^\n]+\n$/, `one stderr line expected: ${JSON.stringify(stderr)}`);
  if (pattern) assert.match(stderr, pattern);
}

/**
 * Starts every run at once and returns them by name, so that cases which wait out --timeout
 * wait together. Each result is awaited in its own step; none is left unobserved meanwhile.
 */
function startAll<T>(runs: Record<string, () => Promise<T>>): Record<string, Promise<T>> {
  const started: Record<string, Promise<T>> = {};
  for (const [name, run] of Object.entries(runs)) {
    started[name] = run();
    started[name].catch(() => {}); // Observed by the step that awaits it.
  }
  return started;
}

/** A script that greets, negotiates, then hands each later command to `next`. */
function afterNegotiation(next: (connection: FakeQmpConnection) => Promise<void>) {
  return async (connection: FakeQmpConnection) => {
    await connection.send(qemuGreeting());
    const caps = await connection.nextCommand();
    if (caps === null) return;
    await connection.send({ return: {}, id: caps.id });
    await next(connection);
  };
}

const replyTo = (name: string, raw: string | Uint8Array): FakeReplier => (command) =>
  command.name === name ? { raw } : undefined;

Deno.test("hostile bytes end in exit 4, quickly", SANITIZED, async (t) => {
  await t.step("garbage instead of a greeting", async () => {
    await runAgainst({ greeting: "garbage\r\n" }, { code: 4, stderr: /does not speak QMP/ });
  });

  await t.step("garbage instead of a greeting, as a process: exit 4, one line", async () => {
    await using server = await startFakeQmp({ greeting: "garbage\r\n" });
    const run = await runCli(["list", "--socket", server.path, "-t", String(TIMEOUT_S)]);
    const limit = TIMEOUT_S * 1000 + TIMEOUT_ALLOWANCE_MS + STARTUP_ALLOWANCE_MS;
    assertWellBehaved(run, 4, limit);
    assertOneLine(run.stderr, /does not speak QMP/);
    assert.ok(run.stderr.includes(server.path), "names the socket");
    assert.equal(run.stdout, "");
  });

  await t.step("garbage instead of a reply", async () => {
    await runAgainst({ reply: replyTo("query-yank", "}{}\r\n") }, { code: 4 });
  });

  await t.step("invalid UTF-8 inside a reply", async () => {
    const bad = new Uint8Array([
      ...new TextEncoder().encode('{"return": "'),
      0xc3,
      0x28,
      0x22,
      0x7d,
    ]);
    await runAgainst({ reply: replyTo("query-yank", bad) }, {
      code: 4,
      stderr: /not valid UTF-8/,
    });
  });

  await t.step("deeply nested JSON", async () => {
    await runAgainst({ greeting: "[".repeat(1_000_000) }, { code: 4, stderr: /nests deeper/ });
  });

  await t.step("a top-level array as greeting", async () => {
    await runAgainst({ greeting: "[]\r\n" }, { code: 4, stderr: /not an object/ });
  });

  await t.step("a line that never ends: exit 4, bounded memory and bytes read", async () => {
    const chunk = new TextEncoder().encode("x".repeat(1024 * 1024));
    let written = 0;
    await using server = await startFakeQmp({
      script: afterNegotiation(async (connection) => {
        if (!await connection.write('{"return": "')) return;
        // 256 MiB if nobody stops it: far more than the 16 MiB limit.
        for (let i = 0; i < 256; i++) if (!await connection.write(chunk)) break;
        written = connection.bytesWritten;
      }),
    });
    let peak = 0;
    let watch: ReturnType<typeof watchPeakRss> | undefined;
    const run = await runCli(["list", "--socket", server.path, "-t", "10"], {
      onSpawn: (child) => watch = watchPeakRss(child.pid),
    });
    peak = watch!.stop();
    // The message limit, not --timeout, ended the run.
    assertWellBehaved(run, 4, 10_000 + TIMEOUT_ALLOWANCE_MS + STARTUP_ALLOWANCE_MS);
    assertOneLine(run.stderr, /message longer than 16777216 bytes/);
    await server.close();
    assert.ok(written < 64 * 1024 * 1024, `the client read ${written} bytes before giving up`);
    // Deno itself takes ~45 MB and this run peaks near 85 MB; a client that kept reading the
    // 256 MiB flood would pass 256 MB.
    assert.ok(peak === 0 || peak < 160 * 1024 * 1024, `peak RSS ${peak} bytes`);
  });
});

Deno.test("replies of the wrong shape end in a documented exit code", SANITIZED, async (t) => {
  await t.step("a greeting without capabilities: exit 4", async () => {
    await runAgainst({ greeting: { QMP: { version: {} } } }, {
      code: 4,
      stderr: /no list of capabilities/,
    });
  });

  await t.step("query-yank returning an object: exit 4", async () => {
    await runAgainst({ reply: (c) => c.name === "query-yank" ? { return: {} } : undefined }, {
      code: 4,
      stderr: /malformed reply: query-yank did not return a list/,
    });
  });

  await t.step("query-yank returning instances without ids: exit 4", async () => {
    await runAgainst({ instances: [{ type: "chardev" }] }, { code: 4, stderr: /without an id/ });
  });

  await t.step("an error object without a class: exit 4, a protocol error", async () => {
    await runAgainst(
      { reply: (c) => c.name === "query-yank" ? { error: {} as never } : undefined },
      { code: 4, stderr: /has no class/ },
    );
  });

  await t.step("replies with foreign ids only: exit 5 at --timeout", async () => {
    await runAgainst({
      reply: (c) =>
        c.name === "query-yank"
          ? { raw: qmpLine({ return: [], id: "someone-else" }) + qmpLine({ return: [], id: 7 }) }
          : undefined,
    }, { code: 5, timeoutS: 1 });
  });

  await t.step("the own reply after 10,000 events: exit 0", async () => {
    const event = qmpLine({ event: "JOB_STATUS_CHANGE", data: { id: "job0", status: "running" } });
    const run = await runAgainst({
      reply: (c) =>
        c.name === "query-yank"
          ? { raw: event.repeat(10_000) + qmpLine({ return: [{ type: "migration" }], id: c.id }) }
          : undefined,
    }, { code: 0, args: ["list", "--json"] });
    assert.deepEqual(withoutPeers(JSON.parse(run.stdout)), [{ type: "migration" }]);
  });
});

Deno.test("slow peers are waited for, up to --timeout", SANITIZED, async (t) => {
  // The cases that wait out --timeout all start now and wait together.
  const runs = startAll({
    drip: () =>
      runAgainst({
        script: async (connection) => {
          await connection.drip(qmpLine(qemuGreeting()), 1, 50);
          await connection.drain();
        },
      }, { code: 5, stderr: /busy/ }),
    noGreeting: () =>
      runAgainst({ greeting: null }, {
        code: 5,
        stderr: /is busy or QEMU is still starting: connected, but no QMP/,
      }),
    silent: () => runAgainst({ script: (connection) => connection.drain() }, { code: 5 }),
    noCapsReply: () =>
      runAgainst({
        script: async (connection) => {
          await connection.send(qemuGreeting());
          await connection.drain();
        },
      }, { code: 5, stderr: /main loop is hung: .* did not answer qmp_capabilities/ }),
    noOobReply: () =>
      runAgainst({ script: afterNegotiation((c) => c.drain()) }, {
        code: 5,
        stderr: /did not answer out-of-band query-yank/,
      }),
  });

  await t.step("a valid exchange dripped a byte at a time still succeeds", async () => {
    const run = await runAgainst({
      dripBytes: 1,
      dripDelayMs: 1,
      greeting: qmpLine(qemuGreeting()),
    }, {
      code: 0,
      args: ["list", "--json"],
      timeoutS: 5,
    });
    assert.equal(JSON.parse(run.stdout).length, 3);
  });

  await t.step("a drip slower than --timeout times out at --timeout: exit 5", async () => {
    const run = await runs.drip!;
    // Timers never fire early; the margin covers two clocks' rounding.
    assert.ok(run.elapsedMs >= TIMEOUT_S * 1000 - 50, "waited the whole --timeout");
  });

  await t.step("a greeting that never comes: exit 5, busy", async () => {
    await runs.noGreeting;
  });

  await t.step("a greeting that never comes, as a process: exit 5 within --timeout", async () => {
    await using server = await startFakeQmp({ greeting: null });
    const run = await runCli(["list", "--socket", server.path, "-t", "1"]);
    assertWellBehaved(run, 5, 1000 + TIMEOUT_ALLOWANCE_MS + STARTUP_ALLOWANCE_MS);
    assertOneLine(run.stderr, /is busy or QEMU is still starting: connected, but no QMP/);
  });

  await t.step("a server that accepts and reads but never writes: exit 5", async () => {
    await runs.silent;
  });

  await t.step("a greeting, then no capabilities reply: exit 5, hung main loop", async () => {
    await runs.noCapsReply;
  });

  await t.step("no reply to out-of-band query-yank: exit 5, I/O thread stuck", async () => {
    await runs.noOobReply;
  });
});

Deno.test("a server that closes at any step: exit 4, one line", SANITIZED, async (t) => {
  const steps: [string, FakeQmpOptions, string[]?][] = [
    ["before the greeting", { script: () => Promise.resolve() }],
    ["in the middle of the greeting", {
      script: (c) => c.write(qmpLine(qemuGreeting()).slice(0, 30)).then(() => {}),
    }],
    ["after the greeting", {
      script: async (c) => {
        await c.send(qemuGreeting());
        await c.nextCommand();
      },
    }],
    ["after the capabilities reply", { script: afterNegotiation(() => Promise.resolve()) }],
    ["in the middle of the query-yank reply", {
      script: afterNegotiation(async (c) => {
        await c.nextCommand();
        await c.write('{"return": [{"type": "chardev", "id": "char');
        await delay(50);
      }),
    }],
    ["after query-yank, before the yank", {
      reply: (c) => c.name === "query-chardev" || c.name === "yank" ? { close: true } : undefined,
    }, ["chardev", "charnet0"]],
    ["instead of the yank reply", {
      reply: (c) => c.name === "yank" ? { close: true } : undefined,
    }, ["chardev", "charnet0"]],
  ];
  for (const [when, options, args] of steps) {
    await t.step(when, async () => {
      await runAgainst(options, {
        code: 4,
        stderr: /was lost while waiting/,
        args: args ?? ["list"],
      });
    });
  }
});

Deno.test("control characters from the server never reach the terminal", SANITIZED, async (t) => {
  const hostile = [
    { type: "chardev", id: "evil\x1b]0;pwned\x07\x1b[2J" },
    { type: "chardev", id: "c1\x9b31m\u202eabc" },
    { type: "block-node", "node-name": "nbd\r\n0\x7f" },
  ];
  // deno-lint-ignore no-control-regex -- looking for control characters is the point.
  const unsafe = /[\x00-\x09\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]/;

  await t.step("the table shows them as escapes", async () => {
    const run = await runAgainst({ instances: hostile }, { code: 0 });
    assert.doesNotMatch(run.stdout, unsafe);
    assert.match(run.stdout, /evil\\x1b\]0;pwned\\x07\\x1b\[2J/);
    assert.match(run.stdout, /nbd\\x0d\\x0a0\\x7f/);
    assert.equal(run.stdout.trimEnd().split("\n").length, 4);
  });

  await t.step("the yank output shows them as escapes", async () => {
    const run = await runAgainst({ instances: hostile }, {
      code: 0,
      args: ["--chardev", "*", "--block-node", "*"],
    });
    assert.doesNotMatch(run.stdout, unsafe);
    assert.equal(run.stdout.trimEnd().split("\n").length, 3);
  });

  await t.step("--json keeps them exact", async () => {
    const run = await runAgainst({ instances: hostile }, { code: 0, args: ["list", "--json"] });
    assert.doesNotMatch(run.stdout, unsafe);
    assert.deepEqual(withoutPeers(JSON.parse(run.stdout)), hostile);
  });

  await t.step("error messages show them as escapes", async () => {
    const run = await runAgainst({
      reply: (c) =>
        c.name === "query-yank"
          ? { error: { class: "Generic\x1b[31mError", desc: "boom\x1b[2J\x9b\u202e" } }
          : undefined,
    }, { code: 1 });
    assert.doesNotMatch(run.stderr.slice(0, -1), unsafe);
  });

  await t.step("vanished instances named in errors show them as escapes", async () => {
    const run = await runAgainst({
      instances: [{ type: "chardev", id: "x\x9b2J" }],
      reply: (command, connection) => {
        if (command.name === "yank") connection.server.instances = [];
        return undefined;
      },
    }, { code: 3, args: ["--chardev", "x*"] });
    assert.doesNotMatch(run.stderr.slice(0, -1), unsafe);
  });
});

Deno.test("malformed command lines: exit 2 with a message", SANITIZED, async (t) => {
  for (
    const args of [
      ["frobnicate"],
      ["list", "--chardev", "x", "-s", "/x"],
      ["chardev", "-s", "/x"],
      ["chardev", "a[", "-s", "/x"],
      ["list", "-s", "/x", "--timeout", "5s"],
      ["list", "-s", "/x", "--timeout"],
      ["list"],
      ["\x1b[2J"],
    ]
  ) {
    await t.step(JSON.stringify(args), async () => {
      const run = await runMain(args);
      assertWellBehaved(run, 2, TIMEOUT_ALLOWANCE_MS);
      assert.equal(run.stdout, "");
      assertOneLine(run.stderr);
    });
  }

  await t.step("as a process: exit 2, one line, nothing on stdout", async () => {
    const run = await runCli(["frobnicate"]);
    assertWellBehaved(run, 2, TIMEOUT_ALLOWANCE_MS + STARTUP_ALLOWANCE_MS);
    assert.equal(run.stdout, "");
    assertOneLine(run.stderr);
  });
});
