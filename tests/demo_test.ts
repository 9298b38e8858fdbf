/**
 * README's first command is the demo: it must keep working, so the suite runs it.
 */

import assert from "node:assert/strict";

Deno.test("the demo tells the whole story against a throwaway QEMU and cleans up", async () => {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", new URL("demo.ts", import.meta.url).pathname],
    env: { NO_COLOR: "1" },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(output.stdout);
  const errors = new TextDecoder().decode(output.stderr);
  assert.equal(output.code, 0, `${text}\n${errors}`);
  for (
    const expected of [
      "block-node  nbd0",
      "The backup job is stuck: running",
      "yanked block-node nbd0",
      "The job failed at once instead of hanging: concluded, error: Input/output error",
      "YANK OK - main loop answered",
      "YANK CRITICAL - QEMU's main loop is hung",
      "(exit code 5)",
      "state=recovered",
      "The watchdog exited with code 0.",
      "Done: every process the demo started has been stopped.",
    ]
  ) assert.ok(text.includes(expected), `"${expected}" in:\n${text}`);
  assert.ok(!text.includes("\x1b["), "no colour when NO_COLOR is set");
});
