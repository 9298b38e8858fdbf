/**
 * The systemd units the operator's guide shows are the files in systemd/, and each scores below
 * 2.5 ("OK") in
 * `systemd-analyze security --offline=true`, Debian 12's systemd 252.
 */

import assert from "node:assert/strict";
import { GUIDE, guideUnits } from "./support/guide_units.ts";

const ROOT = new URL("../", import.meta.url);
const MOST_EXPOSURE = 2.5;

/** The overall exposure systemd-analyze gives the unit `name` with text `text`. */
async function exposure(name: string, text: string): Promise<number> {
  const dir = await Deno.makeTempDir({ prefix: "yank-security-" });
  try {
    await Deno.writeTextFile(`${dir}/${name}`, text);
    const output = await new Deno.Command("systemd-analyze", {
      args: ["security", "--offline=true", "--no-pager", `./${name}`],
      cwd: dir,
      env: { PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin", SYSTEMD_COLORS: "0" },
      clearEnv: true,
      stdin: "null",
    }).output();
    const stdout = new TextDecoder().decode(output.stdout);
    const stderr = new TextDecoder().decode(output.stderr);
    const score = stdout.match(/Overall exposure level for \S+: (\d+\.\d)/);
    assert.ok(score, `systemd-analyze gave no score (exit ${output.code}):\n${stdout}${stderr}`);
    return Number(score[1]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("the guide's units are the files in systemd/, and the tmpfiles.d line too", async () => {
  const units = guideUnits();
  assert.deepEqual(units.map((u) => u.name).sort(), ["yank-domain@.service", "yank-watch.service"]);
  for (const unit of units) {
    const file = await Deno.readTextFile(new URL(`systemd/${unit.name}`, ROOT));
    assert.equal(unit.text, file, `docs/guide.md's ${unit.name} differs from systemd/${unit.name}`);
  }
  const guide = await Deno.readTextFile(GUIDE);
  const tmpfiles = await Deno.readTextFile(new URL("systemd/yank.conf", ROOT));
  assert.ok(guide.includes("```\n" + tmpfiles + "```"), "docs/guide.md's tmpfiles.d block differs");
});

Deno.test("each unit the guide shows scores below 2.5 in systemd-analyze security", async (t) => {
  for (const unit of guideUnits()) {
    await t.step(unit.name, async () => {
      const score = await exposure(unit.name, unit.text);
      console.log(`${unit.name}: exposure ${score}`);
      assert.ok(score < MOST_EXPOSURE, `${unit.name} scores ${score}, more than ${MOST_EXPOSURE}`);
    });
  }
  await t.step("the same unit without its [Service] hardening scores above 2.5", async () => {
    const unit = guideUnits()[0]!;
    const bare = unit.text.replace(
      /^(?!ExecStart=| {2}|Restart|\[|Description|After|Documentation|WantedBy).*\n/gm,
      "",
    );
    assert.match(bare, /^ExecStart=/m);
    assert.ok(await exposure(unit.name, bare) > MOST_EXPOSURE);
  });
});
