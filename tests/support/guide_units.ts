/** The systemd units the operator's guide (docs/guide.md) shows, as the tests read them. */

import assert from "node:assert/strict";

const ROOT = new URL("../../", import.meta.url);

/** The operator's guide, where the units are documented. */
export const GUIDE = new URL("docs/guide.md", ROOT);

/** A unit the guide shows: its file name under /etc/systemd/system and its text. */
export interface GuideUnit {
  name: string;
  text: string;
}

/** The guide's systemd units: each ```ini block with [Unit] or [Service], named as the guide says. */
export function guideUnits(): GuideUnit[] {
  const guide = Deno.readTextFileSync(GUIDE);
  const units: GuideUnit[] = [];
  for (const match of guide.matchAll(/```ini\n([\s\S]*?)```/g)) {
    const text = match[1]!;
    if (!/^\[(Unit|Service)\]$/m.test(text)) continue;
    const before = guide.slice(Math.max(0, match.index! - 400), match.index!);
    const path = [...before.matchAll(/`\/etc\/systemd\/system\/([^`/]+)`/g)].at(-1);
    assert.ok(path, `docs/guide.md names no file for the unit:\n${text}`);
    assert.ok(
      !units.some((unit) => unit.name === path[1]),
      `docs/guide.md gives two units the same file name ${path[1]}`,
    );
    units.push({ name: path[1]!, text });
  }
  return units;
}
