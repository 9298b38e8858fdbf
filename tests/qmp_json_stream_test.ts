import assert from "node:assert/strict";
import { JsonStreamError, JsonStreamParser } from "../lib/qmp/json_stream.ts";
import { fuzzParserOnce } from "./support/qmp_fuzz.ts";

const encoder = new TextEncoder();
const bytes = (text: string) => encoder.encode(text);

/** Feeds `data` in chunks cut at `cuts` and returns every value produced. */
function feed(parser: JsonStreamParser, data: Uint8Array, cuts: number[] = []): unknown[] {
  const values: unknown[] = [];
  let from = 0;
  for (const cut of [...cuts, data.length]) {
    values.push(...parser.push(data.subarray(from, cut)));
    from = cut;
  }
  return values;
}

const GREETING_LINE =
  `{"QMP": {"version": {"qemu": {"micro": 22, "minor": 2, "major": 7}, "package": "Debian 1:7.2+dfsg-7+deb12u18+b3"}, "capabilities": ["oob"]}}\r\n`;

// Findings §8: pretty=on, four-space indentation and CRLF on every line, "{\r\n    }" for {}.
const PRETTY_GREETING = [
  "{",
  '    "QMP": {',
  '        "version": {',
  '            "qemu": {',
  '                "micro": 22,',
  '                "minor": 2,',
  '                "major": 7',
  "            },",
  '            "package": "Debian 1:7.2+dfsg-7+deb12u18+b3"',
  "        },",
  '        "capabilities": [',
  '            "oob"',
  "        ]",
  "    }",
  "}",
  "",
].join("\r\n");
const PRETTY_CAPS_REPLY = '{\r\n    "return": {\r\n    },\r\n    "id": "c1"\r\n}\r\n';

Deno.test("JsonStreamParser frames QMP's stream", async (t) => {
  await t.step("splits CRLF-terminated objects", () => {
    const parser = new JsonStreamParser();
    const values = feed(parser, bytes(`${GREETING_LINE}{"return": {}, "id": "c1"}\r\n`));
    assert.equal(values.length, 2);
    assert.deepEqual(values[1], { return: {}, id: "c1" });
    assert.equal(parser.pendingBytes, 0);
  });

  await t.step("reads pretty=on objects that span many CRLF lines", () => {
    const parser = new JsonStreamParser();
    const values = feed(parser, bytes(PRETTY_GREETING + PRETTY_CAPS_REPLY));
    assert.deepEqual(values, [
      {
        QMP: {
          version: {
            qemu: { micro: 22, minor: 2, major: 7 },
            package: "Debian 1:7.2+dfsg-7+deb12u18+b3",
          },
          capabilities: ["oob"],
        },
      },
      { return: {}, id: "c1" },
    ]);
  });

  await t.step("gives the same values whatever byte boundary a read splits at", () => {
    const text = `${GREETING_LINE}{"event": "X", "data": {"name": "café ☕ 𝄞 \\"{[\\\\"}}\r\n` +
      PRETTY_CAPS_REPLY;
    const data = bytes(text);
    const expected = feed(new JsonStreamParser(), data);
    assert.equal(expected.length, 3);
    for (let cut = 0; cut <= data.length; cut++) {
      assert.deepEqual(feed(new JsonStreamParser(), data, [cut]), expected, `cut at ${cut}`);
    }
    // And one byte at a time, which splits every multi-byte UTF-8 sequence.
    const everyByte = Array.from({ length: data.length }, (_, i) => i);
    assert.deepEqual(feed(new JsonStreamParser(), data, everyByte), expected);
  });

  await t.step("ignores braces, brackets, quotes and escapes inside strings", () => {
    const message = {
      return: [{ type: "chardev", id: '}]{["\\\\"\\' }, { type: "chardev", id: "\\" }],
      id: "a}",
    };
    const values = feed(new JsonStreamParser(), bytes(`${JSON.stringify(message)}\r\n`));
    assert.deepEqual(values, [message]);
  });

  await t.step("reads a 500 KB reply on one line", () => {
    const big = { return: Array.from({ length: 20000 }, (_, i) => ({ name: `x${i}`.repeat(4) })) };
    const line = bytes(`${JSON.stringify(big)}\r\n`);
    assert.ok(line.length > 500_000);
    const values = feed(new JsonStreamParser(), line, [1000, 70_000, 300_000]);
    assert.deepEqual(values, [big]);
  });

  await t.step("accepts a top-level array (the client rejects it, not the framing)", () => {
    assert.deepEqual(feed(new JsonStreamParser(), bytes("[1, [2]]\r\n{}")), [[1, [2]], {}]);
  });

  await t.step("releases a large buffer once its message is done", () => {
    const parser = new JsonStreamParser();
    feed(parser, bytes(`{"a": "${"x".repeat(1_000_000)}"}`));
    assert.equal(parser.pendingBytes, 0);
    assert.deepEqual(feed(parser, bytes('{"b": 1}')), [{ b: 1 }]);
  });
});

Deno.test("JsonStreamParser rejects what is not QMP framing", async (t) => {
  await t.step("garbage between messages is an error", () => {
    const parser = new JsonStreamParser();
    assert.throws(
      () => feed(parser, bytes('{"a": 1}\r\nHELLO\r\n{"b": 2}')),
      (error: unknown) =>
        error instanceof JsonStreamError && /unexpected character "H"/.test(error.message),
    );
  });

  await t.step("values completed before the garbage in the same chunk travel on the error", () => {
    const parser = new JsonStreamParser();
    assert.throws(
      () => parser.push(bytes('{"return": {}, "id": "a"}\r\nHELLO')),
      (error: unknown) =>
        error instanceof JsonStreamError &&
        JSON.stringify(error.values) === '[{"return":{},"id":"a"}]',
    );
  });

  await t.step("a top-level string or number is an error", () => {
    assert.throws(() => feed(new JsonStreamParser(), bytes('"text"')), JsonStreamError);
    assert.throws(() => feed(new JsonStreamParser(), bytes("42")), JsonStreamError);
  });

  await t.step("a message over the size limit is an error, even before it ends", () => {
    const parser = new JsonStreamParser({ maxMessageBytes: 1000 });
    assert.throws(
      () => feed(parser, bytes(`{"a": "${"x".repeat(2000)}`)),
      /message longer than 1000 bytes/,
    );
    const complete = new JsonStreamParser({ maxMessageBytes: 1000 });
    assert.throws(() => feed(complete, bytes(`{"a": "${"x".repeat(2000)}"}`)), JsonStreamError);
  });

  await t.step("a message within the size limit is fine", () => {
    const parser = new JsonStreamParser({ maxMessageBytes: 1000 });
    assert.equal(feed(parser, bytes(`{"a": "${"x".repeat(900)}"}`)).length, 1);
  });

  await t.step("nesting over the depth limit is an error", () => {
    const parser = new JsonStreamParser({ maxDepth: 10 });
    assert.throws(() => feed(parser, bytes("[".repeat(11))), /nests deeper than 10 levels/);
    const deep = new JsonStreamParser();
    assert.throws(() => feed(deep, bytes(`${"[".repeat(100_000)}`)), JsonStreamError);
  });

  await t.step("nesting at the depth limit is fine", () => {
    const parser = new JsonStreamParser({ maxDepth: 10 });
    assert.equal(feed(parser, bytes(`${"[".repeat(10)}${"]".repeat(10)}`)).length, 1);
  });

  await t.step("invalid UTF-8 is an error", () => {
    const data = new Uint8Array([...bytes('{"a": "'), 0xff, 0xfe, ...bytes('"}')]);
    assert.throws(() => feed(new JsonStreamParser(), data), /not valid UTF-8/);
    const truncated = new Uint8Array([...bytes('{"a": "'), 0xe2, 0x98, ...bytes('"}')]);
    assert.throws(() => feed(new JsonStreamParser(), truncated), JsonStreamError);
  });

  await t.step("balanced but invalid JSON is an error", () => {
    assert.throws(() => feed(new JsonStreamParser(), bytes("{a: 1}")), /invalid JSON/);
    assert.throws(() => feed(new JsonStreamParser(), bytes("{]")), JsonStreamError);
    assert.throws(() => feed(new JsonStreamParser(), bytes('{"a": 1,}')), JsonStreamError);
  });
});

/** Seeded, so that a failure can be replayed. */
const FUZZ_SEED = 20261125;
const FUZZ_ITERATIONS = 20_000;

Deno.test(`fuzzed QMP streams raise only documented errors: JsonStreamParser survives ${FUZZ_ITERATIONS} mutated streams`, () => {
  const outcomes = { "ok": 0, "documented-error": 0 };
  for (let i = 0; i < FUZZ_ITERATIONS; i++) outcomes[fuzzParserOnce(FUZZ_SEED + i)]++;
  // Both outcomes must occur, or the mutations are not exercising anything.
  assert.ok(outcomes.ok > 100 && outcomes["documented-error"] > 100, JSON.stringify(outcomes));
});
