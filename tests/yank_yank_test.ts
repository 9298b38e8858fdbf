import assert from "node:assert/strict";
import {
  InstanceNotFoundError,
  MalformedReplyError,
  MonitorChardevRefusedError,
  NothingMatchedError,
  queryYank,
  yankSelected,
  YankUnsupportedError,
} from "../lib/yank/yank.ts";
import type { YankSelectors } from "../lib/yank/match.ts";
import { ExitCode, exitCodeFor } from "../lib/cli/exit_codes.ts";
import { type FakeQmpOptions, startFakeQmp } from "./support/fake_qmp.ts";

function selectors(partial: Partial<YankSelectors>): YankSelectors {
  return { chardev: [], blockNode: [], migration: false, ...partial };
}

const CHARNET = { type: "chardev", id: "charnet0" };
const NBD = { "node-name": "nbd0", type: "block-node" };
const MIGRATION = { type: "migration" };

Deno.test("yankSelected yanks what matched in one command", async (t) => {
  await t.step("sends one out-of-band yank with canonical instances", async () => {
    await using server = await startFakeQmp({ instances: [CHARNET, NBD] });
    const client = await server.connect();
    const outcome = await yankSelected(
      client,
      selectors({ chardev: ["charnet0"], blockNode: ["nbd*"] }),
    );
    assert.deepEqual(outcome.yanked, [CHARNET, NBD]);
    assert.deepEqual(server.commandNames, [
      "qmp_capabilities",
      "oob:query-yank",
      "query-chardev",
      "oob:yank",
    ]);
    const sent = server.commands[3]!.args!.instances;
    assert.equal(
      JSON.stringify(sent),
      '[{"type":"chardev","id":"charnet0"},{"type":"block-node","node-name":"nbd0"}]',
    );
  });

  await t.step("a dry run queries and matches but sends no yank", async () => {
    await using server = await startFakeQmp({ instances: [CHARNET] });
    const client = await server.connect();
    const outcome = await yankSelected(client, selectors({ chardev: ["*"] }), { dryRun: true });
    assert.deepEqual(outcome.yanked, [CHARNET]);
    assert.equal(server.commandNames.includes("oob:yank"), false);
  });

  await t.step("a selector that matches nothing is NothingMatchedError (exit 3)", async () => {
    await using server = await startFakeQmp({ instances: [CHARNET] });
    const client = await server.connect();
    await assert.rejects(
      yankSelected(client, selectors({ chardev: ["charnet0"], blockNode: ["nbd*"] })),
      (error: unknown) =>
        error instanceof NothingMatchedError && /block-node "nbd\*"/.test(error.message) &&
        exitCodeFor(error) === ExitCode.notFound,
    );
    assert.equal(server.commandNames.includes("oob:yank"), false);
  });

  await t.step("naming the own monitor's chardev without --force is refused (exit 2)", async () => {
    await using server = await startFakeQmp({ instances: [CHARNET] });
    server.instances.push({ type: "chardev", id: "mon0" });
    server.options.chardevs = [{ label: "mon0", filename: `unix:${server.path},server=on` }];
    const client = await server.connect();
    await assert.rejects(
      yankSelected(client, selectors({ chardev: ["mon0"] })),
      (error: unknown) =>
        error instanceof MonitorChardevRefusedError && exitCodeFor(error) === ExitCode.usage,
    );
  });

  await t.step("with --force, the own monitor's chardev is yanked and EOF is success", async () => {
    await using server = await startFakeQmp({
      instances: [CHARNET, { type: "chardev", id: "mon0" }],
      reply: (command) => command.name === "yank" ? { close: true } : undefined,
    });
    server.options.chardevs = [{ label: "mon0", filename: `unix:${server.path},server=on` }];
    const client = await server.connect();
    const outcome = await yankSelected(client, selectors({ chardev: ["mon0"] }), {
      force: true,
    });
    assert.deepEqual(outcome.yanked, [{ type: "chardev", id: "mon0" }]);
  });
});

Deno.test("yankSelected handles instances that vanish", async (t) => {
  await t.step("re-queries after DeviceNotFound and retries with what is left", async () => {
    let yanks = 0;
    const options: FakeQmpOptions = {
      instances: [CHARNET, MIGRATION],
      reply: (command, connection) => {
        if (command.name !== "yank" || yanks++ > 0) return undefined;
        // The migration ends between query-yank and yank.
        connection.server.instances = [CHARNET];
        return { error: { class: "DeviceNotFound", desc: "Instance not found" } };
      },
    };
    await using server = await startFakeQmp(options);
    const client = await server.connect();
    const outcome = await yankSelected(
      client,
      selectors({ chardev: ["charnet0"], migration: true }),
    );
    assert.deepEqual(outcome.yanked, [CHARNET]);
    assert.deepEqual(outcome.vanished, [MIGRATION]);
    assert.deepEqual(server.commandNames.slice(1), [
      "oob:query-yank",
      "query-chardev",
      "oob:yank",
      "oob:query-yank",
      "oob:yank",
    ]);
    assert.deepEqual(server.commands.at(-1)!.args, { instances: [CHARNET] });
  });

  await t.step("when all vanished, InstanceNotFoundError names them (exit 3)", async () => {
    const options: FakeQmpOptions = {
      instances: [MIGRATION],
      reply: (command, connection) => {
        if (command.name !== "yank") return undefined;
        connection.server.instances = [];
        return undefined;
      },
    };
    await using server = await startFakeQmp(options);
    const client = await server.connect();
    await assert.rejects(
      yankSelected(client, selectors({ migration: true })),
      (error: unknown) =>
        error instanceof InstanceNotFoundError &&
        /No yank instance migration/.test(error.message) &&
        exitCodeFor(error) === ExitCode.notFound,
    );
    assert.equal(server.commandNames.filter((n) => n === "oob:yank").length, 1);
  });

  await t.step("retries only once", async () => {
    await using server = await startFakeQmp({
      instances: [CHARNET],
      reply: (command) =>
        command.name === "yank"
          ? { error: { class: "DeviceNotFound", desc: "Instance not found" } }
          : undefined,
    });
    const client = await server.connect();
    await assert.rejects(
      yankSelected(client, selectors({ chardev: ["charnet0"] })),
      (error: unknown) => error instanceof InstanceNotFoundError && /charnet0/.test(error.message),
    );
    assert.equal(server.commandNames.filter((n) => n === "oob:yank").length, 2);
  });
});

Deno.test("queryYank reports QEMUs it cannot work with", async (t) => {
  await t.step("CommandNotFound is YankUnsupportedError naming the version (exit 6)", async () => {
    await using server = await startFakeQmp({
      version: { major: 5, minor: 2, micro: 0 },
      reply: (command) =>
        command.name === "query-yank"
          ? {
            error: { class: "CommandNotFound", desc: "The command query-yank has not been found" },
          }
          : undefined,
    });
    const client = await server.connect();
    await assert.rejects(
      queryYank(client),
      (error: unknown) =>
        error instanceof YankUnsupportedError && /QEMU 5\.2\.0/.test(error.message) &&
        exitCodeFor(error) === ExitCode.unsupported,
    );
  });

  await t.step("CommandNotFound on yank itself is YankUnsupportedError too", async () => {
    await using server = await startFakeQmp({
      instances: [CHARNET],
      reply: (command) =>
        command.name === "yank"
          ? { error: { class: "CommandNotFound", desc: "The command yank has not been found" } }
          : undefined,
    });
    const client = await server.connect();
    await assert.rejects(
      yankSelected(client, selectors({ chardev: ["charnet0"] })),
      YankUnsupportedError,
    );
  });

  for (
    const [what, value] of [
      ["an object", {}],
      ["a string", "nope"],
      ["a chardev without an id", [{ type: "chardev" }]],
      ["a block-node with a numeric node-name", [{ type: "block-node", "node-name": 1 }]],
      ["an instance that is not an object", [42]],
    ] as const
  ) {
    await t.step(`a return that is ${what} is MalformedReplyError (exit 4)`, async () => {
      await using server = await startFakeQmp({
        reply: (command) => command.name === "query-yank" ? { return: value } : undefined,
      });
      const client = await server.connect();
      await assert.rejects(
        queryYank(client),
        (error: unknown) =>
          error instanceof MalformedReplyError && exitCodeFor(error) === ExitCode.connection,
      );
    });
  }
});
