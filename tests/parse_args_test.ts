/**
 * lib/cli/parse_args.ts stands in for node:util's parseArgs (to keep node: out of start-up):
 * it must agree with node:util on values, positionals, tokens and error messages.
 */

import assert from "node:assert/strict";
import { parseArgs as nodeParseArgs } from "node:util";
import { parseArgs } from "../lib/cli/parse_args.ts";

const OPTIONS = {
  "socket": { type: "string", short: "s", multiple: true },
  "timeout": { type: "string", short: "t" },
  "format": { type: "string" },
  "chardev": { type: "string", multiple: true },
  "json": { type: "boolean" },
  "help": { type: "boolean", short: "h" },
  "version": { type: "boolean", short: "V" },
} as const;

const WORDS = [
  "list",
  "a",
  "-",
  "--",
  "-5",
  "--json",
  "--json=1",
  "--help",
  "-h",
  "-V",
  "-hV",
  "-hs",
  "-hsx",
  "-Vt1",
  "-s",
  "-sx",
  "--socket",
  "--socket=",
  "--socket=/run/*.qmp",
  "-t",
  "-t-1",
  "--timeout",
  "--timeout=-1",
  "--format",
  "--chardev",
  "--chardev=c*",
  "--nope",
  "--nope=1",
  "-x",
  "-hx",
  "---x",
  "--=",
  "-h=1",
  "-h-",
  "--__proto__",
  "--toString",
  "--constructor=1",
];

function outcome(parse: () => unknown): unknown {
  try {
    return JSON.parse(JSON.stringify(parse()));
  } catch (error) {
    return { error: (error as Error).message, class: (error as Error).name };
  }
}

function random(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state * 1103515245 + 12345) % 2147483648;
    return state / 2147483648;
  };
}

Deno.test("parseArgs agrees with node:util on values, tokens and errors", () => {
  const next = random(4);
  const lines: string[][] = [[], ...WORDS.map((word) => [word])];
  for (let i = 0; i < 4000; i++) {
    const length = 1 + Math.floor(next() * 5);
    lines.push(Array.from({ length }, () => WORDS[Math.floor(next() * WORDS.length)]!));
  }
  let errors = 0;
  for (const args of lines) {
    const config = {
      args,
      options: OPTIONS,
      allowPositionals: true,
      strict: true,
      tokens: true,
    } as const;
    const ours = outcome(() => parseArgs(config));
    const node = outcome(() => nodeParseArgs(config));
    assert.deepEqual(ours, node, `for ${JSON.stringify(args)}`);
    if ((node as { error?: string }).error) errors++;
  }
  // Both outcomes are exercised, so the comparison cannot pass vacuously.
  assert.ok(errors > 100 && errors < lines.length - 100, `${errors} of ${lines.length} failed`);
});
