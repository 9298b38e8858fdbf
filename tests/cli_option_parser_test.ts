/**
 * The option parser yank uses instead of node:util's parseArgs, which loads Node's
 * compatibility layer: its own cases, and agreement with parseArgs on random command lines
 * (values, operands, which options were given, and whether the line is refused).
 */

import assert from "node:assert/strict";
import { parseArgs } from "node:util";
import { OptionSyntaxError, parseOptions } from "../lib/cli/option_parser.ts";
import { OPTION_NAMES, OPTIONS } from "../lib/cli/options.ts";

function refusal(args: string[]): string {
  try {
    parseOptions(args, OPTIONS);
  } catch (error) {
    assert.ok(error instanceof OptionSyntaxError);
    return error.message;
  }
  throw new Error(`${JSON.stringify(args)} was accepted`);
}

Deno.test("parseOptions reads the POSIX forms", async (t) => {
  await t.step("long options, with the value after a blank or an =", () => {
    const { values, positionals, given } = parseOptions(
      ["list", "--socket", "a", "--socket=b", "--json", "--timeout=2", "--timeout", "3", "x"],
      OPTIONS,
    );
    assert.deepEqual(values, { socket: ["a", "b"], json: true, timeout: "3" });
    assert.deepEqual(positionals, ["list", "x"]);
    assert.deepEqual([...given].sort(), ["json", "socket", "timeout"]);
  });
  await t.step("short options, with the value apart or attached, and grouped flags", () => {
    assert.deepEqual(parseOptions(["-s", "a", "-sb", "-t5"], OPTIONS).values, {
      socket: ["a", "b"],
      timeout: "5",
    });
    assert.deepEqual(parseOptions(["-hV"], OPTIONS).values, { help: true, version: true });
    assert.deepEqual(parseOptions(["-hs/run/x"], OPTIONS).values, {
      help: true,
      socket: ["/run/x"],
    });
  });
  await t.step("-- ends the options; a lone - is an operand", () => {
    const { values, positionals } = parseOptions(["chardev", "-", "--", "--json", "-x"], OPTIONS);
    assert.deepEqual(values, {});
    assert.deepEqual(positionals, ["chardev", "-", "--json", "-x"]);
  });
  await t.step("a value may be empty or hold = and blanks", () => {
    assert.deepEqual(parseOptions(["--socket=", "--chardev=a=b c"], OPTIONS).values, {
      socket: [""],
      chardev: ["a=b c"],
    });
  });
});

Deno.test("parseOptions refuses what does not fit the declarations", async (t) => {
  await t.step("an unknown option, long or short, even one named like a property", () => {
    assert.equal(refusal(["--bogus"]), 'Unknown option "--bogus"');
    assert.equal(refusal(["-x"]), 'Unknown option "-x"');
    assert.equal(refusal(["-hx"]), 'Unknown option "-x"');
    assert.equal(refusal(["--constructor"]), 'Unknown option "--constructor"');
    assert.equal(refusal(["--__proto__=1"]), 'Unknown option "--__proto__"');
  });
  await t.step("an option without its value", () => {
    assert.equal(refusal(["--socket"]), "--socket (-s) needs a value");
    assert.equal(refusal(["-t"]), "--timeout (-t) needs a value");
    assert.equal(refusal(["--format"]), "--format needs a value");
  });
  await t.step("a value that is most likely the next option", () => {
    const message =
      '--timeout needs a value; to give one that starts with "-", write --timeout=VALUE';
    assert.equal(refusal(["--timeout", "--json"]), message);
    assert.equal(refusal(["-t", "-1"]), message);
    assert.deepEqual(parseOptions(["--timeout=-1", "-s", "-"], OPTIONS).values, {
      timeout: "-1",
      socket: ["-"],
    });
  });
  await t.step("a value given to a flag", () => {
    assert.equal(refusal(["--json=yes"]), "--json takes no value");
    assert.equal(refusal(["--help="]), "--help (-h) takes no value");
  });
  await t.step("the first problem on the line is the one named", () => {
    assert.equal(refusal(["--bogus", "--socket"]), 'Unknown option "--bogus"');
  });
  await t.step("leniently, nothing is refused and the operands are still found", () => {
    const { positionals } = parseOptions(["--bogus", "check", "--json=1", "-t"], OPTIONS, false);
    assert.deepEqual(positionals, ["check"]);
  });
});

Deno.test("parseOptions agrees with node:util's parseArgs on random command lines", () => {
  const nodeOptions = Object.fromEntries(OPTION_NAMES.map((name) => {
    const { type, repeatable, short } = OPTIONS[name] as {
      type: "string" | "boolean";
      repeatable?: boolean;
      short?: string;
    };
    return [name, { type, multiple: repeatable === true, ...(short ? { short } : {}) }];
  }));
  const words = [
    ...["list", "chardev", "x", "-", "--", "-s", "-t", "-h", "-V", "-hV", "-Vs", "-sfoo", "-x"],
    ...["--socket", "--socket=", "--socket=a", "--json", "--json=1", "--timeout", "-1"],
    ...["--chardev", "--chardev=c", "--bogus", "--constructor", "=", "--=x", "-hx", "-h-"],
    ...["--migration", "--spare", "a b", "é", "--format=json", "-ts"],
  ];
  let seed = 1;
  const pick = (n: number) => (seed = (seed * 1103515245 + 12345) % 2147483648) % n;
  for (let i = 0; i < 20000; i++) {
    const args = Array.from({ length: pick(6) }, () => words[pick(words.length)]!);
    for (const strict of [true, false]) {
      let expected: unknown = "refused";
      try {
        const r = parseArgs({
          args,
          options: nodeOptions,
          allowPositionals: true,
          strict,
          tokens: true,
        });
        const given = new Set(r.tokens.flatMap((t) => t.kind === "option" ? [t.name] : []));
        expected = strict ? [{ ...r.values }, r.positionals, [...given].sort()] : r.positionals;
      } catch { /* refused */ }
      let actual: unknown = "refused";
      try {
        const r = parseOptions(args, OPTIONS, strict);
        actual = strict ? [r.values, r.positionals, [...r.given].sort()] : r.positionals;
      } catch { /* refused */ }
      assert.deepEqual(
        actual,
        expected,
        `${strict ? "strict" : "lenient"} ${JSON.stringify(args)}`,
      );
    }
  }
});
