/**
 * What Deno reads when yank starts: the one-shot commands (list, the yank forms, check) load no
 * `node:` module and no npm package, which would boot Deno's Node compatibility layer, and the
 * modules only some runs need (help, --domain, check, watch, completions) are not read ahead.
 */

import assert from "node:assert/strict";
import { LAZY_MODULES } from "../lib/cli/main.ts";
import { moduleGraph } from "./support/without_npm.ts";

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
