/**
 * The yank-only proxy server over a real unix socket, with a scripted upstream in place of the
 * watchdog: what a client sees when it sends garbage, and when too many clients connect.
 */

import assert from "node:assert/strict";
import { type ProxyOptions, ProxyServer, type ProxyYank } from "../lib/proxy/server.ts";
import type { YankUpstream } from "../lib/proxy/upstream.ts";
import { runCli } from "./support/cli.ts";
import { QmpClient } from "../lib/qmp/client.ts";
import { QmpDisconnectedError } from "../lib/qmp/errors.ts";
import { messageFor } from "../lib/cli/exit_codes.ts";

const INSTANCES = [{ type: "chardev", id: "charnet0" }, {
  type: "block-node",
  "node-name": "nbd0",
}];

/** An upstream that answers query-yank after `delayMs`, as the watchdog's connection would. */
function fakeUpstream(delayMs = 0): YankUpstream {
  return {
    version: { major: 7, minor: 2, micro: 22, package: "" },
    ownChardev: "yankmon",
    execOob: async (command) => {
      await new Promise((resolve) => setTimeout(resolve, delayMs));
      return command === "query-yank" ? INSTANCES : {};
    },
  };
}

async function withProxy(
  upstream: YankUpstream,
  body: (proxy: ProxyServer) => Promise<void>,
  options: ProxyOptions = {},
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "yank-proxy-test-" });
  const proxy = await ProxyServer.listen(`${dir}/proxy.qmp`, upstream, options);
  try {
    await body(proxy);
  } finally {
    await proxy.close();
    await Deno.remove(dir, { recursive: true });
  }
}

/** Reads until EOF and returns the parsed CRLF-framed lines. */
async function readToEnd(conn: Deno.Conn): Promise<unknown[]> {
  let text = "";
  const decoder = new TextDecoder();
  const buffer = new Uint8Array(4096);
  for (let count; (count = await conn.read(buffer)) !== null;) {
    text += decoder.decode(buffer.subarray(0, count), { stream: true });
  }
  return text.split("\r\n").filter((line) => line !== "").map((line) => JSON.parse(line));
}

/** Reads CRLF-framed lines one by one, keeping what a read brought beyond the first. */
function lineReader(conn: Deno.Conn): () => Promise<unknown> {
  let text = "";
  const decoder = new TextDecoder();
  const buffer = new Uint8Array(4096);
  return async () => {
    while (!text.includes("\r\n")) {
      const count = await conn.read(buffer);
      if (count === null) throw new Error(`EOF after ${JSON.stringify(text)}`);
      text += decoder.decode(buffer.subarray(0, count), { stream: true });
    }
    const line = text.slice(0, text.indexOf("\r\n"));
    text = text.slice(line.length + 2);
    return JSON.parse(line);
  };
}

Deno.test("requests before a JSON parse error in the same write are answered first", async () => {
  await withProxy(fakeUpstream(50), async (proxy) => {
    const conn = await Deno.connect({ transport: "unix", path: proxy.path });
    try {
      await conn.write(new TextEncoder().encode(
        '{"execute":"qmp_capabilities","id":1}\n{"execute":"query-yank","id":2}\ngarbage\n',
      ));
      const [greeting, ...replies] = await readToEnd(conn);
      assert.ok(greeting && typeof greeting === "object" && "QMP" in greeting);
      assert.deepEqual(replies, [
        { return: {}, id: 1 },
        {
          error: {
            class: "GenericError",
            desc: `JSON parse error, unexpected character "g" between JSON messages`,
          },
        },
        // The forwarded query-yank still gets its reply before the proxy hangs up.
        { return: INSTANCES, id: 2 },
      ]);
    } finally {
      conn.close();
    }
  });
});

Deno.test("the client past the limit of negotiated clients is told why, and yank list says so", async () => {
  await withProxy(fakeUpstream(), async (proxy) => {
    const held: Deno.Conn[] = [];
    const negotiate = new TextEncoder().encode(`{"execute":"qmp_capabilities","id":1}\n`);
    try {
      for (let i = 0; i < 64; i++) {
        const conn = await Deno.connect({ transport: "unix", path: proxy.path });
        held.push(conn);
        const next = lineReader(conn);
        assert.ok(typeof await next() === "object");
        await conn.write(negotiate);
        assert.deepEqual(await next(), { return: {}, id: 1 });
      }
      const extra = await Deno.connect({ transport: "unix", path: proxy.path });
      assert.deepEqual(await readToEnd(extra), [{
        error: {
          class: "GenericError",
          desc:
            "Too many clients on this yank proxy: it serves at most 64 at once (close idle connections to it, or try again shortly)",
        },
      }]);
      extra.close();

      const run = await runCli(["list", "--socket", proxy.path, "--timeout", "2"]);
      assert.equal(run.code, 4);
      assert.equal(run.stdout, "");
      assert.equal(
        run.stderr,
        `yank: ${
          JSON.stringify(proxy.path)
        } turned the connection away: GenericError: Too many clients on this yank proxy: it serves at most 64 at once (close idle connections to it, or try again shortly)\n`,
      );

      held.pop()!.close();
      const again = await runCli(["list", "--socket", proxy.path, "--timeout", "2"]);
      assert.equal(again.code, 0, again.stderr);
      assert.match(again.stdout, /^block-node +nbd0 +- +-$/m);
    } finally {
      for (const conn of held) conn.close();
    }
  });
});

Deno.test("a client may have 4 forwarded commands in flight; the 5th is refused at once", async () => {
  await withProxy(fakeUpstream(100), async (proxy) => {
    const conn = await Deno.connect({ transport: "unix", path: proxy.path });
    try {
      const requests = [
        '{"execute":"qmp_capabilities","arguments":{"enable":["oob"]},"id":0}',
        ...[1, 2, 3, 4, 5].map((id) => `{"exec-oob":"query-yank","id":${id}}`),
      ];
      await conn.write(new TextEncoder().encode(`${requests.join("\n")}\n`));
      const readLine = lineReader(conn);
      const replies = [];
      for (let i = 0; i < 7; i++) replies.push(await readLine());
      assert.deepEqual(replies.slice(1, 3), [
        { return: {}, id: 0 },
        {
          error: {
            class: "GenericError",
            desc: "Too many commands in flight (at most 4); wait for their replies",
          },
          id: 5,
        },
      ]);
      assert.deepEqual(replies.slice(3), [1, 2, 3, 4].map((id) => ({ return: INSTANCES, id })));
    } finally {
      conn.close();
    }
  });
});

Deno.test("a client that never reads its replies is cut off with one log line; others are served", async () => {
  const log: string[] = [];
  await withProxy(fakeUpstream(), async (proxy) => {
    const flood = await Deno.connect({ transport: "unix", path: proxy.path });
    try {
      const requests = new TextEncoder().encode(
        `{"execute":"qmp_capabilities"}\n${'{"execute":"query-chardev"}\n'.repeat(10_000)}`,
      );
      // The proxy reads it all (it is cut off part way), so the write completes.
      await flood.write(requests).catch(() => {});
      for (let i = 0; i < 100 && log.length === 0; i++) {
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      assert.equal(log.length, 1, log.join("\n"));
      assert.match(
        log[0]!,
        /^proxy client #1 cut off: it left more than \d+ bytes of replies unread/,
      );
      assert.equal(proxy.clientCount, 0);

      const run = await runCli(["list", "--socket", proxy.path, "--timeout", "2"]);
      assert.equal(run.code, 0, run.stderr);
      assert.match(run.stdout, /^block-node +nbd0 +- +-$/m);
    } finally {
      flood.close();
    }
  }, { log: (line) => log.push(line) });
});

Deno.test("a client is closed, with a reason, when it does not negotiate in time or stays idle", async (t) => {
  const log: string[] = [];
  await withProxy(fakeUpstream(300), async (proxy) => {
    await t.step("no qmp_capabilities within the negotiation limit", async () => {
      const conn = await Deno.connect({ transport: "unix", path: proxy.path });
      const [greeting, goodbye] = await readToEnd(conn);
      conn.close();
      assert.ok(greeting && typeof greeting === "object" && "QMP" in greeting);
      assert.deepEqual(goodbye, {
        error: {
          class: "GenericError",
          desc:
            "This yank proxy closes connections with no qmp_capabilities within 0.2 s; connect again when needed",
        },
      });
      assert.equal(log.at(-1), "closed proxy client #1: no qmp_capabilities within 0.2 s");
    });

    await t.step("idle past the limit, but never while a command is in flight", async () => {
      const conn = await Deno.connect({ transport: "unix", path: proxy.path });
      const started = Date.now();
      await conn.write(new TextEncoder().encode(
        '{"execute":"qmp_capabilities","id":1}{"execute":"query-yank","id":2}',
      ));
      const messages = await readToEnd(conn);
      conn.close();
      // query-yank took 300 ms, longer than the idle limit of 200 ms: it was answered.
      assert.deepEqual(messages.slice(1), [
        { return: {}, id: 1 },
        { return: INSTANCES, id: 2 },
        {
          error: {
            class: "GenericError",
            desc:
              "This yank proxy closes connections with idle for 0.2 s; connect again when needed",
          },
        },
      ]);
      assert.ok(Date.now() - started >= 500);
      assert.equal(log.at(-1), "closed proxy client #2: idle for 0.2 s");
    });
  }, { limits: { negotiationMs: 200, idleMs: 200 }, log: (line) => log.push(line) });
});

Deno.test("the greeting marks the proxy, and every forwarded yank is reported with its result", async () => {
  const yanks: ProxyYank[] = [];
  await withProxy(fakeUpstream(), async (proxy) => {
    const conn = await Deno.connect({ transport: "unix", path: proxy.path });
    try {
      await conn.write(new TextEncoder().encode(
        '{"execute":"qmp_capabilities","id":1}' +
          '{"execute":"yank","arguments":{"instances":[{"type":"block-node","node-name":"nbd0"}]},"id":2}',
      ));
      const readLine = lineReader(conn);
      const greeting = await readLine() as { QMP: Record<string, unknown> };
      assert.deepEqual(greeting.QMP["yank-proxy"], {});
      assert.deepEqual(await readLine(), { return: {}, id: 1 });
      assert.deepEqual(await readLine(), { return: {}, id: 2 });
      assert.deepEqual(yanks, [{
        client: 1,
        instances: [{ type: "block-node", "node-name": "nbd0" }],
        result: { ok: true },
      }]);
    } finally {
      conn.close();
    }
  }, { onYank: (yank) => yanks.push(yank) });
});

Deno.test("a client the proxy closed is told that the proxy, not QEMU, ended the connection", async () => {
  await withProxy(fakeUpstream(), async (proxy) => {
    const client = await QmpClient.connect(proxy.path, { timeoutMs: 2000 });
    try {
      assert.equal(client.greeting.proxy, true);
      await client.closed;
      await assert.rejects(
        client.execute("query-yank", undefined, { oob: true }),
        (error) =>
          // The remedy is data, worded by the CLI: the line a user sees.
          error instanceof QmpDisconnectedError &&
          messageFor(error) ===
            `Connection to the yank proxy ${
              JSON.stringify(proxy.path)
            } was lost while waiting for the next message (yank watch stopped, or closed this client for breaking a limit: see its log; try again)`,
      );
    } finally {
      client.close();
    }
  }, { limits: { idleMs: 100 } });
});
