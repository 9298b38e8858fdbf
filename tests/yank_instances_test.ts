import assert from "node:assert/strict";
import { MalformedYankReplyError, parseYankInstances } from "../lib/yank/instances.ts";

Deno.test("parseYankInstances checks query-yank's return", async (t) => {
  await t.step("keeps instances exactly as QEMU sent them, in order", () => {
    const reply = [
      { type: "chardev", id: "compat_monitor0" },
      { "node-name": "nbd0", type: "block-node" },
      { type: "migration" },
    ];
    assert.deepEqual(parseYankInstances(reply), reply);
  });
  await t.step("skips instance types it does not know", () => {
    assert.deepEqual(parseYankInstances([{ type: "future" }, { type: "migration" }]), [
      { type: "migration" },
    ]);
  });
  await t.step("rejects a return that is not a list", () => {
    for (const bad of [{}, null, "x", 1]) {
      assert.throws(() => parseYankInstances(bad), MalformedYankReplyError);
    }
  });
  await t.step("rejects instances without a type, id or node-name", () => {
    for (
      const bad of [
        [null],
        [[]],
        [{ id: "x" }],
        [{ type: 1 }],
        [{ type: "chardev" }],
        [{ type: "chardev", id: 5 }],
        [{ type: "block-node", id: "nbd0" }],
      ]
    ) {
      assert.throws(() => parseYankInstances(bad), MalformedYankReplyError, JSON.stringify(bad));
    }
  });
});
