/**
 * A long fuzz run: `deno task fuzz [--iterations N] [--client-iterations M] [--seed S]` fuzzes
 * the QMP parser and client; `deno task fuzz --names [--minutes M] [--seed S]` runs the names
 * sweep of tests/names_property_test.ts against one real QEMU until the time is up, a new seed
 * per round. Prints the outcome counts; exits 1 after printing the seed (and, for names, the
 * path and counterexample) of every finding.
 */

import { parseArgs } from "node:util";
import fc from "../tests/support/fast_check.ts";
import { fuzzClientOnce, fuzzParserOnce } from "../tests/support/qmp_fuzz.ts";
import { NameSweep } from "../tests/support/names_sweep.ts";
import { domainCase, DomainSweep } from "../tests/support/domain_sweep.ts";
import { nameCase } from "../tests/support/wild_names.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    "iterations": { type: "string", default: "200000" },
    "client-iterations": { type: "string", default: "5000" },
    "seed": { type: "string", default: String(Date.now() % 1_000_000_000) },
    "concurrency": { type: "string", default: "50" },
    "names": { type: "boolean", default: false },
    "minutes": { type: "string", default: "10" },
  },
});
const seed = Number(values.seed);

if (values.names) Deno.exit(await fuzzNames(seed, Number(values.minutes) * 60_000));

const iterations = Number(values.iterations);
const clientIterations = Number(values["client-iterations"]);
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

/**
 * Rounds of the names sweep, and of the libvirt domain sweep, each with seed `seed + round`,
 * until `budgetMs` is spent. A failing round prints its seed, path and counterexample and the
 * run goes on with the next seed, so one run can find several faults.
 */
async function fuzzNames(seed: number, budgetMs: number): Promise<number> {
  const started = performance.now();
  const findings = new Map<string, string>();
  let cases = 0;
  let domainCases = 0;
  await using sweep = await NameSweep.start();
  await using domains = await DomainSweep.start();
  console.log(`names: seed ${seed}, ${budgetMs / 60_000} minutes`);
  for (let round = 0; performance.now() - started < budgetMs; round++) {
    const left = budgetMs - (performance.now() - started);
    for (
      const [what, property, numRuns] of [
        ["names", fc.asyncProperty(nameCase(), (c) => sweep.run(c)), 100],
        ["domains", fc.asyncProperty(domainCase(), (c) => domains.run(c)), 500],
      ] as const
    ) {
      const before = what === "names" ? sweep.cases : domains.cases;
      const outcome = await fc.check(property as fc.IAsyncProperty<[unknown]>, {
        seed: seed + round,
        numRuns,
        endOnFailure: true,
        interruptAfterTimeLimit: Math.max(1000, left),
      });
      if (what === "names") cases += sweep.cases - before;
      else domainCases += domains.cases - before;
      if (!outcome.failed) continue;
      const error = outcome.errorInstance instanceof Error
        ? outcome.errorInstance.message
        : String(outcome.errorInstance);
      const key = `${what}: ${error.split("\n")[0]}`;
      const report = `${what}: seed ${outcome.seed}, path ${outcome.counterexamplePath}\n` +
        `counterexample: ${fc.stringify(outcome.counterexample)}\n${error}`;
      console.log(`FINDING ${report}\n`);
      if (!findings.has(key)) findings.set(key, report);
    }
    console.log(
      `round ${round}: ${cases} name cases, ${domainCases} domain cases, ${findings.size} distinct findings, ${
        ((performance.now() - started) / 1000).toFixed(0)
      } s`,
    );
  }
  console.log(`names: ${cases} name cases and ${domainCases} domain cases, seed ${seed}`);
  for (const report of findings.values()) console.log(`\n${report}`);
  return findings.size === 0 ? 0 : 1;
}
