/**
 * What Deno reads when yank starts: the one-shot commands (list, the yank forms, check) load no
 * `node:` module and no npm package, which would boot Deno's Node compatibility layer, and the
 * modules only some runs need (help, --domain, check, watch, completions) are not read ahead.
 */

import assert from "node:assert/strict";
import { LAZY_MODULES } from "../lib/cli/main.ts";
import { moduleGraph, nodeModulesLoaded, withoutNpm } from "./support/without_npm.ts";
import { chardevConnectedToPeer, QemuLab } from "./support/qemu_lab.ts";

const ROOT = new URL("../", import.meta.url);
const CLI = new URL("lib/cli/", ROOT);

Deno.test("the one-shot paths load no node: module and no npm package", async (t) => {
  await t.step("list and the yank forms: main.ts and what it reads at start-up", async () => {
    const graph = await moduleGraph(new URL("main.ts", ROOT));
    assert.ok(graph.modules.some((m) => m.endsWith("/lib/cli/commands/list.ts")));
    assert.deepEqual(graph.nodeOrNpm, []);
  });
  await t.step("check: the command's module and what it imports", async () => {
    const graph = await moduleGraph(new URL(LAZY_MODULES.check, CLI));
    assert.ok(graph.modules.some((m) => m.endsWith("/lib/health/probe.ts")));
    assert.deepEqual(graph.nodeOrNpm, []);
  });
  await t.step(
    "the check itself finds a node: or npm: import, static or literal dynamic",
    async () => {
      const dir = await Deno.makeTempDir({ prefix: "yank-graph-" });
      try {
        await Deno.writeTextFile(`${dir}/util.ts`, 'import "node:util";\n');
        await Deno.writeTextFile(
          `${dir}/entry.ts`,
          'import "./util.ts";\nif (Deno.args.length > 9) await import("node:fs");\n',
        );
        assert.deepEqual((await moduleGraph(`${dir}/entry.ts`)).nodeOrNpm, [
          "node:fs",
          "node:util",
        ]);
      } finally {
        await Deno.remove(dir, { recursive: true });
      }
    },
  );
});

Deno.test("list, the yank forms and check, run against QEMU, load no Node or npm module", async (t) => {
  await using lab = await QemuLab.create();
  const { qemu } = await chardevConnectedToPeer(lab);
  // Where no npm package can be had, too: a path that needed one would fail.
  await using noNpm = await withoutNpm();
  const runs: [string, string[], (stdout: string) => boolean][] = [
    ["list --json", ["list", "--json"], (out) => JSON.parse(out).length === 2],
    ["list (the table)", ["list"], (out) => out.startsWith("TYPE")],
    ["a dry run", ["chardev", "charnet0", "--dry-run"], (out) => out.startsWith("would yank")],
    ["a yank", ["chardev", "charnet0"], (out) => out === "yanked chardev charnet0\n"],
    ["check", ["check"], (out) => out.startsWith("YANK OK")],
    ["a usage error", ["list", "--bogus"], (out) => out === ""],
  ];
  for (const [label, args, expected] of runs) {
    await t.step(label, async () => {
      const run = await nodeModulesLoaded([...args, "--socket", qemu.socket], { env: noNpm.env });
      assert.ok(expected(run.stdout), `exit ${run.code}: ${run.stdout}`);
      assert.deepEqual(run.modules, []);
    });
  }
  await t.step("the check itself sees Node's modules, even behind a computed import", async () => {
    const entry = lab.path("computed_import.ts");
    await Deno.writeTextFile(entry, 'const name = "node:" + "util";\nawait import(name);\n');
    const run = await nodeModulesLoaded([], { entry });
    assert.equal(run.code, 0);
    assert.ok(run.modules.includes("ext:deno_node/util.ts"), run.modules.join(" "));
  });
});

Deno.test("modules only some runs need are not read at start-up", async (t) => {
  const startUp = (await moduleGraph(new URL("main.ts", ROOT))).modules;
  for (const [name, path] of Object.entries(LAZY_MODULES)) {
    await t.step(`${name} (${path}) is loaded when used, and compiled in`, () => {
      const url = new URL(path, CLI).href;
      assert.ok(!startUp.includes(url), `${url} is read at start-up`);
      const config = JSON.parse(Deno.readTextFileSync(new URL("deno.json", ROOT)));
      const included = [...config.tasks.compile.matchAll(/--include (\S+)/g)].map((m) => m[1]);
      assert.ok(
        included.map((file: string) => new URL(file, ROOT).href).includes(url),
        `the compile task lacks --include for ${path}`,
      );
    });
  }
});
