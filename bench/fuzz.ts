/**
 * A long fuzz run: `deno task fuzz [--iterations N] [--client-iterations M] [--seed S]`.
 * Prints the outcome counts; exits 1 with the reproducing seed on the first finding.
 */

import { parseArgs } from "node:util";
import { fuzzClientOnce, fuzzParserOnce } from "../tests/support/qmp_fuzz.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    "iterations": { type: "string", default: "200000" },
    "client-iterations": { type: "string", default: "5000" },
    "seed": { type: "string", default: String(Date.now() % 1_000_000_000) },
    "concurrency": { type: "string", default: "50" },
  },
});
const iterations = Number(values.iterations);
const clientIterations = Number(values["client-iterations"]);
const seed = Number(values.seed);
const concurrency = Number(values.concurrency);

console.log(`seed ${seed}: ${iterations} parser and ${clientIterations} client iterations`);
try {
  const parser = { "ok": 0, "documented-error": 0 };
  for (let i = 0; i < iterations; i++) parser[fuzzParserOnce(seed + i)]++;
  console.log("parser:", parser);
  const client = { "ok": 0, "documented-error": 0 };
  for (let i = 0; i < clientIterations; i += concurrency) {
    const batch = Array.from(
      { length: Math.min(concurrency, clientIterations - i) },
      (_, j) => fuzzClientOnce(seed + i + j, 100),
    );
    for (const outcome of await Promise.all(batch)) client[outcome]++;
  }
  console.log("client:", client);
} catch (error) {
  console.error(error instanceof Error ? error.message : error);
  Deno.exit(1);
}
