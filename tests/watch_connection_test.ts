/**
 * The watchdog's seams (lib/watch/connection.ts): the connect function and the `ss` runner are
 * handed in, so a test decides what connecting does and what the kernel shows, without a QEMU
 * or a root shell. The monitor path the watchdog is given need not exist: the fake connect
 * reaches a scripted QMP server instead.
 */

import assert from "node:assert/strict";
import { QmpClient, type QmpClientOptions } from "../lib/qmp/client.ts";
import { QmpConnectError } from "../lib/qmp/errors.ts";
import { Watchdog, type WatchdogOptions } from "../lib/watch/watchdog.ts";
import { startFakeQmp } from "./support/fake_qmp.ts";

/** A monitor path from the wild, which no test creates: only the fake connect sees it. */
const SOCKET = `/run/yank-seams-${crypto.randomUUID()}/vm "ö%+".qmp`;

/** Runs a watchdog until `until(line)` holds (or 10 s pass); returns every line. */
async function watchUntil(
  options: Partial<WatchdogOptions>,
  until: (line: string) => boolean,
): Promise<string[]> {
  const lines: string[] = [];
  const stop = new AbortController();
  const watchdog = new Watchdog({
    socket: SOCKET,
    selectors: { chardev: [], blockNode: ["nbd0"], migration: false },
    intervalMs: 50,
    hangAfterMs: 5000,
    timeoutMs: 2000,
    dryRun: false,
    log: (line) => {
      lines.push(line);
      if (until(line)) stop.abort();
    },
    now: Date.now,
    signal: stop.signal,
    ...options,
  });
  const timer = setTimeout(() => stop.abort(), 10_000);
  try {
    await watchdog.run();
  } finally {
    clearTimeout(timer);
  }
  return lines;
}

/** `ss -xlnpH` as it shows a process `pid` listening on `path`. */
function ssListening(path: string, pid: number): string {
  return `u_str LISTEN 0      1       ${path} 4242 * 0 users:(("qemu-system-x86",pid=${pid},fd=9))\n`;
}

Deno.test("the watchdog connects through the connect function it is handed", async (t) => {
  await t.step(
    "refused twice, it retries with backoff, then watches the socket it was given",
    async () => {
      await using fake = await startFakeQmp();
      const attempts: { socket: string; options: QmpClientOptions }[] = [];
      const connect = (socket: string, options: QmpClientOptions) => {
        attempts.push({ socket, options });
        if (attempts.length <= 2) return Promise.reject(new QmpConnectError(socket, "refused"));
        return QmpClient.connect(fake.path, options);
      };
      const lines = await watchUntil(
        { connect, runSs: () => Promise.resolve(ssListening(SOCKET, 4242)) },
        (line) => / state=connected /.test(line),
      );
      assert.equal(attempts.length, 3);
      assert.ok(attempts.every((a) => a.socket === SOCKET), "every attempt names the socket");
      assert.ok(attempts.every((a) => a.options.timeoutMs === 2000 && a.options.onEvent));
      const states = lines.map((l) => / state=(\S+) /.exec(l)?.[1]);
      // The same refusal twice is logged once; the log names the socket given, not the fake's.
      assert.deepEqual(states, ["connecting", "connected", "stopped"]);
      assert.match(lines[0]!, /Connection refused|refused/i);
      assert.ok(
        lines.every((l) => l.includes(JSON.stringify(SOCKET).slice(1, -1))),
        lines.join("\n"),
      );
    },
  );
});

Deno.test("the watchdog judges peers with the ss runner it is handed", async (t) => {
  await t.step(
    "QEMU's process is found by the fake ss: no warning that peers cannot be judged",
    async () => {
      await using fake = await startFakeQmp();
      const ssCalls: string[][] = [];
      const runSs = (args: string[]) => {
        ssCalls.push(args);
        return Promise.resolve(ssListening(SOCKET, 4242));
      };
      const lines = await watchUntil(
        { connect: (_socket, options) => QmpClient.connect(fake.path, options), runSs },
        (line) => / state=connected /.test(line),
      );
      assert.deepEqual(ssCalls, [["-xlnpH"]]);
      assert.ok(!lines.some((l) => /cannot judge which peers are dead/.test(l)), lines.join("\n"));
    },
  );

  await t.step("a fake ss that shows no such socket: the warning says why", async () => {
    await using fake = await startFakeQmp();
    const lines = await watchUntil(
      {
        connect: (_socket, options) => QmpClient.connect(fake.path, options),
        runSs: () => Promise.resolve(ssListening("/run/other.qmp", 4242)),
      },
      (line) => / state=warning /.test(line),
    );
    assert.ok(
      lines.some((l) =>
        / state=warning .*cannot judge which peers are dead \(ss shows no socket listening on /
          .test(l)
      ),
      lines.join("\n"),
    );
  });
});

Deno.test("a connection that ends before any probe is answered is retried with backoff", async () => {
  // Negotiates, then hangs up at the first probe: before, watch reconnected at once, hundreds
  // of times a second.
  await using fake = await startFakeQmp({
    reply: (command) => command.name === "query-status" ? { close: true } : undefined,
  });
  const lines: string[] = [];
  const stop = new AbortController();
  const watchdog = new Watchdog({
    socket: fake.path,
    selectors: { chardev: [], blockNode: [], migration: false },
    intervalMs: 50,
    hangAfterMs: 1000,
    timeoutMs: 1000,
    dryRun: false,
    log: (line) => lines.push(line),
    now: Date.now,
    signal: stop.signal,
  });
  const running = watchdog.run();
  await new Promise((resolve) => setTimeout(resolve, 1600));
  stop.abort();
  await running;
  // 0.1 + 0.2 + 0.4 + 0.8 s of backoff fit in 1.6 s: at most 5 connections, however fast.
  assert.ok(fake.connections.length >= 2, `${fake.connections.length} connections`);
  assert.ok(fake.connections.length <= 5, `${fake.connections.length} connections`);
  const delays = lines.filter((l) => /state=disconnected/.test(l)).map((l) =>
    /reconnecting in (\S+ m?s)/.exec(l)![1]
  );
  assert.deepEqual(delays.slice(0, 3), ["0.1 s", "0.2 s", "0.4 s"].slice(0, delays.length));
});
