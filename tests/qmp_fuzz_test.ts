import assert from "node:assert/strict";
import { fuzzClientOnce, fuzzParserOnce } from "./support/qmp_fuzz.ts";

const SEED = 20261125;
const PARSER_ITERATIONS = 20_000;
const CLIENT_ITERATIONS = 1000;
const CLIENT_CONCURRENCY = 25;

Deno.test("fuzzed QMP streams raise only documented errors", async (t) => {
  await t.step(`JsonStreamParser survives ${PARSER_ITERATIONS} mutated streams`, () => {
    const outcomes = { "ok": 0, "documented-error": 0 };
    for (let i = 0; i < PARSER_ITERATIONS; i++) outcomes[fuzzParserOnce(SEED + i)]++;
    // Both outcomes must occur, or the mutations are not exercising anything.
    assert.ok(outcomes.ok > 100 && outcomes["documented-error"] > 100, JSON.stringify(outcomes));
  });

  await t.step(`QmpClient survives ${CLIENT_ITERATIONS} mutated conversations`, async () => {
    const outcomes = { "ok": 0, "documented-error": 0 };
    for (let i = 0; i < CLIENT_ITERATIONS; i += CLIENT_CONCURRENCY) {
      const batch = Array.from(
        { length: Math.min(CLIENT_CONCURRENCY, CLIENT_ITERATIONS - i) },
        (_, j) => fuzzClientOnce(SEED + i + j, 100),
      );
      for (const outcome of await Promise.all(batch)) outcomes[outcome]++;
    }
    assert.ok(outcomes.ok > 10 && outcomes["documented-error"] > 10, JSON.stringify(outcomes));
  });
});
