/** What the yank proxy answers and forwards (lib/proxy/rules.ts), as pure decisions. */

import assert from "node:assert/strict";
import { decideRequest, type ProxyContext, withId } from "../lib/proxy/rules.ts";

Deno.test("the proxy answers like QEMU and forwards only query-yank and yank", async (t) => {
  const fresh = { negotiated: false, oob: false };
  const ready = { negotiated: true, oob: true };
  const unknownOwn: ProxyContext = { ownChardev: undefined, path: "/run/yank/vm1.qmp" };
  const own: ProxyContext = { ownChardev: "yankmon", path: "/run/yank/vm1.qmp" };

  await t.step("before negotiation only qmp_capabilities works", () => {
    assert.deepEqual(decideRequest(fresh, { execute: "query-yank", id: 1 }, unknownOwn), {
      kind: "reply",
      reply: {
        error: {
          class: "CommandNotFound",
          desc: "Expecting capabilities negotiation with 'qmp_capabilities'",
        },
      },
    });
    assert.deepEqual(
      decideRequest(
        fresh,
        { execute: "qmp_capabilities", arguments: { enable: ["oob"] } },
        unknownOwn,
      ),
      { kind: "negotiate", oob: true },
    );
    assert.deepEqual(decideRequest(fresh, { "exec-oob": "query-yank" }, unknownOwn), {
      kind: "reply",
      reply: {
        error: { class: "GenericError", desc: "QMP input member 'exec-oob' is unexpected" },
      },
    });
  });

  await t.step("exec-oob needs oob negotiated", () => {
    const noOob = { negotiated: true, oob: false };
    assert.equal(decideRequest(noOob, { "exec-oob": "yank" }, unknownOwn).kind, "reply");
    assert.equal(decideRequest(noOob, { execute: "query-yank" }, unknownOwn).kind, "forward");
  });

  await t.step("query-yank and yank are forwarded with their arguments", () => {
    const args = { instances: [{ type: "block-node", "node-name": "nbd0" }] };
    assert.deepEqual(decideRequest(ready, { "exec-oob": "yank", arguments: args }, own), {
      kind: "forward",
      command: "yank",
      args,
    });
  });

  await t.step("everything else is CommandNotFound, as QEMU says of unknown commands", () => {
    for (const command of ["quit", "query-status", "human-monitor-command", "system_reset"]) {
      const decision = decideRequest(ready, { execute: command }, unknownOwn);
      assert.equal(decision.kind, "reply");
      assert.equal(
        decision.kind === "reply" && "error" in decision.reply && decision.reply.error.class,
        "CommandNotFound",
      );
    }
    assert.equal(
      decideRequest(ready, { execute: "qmp_capabilities" }, unknownOwn).kind,
      "reply",
    );
  });

  await t.step("query-chardev is answered here with the own chardev as the proxy's", () => {
    assert.deepEqual(decideRequest(ready, { execute: "query-chardev", id: 7 }, own), {
      kind: "reply",
      reply: {
        return: [{
          label: "yankmon",
          filename: "unix:/run/yank/vm1.qmp,server=on",
          "frontend-open": true,
        }],
      },
    });
    assert.deepEqual(decideRequest(ready, { execute: "query-chardev" }, unknownOwn), {
      kind: "reply",
      reply: { return: [] },
    });
    assert.deepEqual(decideRequest(ready, { "exec-oob": "query-chardev" }, own), {
      kind: "reply",
      reply: {
        error: { class: "GenericError", desc: "The command query-chardev does not support OOB" },
      },
    });
  });

  await t.step("a yank naming the watchdog's own chardev is refused", () => {
    const decision = decideRequest(ready, {
      execute: "yank",
      arguments: {
        instances: [{ type: "chardev", id: "charnet0" }, { type: "chardev", id: "yankmon" }],
      },
    }, own);
    assert.equal(decision.kind, "reply");
    assert.match(
      decision.kind === "reply" && "error" in decision.reply ? decision.reply.error.desc : "",
      /^Refusing to yank chardev "yankmon"/,
    );
  });

  await t.step("a yank naming any monitor's chardev or a --spare one is refused", () => {
    const spare: ProxyContext = { ...own, spare: ["mgmt*"] };
    for (const id of ["charmonitor", "compat_monitor0", "qmp", "qmp-event", "mgmt1"]) {
      const decision = decideRequest(ready, {
        "exec-oob": "yank",
        arguments: { instances: [{ type: "chardev", id: "charnet0" }, { type: "chardev", id }] },
      }, spare);
      const desc = decision.kind === "reply" && "error" in decision.reply
        ? decision.reply.error.desc
        : "";
      assert.match(
        desc,
        new RegExp(`^Refusing to yank chardev "${id}": it looks like a monitor's chardev \\(`),
        id,
      );
      // Only libvirt's own monitor is libvirt's.
      assert.equal(desc.includes("libvirt"), id === "charmonitor", desc);
    }
    const other = decideRequest(ready, {
      "exec-oob": "yank",
      arguments: { instances: [{ type: "chardev", id: "charserial0" }] },
    }, spare);
    assert.equal(other.kind, "forward");
  });

  await t.step("malformed input gets QEMU's errors; ids are echoed exactly", () => {
    assert.deepEqual(decideRequest(ready, [1, 2], unknownOwn), {
      kind: "reply",
      reply: { error: { class: "GenericError", desc: "QMP input must be a JSON object" } },
    });
    assert.deepEqual(decideRequest(ready, { execute: "yank", "exec-oob": "yank" }, unknownOwn), {
      kind: "reply",
      reply: {
        error: {
          class: "GenericError",
          desc: "QMP input member 'execute' clashes with 'exec-oob'",
        },
      },
    });
    const id = { complex: ["id", 1] };
    assert.deepEqual(withId({ return: {} }, { execute: "x", id }), { return: {}, id });
    assert.deepEqual(withId({ return: {} }, { execute: "x" }), { return: {} });
  });
});
