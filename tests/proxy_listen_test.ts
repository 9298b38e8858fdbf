/** Where `yank watch --listen` cannot make its proxy socket (lib/proxy/listen.ts), it says why. */

import assert from "node:assert/strict";
import { runCli } from "./support/cli.ts";

Deno.test("--listen on a path that is not a socket says what the path is", async (t) => {
  const dir = await Deno.makeTempDir({ prefix: "yank-listen-" });
  try {
    const file = `${dir}/vm1.pid`;
    await Deno.writeTextFile(file, "1234\n");
    const cases = [
      [
        file,
        /: it is a regular file, not a socket \(remove it, or choose another --listen path\)$/,
      ],
      [dir, /: it is a directory \(give --listen the path of a new socket inside it, e\.g\. /],
    ] as const;
    for (const [path, message] of cases) {
      await t.step(path === file ? "a regular file" : "a directory", async () => {
        const run = await runCli(["watch", "--socket", `${dir}/absent.qmp`, "--listen", path]);
        assert.equal(run.code, 4);
        assert.equal(run.stdout, "");
        const lines = run.stderr.trimEnd().split("\n");
        assert.equal(lines.length, 1, run.stderr);
        assert.ok(lines[0]!.startsWith(`yank: Cannot listen on ${JSON.stringify(path)}`));
        assert.match(lines[0]!, message);
        assert.doesNotMatch(lines[0]!, /stale socket|another yank watch/);
      });
    }
    // Stays untouched.
    assert.equal(await Deno.readTextFile(file), "1234\n");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
