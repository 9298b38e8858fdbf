/**
 * The floors of lib/: a module imports from its own folder and from the floors below, never from
 * one above. README's layout lists the same order, ground floor first.
 */

import assert from "node:assert/strict";

/** lib/'s folders and top-level files, ground floor first. */
const FLOORS = [
  "errors.ts",
  "glob.ts",
  "render",
  "qmp",
  "nbd",
  "sockets",
  "liveness",
  "yank",
  "libvirt",
  "health",
  "proxy",
  "watch",
  "completions",
  "cli",
];

/** One import that breaks the order, as `importer -> imported` (paths under lib/). */
function upwardImports(files: ReadonlyMap<string, string>): string[] {
  const floorOf = (path: string) => FLOORS.indexOf(path.split("/")[0]!);
  const found: string[] = [];
  for (const [path, text] of files) {
    const floor = floorOf(path);
    if (floor < 0) {
      found.push(`${path}: in no floor (add its folder to FLOORS and README's layout)`);
      continue;
    }
    for (const specifier of relativeImports(text)) {
      const target = new URL(specifier, `file:///lib/${path}`).pathname;
      const imported = target.startsWith("/lib/") ? target.slice("/lib/".length) : target;
      const to = target.startsWith("/lib/") ? floorOf(imported) : -1;
      if (to < 0 || to > floor) found.push(`${path} -> ${imported}`);
    }
  }
  return found;
}

/** The relative specifiers of a module's imports and re-exports, comment lines left out. */
function relativeImports(text: string): string[] {
  const code = text.split("\n")
    .filter((line) => !/^\s*(\*|\/\*|\/\/)/.test(line))
    .join("\n");
  return [...code.matchAll(/\b(?:from|import)\s*\(?\s*"(\.\.?\/[^"]+)"/g)].map((m) => m[1]!);
}

async function libFiles(): Promise<Map<string, string>> {
  const root = new URL("../lib/", import.meta.url);
  const files = new Map<string, string>();
  const walk = async (dir: string) => {
    for await (const entry of Deno.readDir(new URL(dir, root))) {
      const path = dir + entry.name;
      if (entry.isDirectory) await walk(path + "/");
      else if (path.endsWith(".ts")) files.set(path, await Deno.readTextFile(new URL(path, root)));
    }
  };
  await walk("");
  return files;
}

Deno.test("no module in lib/ imports from a floor above its own", async () => {
  const files = await libFiles();
  assert.ok(files.size > 50, `only ${files.size} modules found under lib/`);
  assert.deepEqual(upwardImports(files), []);
});

Deno.test("the floor check finds an upward import, a re-export, a type import and a stray folder", () => {
  const files = new Map([
    ["glob.ts", 'import { YankError } from "./errors.ts";\n'],
    [
      "qmp/client.ts",
      'import {\n  isGlob,\n} from "../glob.ts";\nimport { x } from "./errors.ts";\n',
    ],
    ["qmp/sockets.ts", 'import { compileGlob } from "../yank/match.ts";\n'],
    ["render/table.ts", 'export { watch } from "../watch/log.ts";\n'],
    ["liveness/judge.ts", 'type Peer = typeof import("../yank/peers.ts");\n'],
    ["nbd/handshake.ts", '/**\n * Not like lib/cli: import { a } from "../cli/io.ts".\n */\n'],
    ["peers/probe.ts", "export const x = 1;\n"],
  ]);
  assert.deepEqual(upwardImports(files), [
    "qmp/sockets.ts -> yank/match.ts",
    "render/table.ts -> watch/log.ts",
    "liveness/judge.ts -> yank/peers.ts",
    "peers/probe.ts: in no floor (add its folder to FLOORS and README's layout)",
  ]);
});
