/**
 * The yank-only proxy server over a real unix socket, with a scripted upstream in place of the
 * watchdog: what a client sees when it sends garbage, and when too many clients connect.
 */

import assert from "node:assert/strict";
import { ProxyServer } from "../lib/proxy/server.ts";
import type { YankUpstream } from "../lib/watch/watchdog.ts";
import { runCli } from "./support/cli.ts";

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
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "yank-proxy-test-" });
  const proxy = await ProxyServer.listen(`${dir}/proxy.qmp`, upstream);
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

Deno.test("the client past the limit is told why, and yank list says so", async () => {
  await withProxy(fakeUpstream(), async (proxy) => {
    const held: Deno.Conn[] = [];
    try {
      for (let i = 0; i < 64; i++) {
        const conn = await Deno.connect({ transport: "unix", path: proxy.path });
        held.push(conn);
        assert.ok(typeof await lineReader(conn)() === "object");
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
