/** README's systemd units, as the tests read them. */

import assert from "node:assert/strict";

const ROOT = new URL("../../", import.meta.url);

/** A unit README shows: its file name under /etc/systemd/system and its text. */
export interface ReadmeUnit {
  name: string;
  text: string;
}

/** README's systemd units: each ```ini block with [Unit] or [Service], named as README says. */
export function readmeUnits(): ReadmeUnit[] {
  const readme = Deno.readTextFileSync(new URL("README.md", ROOT));
  const units: ReadmeUnit[] = [];
  for (const match of readme.matchAll(/```ini\n([\s\S]*?)```/g)) {
    const text = match[1]!;
    if (!/^\[(Unit|Service)\]$/m.test(text)) continue;
    const before = readme.slice(Math.max(0, match.index! - 400), match.index!);
    const path = [...before.matchAll(/`\/etc\/systemd\/system\/([^`/]+)`/g)].at(-1);
    assert.ok(path, `README names no file for the unit:\n${text}`);
    assert.ok(
      !units.some((unit) => unit.name === path[1]),
      `README gives two units the same file name ${path[1]}`,
    );
    units.push({ name: path[1]!, text });
  }
  return units;
}
