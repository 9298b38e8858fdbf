import assert from "node:assert/strict";
import { QmpClient, type QmpClientOptions } from "../lib/qmp/client.ts";
import {
  QmpCommandError,
  QmpConnectError,
  QmpDisconnectedError,
  QmpError,
  QmpProtocolError,
  QmpTimeoutError,
} from "../lib/qmp/errors.ts";
import { queryYank } from "../lib/yank/yank.ts";
import { delay, qemuGreeting, qmpLine, startFakeQmp } from "./support/fake_qmp.ts";
import { fuzzClientOnce } from "./support/qmp_fuzz.ts";
import { TIMEOUT_ALLOWANCE_MS } from "./support/cli.ts";

const OPTIONS: QmpClientOptions = { timeoutMs: 2000 };

/** QEMU's pretty=on output: four-space indentation, CRLF on every line. */
function pretty(message: unknown): string {
  return `${JSON.stringify(message, null, 4).replaceAll("\n", "\r\n")}\r\n`;
}

Deno.test("QmpClient negotiates like QEMU expects", async (t) => {
  await t.step("asks for oob when offered and then sends query-yank out-of-band", async () => {
    await using server = await startFakeQmp({ capabilities: ["oob"] });
    const client = await server.connect();
    assert.equal(client.oob, true);
    assert.deepEqual(client.greeting.version, {
      major: 7,
      minor: 2,
      micro: 22,
      package: "",
    });
    const instances = await queryYank(client);
    client.close();
    assert.deepEqual(server.commandNames, ["qmp_capabilities", "oob:query-yank"]);
    assert.deepEqual(server.commands[0]!.args, { enable: ["oob"] });
    assert.equal(instances.length, 3);
  });

  await t.step("sends no enable argument when the greeting offers no oob", async () => {
    await using server = await startFakeQmp({ capabilities: [] });
    const client = await server.connect();
    assert.equal(client.oob, false);
    await queryYank(client);
    client.close();
    assert.deepEqual(server.commandNames, ["qmp_capabilities", "query-yank"]);
    assert.equal(server.commands[0]!.args, undefined);
    assert.equal("arguments" in server.commands[0]!.message, false);
  });

  await t.step("ignores unknown capabilities and greeting keys", async () => {
    await using server = await startFakeQmp({
      greeting: { QMP: { ...qemuGreeting(["future", "oob"]).QMP as object, extra: 1 } },
    });
    const client = await server.connect();
    assert.equal(client.oob, true);
  });

  await t.step("refuses exec-oob when oob was not negotiated", async () => {
    await using server = await startFakeQmp({ capabilities: [] });
    const client = await server.connect();
    await assert.rejects(client.execute("query-yank", undefined, { oob: true }), QmpError);
    client.close();
    assert.deepEqual(server.commandNames, ["qmp_capabilities"]);
  });

  await t.step("gives every command a unique id that carries a per-connection nonce", async () => {
    await using server = await startFakeQmp();
    for (let i = 0; i < 2; i++) {
      const client = await server.connect();
      await client.execute("query-yank");
      await client.execute("query-yank");
      client.close();
    }
    const ids = server.commands.map((c) => c.id as string);
    assert.equal(ids.length, 6);
    assert.equal(new Set(ids).size, 6);
    for (const id of ids) assert.match(id, /^yank-[0-9a-f]{12}-\d+$/);
    const nonces = new Set(ids.map((id) => id.split("-")[1]));
    assert.equal(nonces.size, 2, "each connection has its own nonce");
  });

  await t.step("rejects with QmpCommandError carrying QEMU's class and desc", async () => {
    await using server = await startFakeQmp();
    const client = await server.connect();
    await assert.rejects(
      client.execute("no-such-command"),
      (error: unknown) =>
        error instanceof QmpCommandError && error.errorClass === "CommandNotFound" &&
        error.desc === "The command no-such-command has not been found",
    );
  });
});

Deno.test("QmpClient copes with what QEMU really sends", async (t) => {
  await t.step("drops a stale reply with a foreign id before its capabilities reply", async () => {
    await using server = await startFakeQmp({
      reply: (command) =>
        command.name === "qmp_capabilities"
          ? {
            raw: qmpLine({ return: "", id: "H-hmp-OLD" }) + qmpLine({ return: {}, id: command.id }),
          }
          : undefined,
    });
    const dropped: string[] = [];
    const client = await server.connect({
      trace: (direction, text) => direction === "drop" && dropped.push(text),
    });
    assert.equal((await queryYank(client)).length, 3);
    client.close();
    assert.equal(dropped.length, 1);
    assert.match(dropped[0]!, /H-hmp-OLD/);
  });

  await t.step("drops a stale reply carrying one of our ids from another connection", async () => {
    let previous: unknown;
    await using server = await startFakeQmp({
      reply: (command) => {
        if (command.name !== "query-yank") return undefined;
        const stale = previous === undefined ? "" : qmpLine({ return: "stale", id: previous });
        previous = command.id;
        return { raw: stale + qmpLine({ return: [], id: command.id }) };
      },
    });
    for (let i = 0; i < 2; i++) {
      const client = await server.connect();
      assert.deepEqual(await client.execute("query-yank"), []);
      client.close();
    }
  });

  await t.step("skips events before the greeting and between replies", async () => {
    const event = (name: string) =>
      qmpLine({ event: name, data: {}, timestamp: { seconds: 1, microseconds: 2 } });
    await using server = await startFakeQmp({
      beforeGreeting: event("EARLY"),
      reply: (command) =>
        command.name === "query-yank"
          ? { raw: event("A") + event("B") + qmpLine({ return: [], id: command.id }) }
          : undefined,
    });
    const events: string[] = [];
    const client = await server.connect({ onEvent: (e) => events.push(e.event) });
    assert.deepEqual(await client.execute("query-yank"), []);
    client.close();
    assert.deepEqual(events, ["EARLY", "A", "B"]);
  });

  await t.step("reads pretty=on output", async () => {
    await using server = await startFakeQmp({
      greeting: pretty(qemuGreeting()),
      reply: (command, connection) => {
        const reply = connection.server.defaultReply(command);
        return { raw: pretty({ ...reply, id: command.id }) };
      },
    });
    const instances = await queryYank(await server.connect());
    assert.deepEqual(instances, server.instances);
  });

  await t.step("reads a reply of several megabytes on one line", async () => {
    const instances = Array.from({ length: 40_000 }, (_, i) => ({
      type: "chardev",
      id: `chardev-${i}-${"x".repeat(60)}`,
    }));
    await using server = await startFakeQmp({ instances });
    const got = await queryYank(await server.connect());
    assert.equal(got.length, 40_000);
    assert.deepEqual(got[39_999], instances[39_999]);
  });

  await t.step("drops a reply without an id (a parse error) and waits for its own", async () => {
    await using server = await startFakeQmp({
      reply: (command) =>
        command.name === "query-yank"
          ? {
            raw: qmpLine({ error: { class: "GenericError", desc: "JSON parse error" } }) +
              qmpLine({ return: [{ type: "migration" }], id: command.id }),
          }
          : undefined,
    });
    const got = await (await server.connect()).execute("query-yank");
    assert.deepEqual(got, [{ type: "migration" }]);
  });

  await t.step("sends commands issued at once whole, one after the other", async () => {
    // Each is far larger than a socket buffer, so it goes out in many writes: they must not mix.
    const pad = (c: string) => c.repeat(512 * 1024);
    await using server = await startFakeQmp({
      reply: (command) => command.name === "echo" ? { return: command.args } : undefined,
    });
    const client = await server.connect({ oob: false, timeoutMs: 10_000 });
    const replies = await Promise.all(
      ["a", "b", "c"].map((c) => client.execute("echo", { pad: pad(c) })),
    );
    assert.deepEqual(replies, [{ pad: pad("a") }, { pad: pad("b") }, { pad: pad("c") }]);
    assert.deepEqual(server.commandNames, ["qmp_capabilities", "echo", "echo", "echo"]);
  });
});

Deno.test("QmpClient fails with a documented error class", async (t) => {
  await t.step("garbage instead of a reply is a QmpProtocolError", async () => {
    await using server = await startFakeQmp({
      reply: (command) => command.name === "query-yank" ? { raw: "HTTP/1.1 400\r\n" } : undefined,
    });
    const client = await server.connect();
    await assert.rejects(client.execute("query-yank"), QmpProtocolError);
    assert.equal(client.isClosed, true);
  });

  await t.step("a reply before any greeting is a QmpProtocolError", async () => {
    await using server = await startFakeQmp({ greeting: qmpLine({ return: {}, id: "x" }) });
    await assert.rejects(QmpClient.connect(server.path, OPTIONS), QmpProtocolError);
  });

  await t.step("a greeting without capabilities is a QmpProtocolError", async () => {
    await using server = await startFakeQmp({ greeting: { QMP: { version: {} } } });
    await assert.rejects(QmpClient.connect(server.path, OPTIONS), QmpProtocolError);
  });

  await t.step("a top-level array is a QmpProtocolError", async () => {
    await using server = await startFakeQmp({ greeting: "[1, 2]\r\n" });
    await assert.rejects(QmpClient.connect(server.path, OPTIONS), QmpProtocolError);
  });

  await t.step("EOF in the middle of a reply is a QmpDisconnectedError", async () => {
    await using server = await startFakeQmp({
      script: async (connection) => {
        await connection.send(qemuGreeting());
        const caps = await connection.nextCommand();
        await connection.send({ return: {}, id: caps!.id });
        const query = await connection.nextCommand();
        await connection.write(`{"return": [{"type": "chardev", "id": "cha`);
        assert.equal(query!.name, "query-yank");
        connection.close();
      },
    });
    const client = await server.connect();
    await assert.rejects(
      client.execute("query-yank"),
      (error: unknown) =>
        error instanceof QmpDisconnectedError && /reply to query-yank/.test(error.message),
    );
  });

  await t.step("a connection reset is a QmpDisconnectedError", async () => {
    // Closing a unix socket with unread input makes the peer's read fail with ECONNRESET,
    // which is what QEMU does when one yanks the chardev of one's own monitor.
    await using server = await startFakeQmp({
      script: async (connection) => {
        await connection.send(qemuGreeting());
        await delay(100);
        connection.close();
      },
    });
    await assert.rejects(QmpClient.connect(server.path, OPTIONS), QmpDisconnectedError);
  });

  await t.step('a missing socket file is QmpConnectError "missing"', async () => {
    const dir = await Deno.makeTempDir();
    try {
      await assert.rejects(
        QmpClient.connect(`${dir}/nope.sock`, OPTIONS),
        (error: unknown) => error instanceof QmpConnectError && error.failure === "missing",
      );
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });

  await t.step('a socket file nobody listens on is QmpConnectError "refused"', async () => {
    const dir = await Deno.makeTempDir();
    try {
      // Deno removes a socket file when its listener closes; moving it first keeps it.
      const listener = Deno.listen({ transport: "unix", path: `${dir}/live.sock` });
      await Deno.rename(`${dir}/live.sock`, `${dir}/dead.sock`);
      listener.close();
      await assert.rejects(
        QmpClient.connect(`${dir}/dead.sock`, OPTIONS),
        (error: unknown) => error instanceof QmpConnectError && error.failure === "refused",
      );
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });

  await t.step("a path longer than a socket address holds is still tried: missing", async () => {
    await assert.rejects(
      QmpClient.connect(`/tmp/${"x".repeat(200)}.sock`, OPTIONS),
      (error: unknown) => error instanceof QmpConnectError && error.failure === "missing",
    );
  });

  await t.step("close() fails pending commands with QmpDisconnectedError", async () => {
    await using server = await startFakeQmp({
      reply: (command) => command.name === "query-yank" ? { silent: true } : undefined,
    });
    const client = await QmpClient.connect(server.path, OPTIONS);
    const pending = client.execute("query-yank");
    await delay(20);
    client.close();
    await assert.rejects(pending, QmpDisconnectedError);
    await assert.rejects(client.execute("query-yank"), QmpDisconnectedError);
  });
});

Deno.test("QmpClient bounds every wait", async (t) => {
  const timedOut = (phase: string) => (error: unknown) =>
    error instanceof QmpTimeoutError && error.phase === phase;

  await t.step('no greeting is a timeout in phase "greeting" (a busy monitor)', async () => {
    await using server = await startFakeQmp({ greeting: null });
    const started = Date.now();
    await assert.rejects(
      QmpClient.connect(server.path, { timeoutMs: 300 }),
      timedOut("greeting"),
    );
    const elapsed = Date.now() - started;
    assert.ok(elapsed < 300 + TIMEOUT_ALLOWANCE_MS, `took ${elapsed} ms`);
  });

  await t.step('no capabilities reply is a timeout in phase "negotiation"', async () => {
    await using server = await startFakeQmp({
      reply: (command) => command.name === "qmp_capabilities" ? { silent: true } : undefined,
    });
    // Long enough that the greeting, sent at once, arrives in time on a loaded machine.
    await assert.rejects(
      QmpClient.connect(server.path, { timeoutMs: 1000 }),
      timedOut("negotiation"),
    );
  });

  await t.step('no reply to a command is a timeout in phase "command"', async () => {
    await using server = await startFakeQmp({
      reply: (command) => command.name === "query-yank" ? { silent: true } : undefined,
    });
    const client = await server.connect();
    await assert.rejects(
      client.execute("query-yank", undefined, { oob: true, timeoutMs: 200 }),
      (error: unknown) => timedOut("command")(error) && (error as QmpTimeoutError).outOfBand,
    );
  });

  await t.step('a command the monitor does not read is a timeout in phase "command"', async () => {
    const done = Promise.withResolvers<void>();
    await using server = await startFakeQmp({
      script: async (connection) => {
        await connection.send(qemuGreeting());
        const caps = await connection.nextCommand();
        await connection.send({ return: {}, id: caps!.id });
        await done.promise; // and read nothing more: the client's send cannot finish
      },
    });
    const client = await server.connect({ timeoutMs: 300 });
    const started = Date.now();
    try {
      await assert.rejects(
        client.execute("echo", { pad: "x".repeat(16 * 1024 * 1024) }),
        (error: unknown) => timedOut("command")(error) && !(error as QmpTimeoutError).outOfBand,
      );
      const elapsed = Date.now() - started;
      assert.ok(elapsed < 300 + TIMEOUT_ALLOWANCE_MS, `took ${elapsed} ms`);
    } finally {
      done.resolve();
    }
  });

  await t.step("the deadline bounds the total, whatever each step's timeout", async () => {
    await using server = await startFakeQmp({
      script: async (connection) => {
        await delay(200);
        await connection.send(qemuGreeting());
        await connection.drain();
      },
    });
    const started = Date.now();
    // The greeting takes half the budget, so negotiation gets only the rest, not its 5 s. (On
    // a loaded machine the greeting may come too late and the greeting phase times out: the
    // total is bounded either way, which is the point.)
    await assert.rejects(
      QmpClient.connect(server.path, { timeoutMs: 5000, deadline: started + 400 }),
      (error: unknown) => timedOut("negotiation")(error) || timedOut("greeting")(error),
    );
    const elapsed = Date.now() - started;
    const limit = 400 + TIMEOUT_ALLOWANCE_MS; // far below one step's 5 s
    assert.ok(elapsed >= 350 && elapsed < limit, `took ${elapsed} ms`);
  });

  await t.step("a deadline already passed waits for nothing", async () => {
    await using server = await startFakeQmp({ greeting: null });
    const started = Date.now();
    await assert.rejects(
      QmpClient.connect(server.path, { timeoutMs: 5000, deadline: Date.now() - 1 }),
      QmpTimeoutError,
    );
    const elapsed = Date.now() - started;
    assert.ok(elapsed < TIMEOUT_ALLOWANCE_MS, `took ${elapsed} ms, not the 5 s timeout`);
  });
});

/** Seeded, so that a failure can be replayed. */
const FUZZ_SEED = 20261125;
const FUZZ_ITERATIONS = 1000;
const FUZZ_CONCURRENCY = 25;

Deno.test(`fuzzed QMP streams raise only documented errors: QmpClient survives ${FUZZ_ITERATIONS} mutated conversations`, async () => {
  const outcomes = { "ok": 0, "documented-error": 0 };
  for (let i = 0; i < FUZZ_ITERATIONS; i += FUZZ_CONCURRENCY) {
    const batch = Array.from(
      { length: Math.min(FUZZ_CONCURRENCY, FUZZ_ITERATIONS - i) },
      (_, j) => fuzzClientOnce(FUZZ_SEED + i + j, 100),
    );
    for (const outcome of await Promise.all(batch)) outcomes[outcome]++;
  }
  assert.ok(outcomes.ok > 10 && outcomes["documented-error"] > 10, JSON.stringify(outcomes));
});
