/**
 * The manual pages: generated from the help texts and committed, rendered by man without a
 * warning, and good enough for systemd: the guide's units name `Documentation=man:yank(1)`.
 */

import assert from "node:assert/strict";
import { manPages } from "../lib/cli/man.ts";
import { helpText } from "../lib/cli/help.ts";
import { guideUnits } from "./support/guide_units.ts";

const ROOT = new URL("../", import.meta.url);
const MAN_DIR = new URL("docs/man/", ROOT).pathname;

async function run(
  program: string,
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  const output = await new Deno.Command(program, { args, env, stdin: "null" }).output();
  const text = new TextDecoder();
  return {
    code: output.code,
    stdout: text.decode(output.stdout),
    stderr: text.decode(output.stderr),
  };
}

Deno.test("the committed manual pages are what `deno task man` generates", async () => {
  const pages = manPages();
  const committed = [...Deno.readDirSync(`${MAN_DIR}/man1`)].map((e) => e.name).sort();
  assert.deepEqual(committed, pages.map((p) => p.file).sort(), "run: deno task man");
  for (const page of pages) {
    const text = await Deno.readTextFile(`${MAN_DIR}/man1/${page.file}`);
    assert.equal(text, page.source, `${page.file} is out of date: run "deno task man"`);
  }
});

Deno.test("man renders every page without a warning, and shows the help's words", async (t) => {
  for (const page of manPages()) {
    await t.step(page.file, async () => {
      const rendered = await run("man", ["--warnings", "-l", `${MAN_DIR}/man1/${page.file}`], {
        MANWIDTH: "80",
        MANPAGER: "cat",
        PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin",
      });
      assert.equal(rendered.stderr, "");
      assert.equal(rendered.code, 0);
      assert.match(rendered.stdout, /^NAME$/m);
      assert.match(rendered.stdout, /^SEE ALSO$/m);
    });
  }
  await t.step("every option of yank check's help is in yank-check(1)", async () => {
    const rendered = await run("man", ["-l", `${MAN_DIR}/man1/yank-check.1`], {
      MANWIDTH: "200",
      PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin",
    });
    const options = helpText("check").match(/^ +(?:-\w, )?--[\w-]+/gm)!;
    assert.ok(options.length >= 5);
    for (const option of options) assert.ok(rendered.stdout.includes(option.trim()), option);
  });
});

Deno.test("systemd-analyze verify accepts the guide's units, man:yank(1) included", async (t) => {
  const units = guideUnits();
  assert.ok(units.length >= 1);
  // A root for systemd-analyze: systemd's own units, the guide's, and the binary where the guide
  // puts it (a stub: verify checks only that it is executable).
  const root = await Deno.makeTempDir({ prefix: "yank-units-" });
  try {
    await Deno.mkdir(`${root}/usr/lib/systemd`, { recursive: true });
    const copied = await run("cp", ["-a", "/usr/lib/systemd/system", `${root}/usr/lib/systemd/`]);
    assert.equal(copied.code, 0, copied.stderr);
    await Deno.mkdir(`${root}/etc/systemd/system`, { recursive: true });
    await Deno.mkdir(`${root}/usr/local/bin`, { recursive: true });
    await Deno.writeTextFile(`${root}/usr/local/bin/yank`, "#!/bin/sh\n", { mode: 0o755 });
    const names: string[] = [];
    for (const unit of units) {
      await Deno.writeTextFile(`${root}/etc/systemd/system/${unit.name}`, unit.text);
      assert.match(unit.text, /^ExecStart=\/usr\/local\/bin\/yank /m);
      names.push(unit.name.replace(/@\./, "@vm1."));
    }
    const verify = (manPath: string) =>
      run("systemd-analyze", ["verify", `--root=${root}`, ...names], {
        MANPATH: manPath,
        PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin",
      });
    await t.step("with yank's manual pages installed", async () => {
      const result = await verify(MAN_DIR);
      assert.equal(result.stderr, "");
      assert.equal(result.code, 0);
    });
    await t.step("without them, verify fails on man:yank(1) (the check is real)", async () => {
      const empty = `${root}/no-man`;
      await Deno.mkdir(empty);
      const result = await verify(empty);
      assert.notEqual(result.code, 0);
      assert.match(result.stderr, /man yank\(1\)/);
    });
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
