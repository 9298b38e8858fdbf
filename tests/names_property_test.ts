/**
 * Names from the wild, as properties: for seeded, generated odd but legal names of everything
 * yank reads from QEMU or takes from the user (chardev ids, node-names, device ids, NBD export
 * names, socket paths and their spellings), `list`, `list --json`, the yank forms, `check` and
 * `watch` against one real QEMU exit only with documented codes, never say "Internal error", and
 * show each name verbatim. `deno task fuzz --names` runs the same sweep for longer.
 * YANK_NAMES_SEED picks another seed; a failure prints the seed and the shrunk case.
 */

import fc from "fast-check";
import { NameSweep } from "./support/names_sweep.ts";
import { nameCase } from "./support/wild_names.ts";
import { domainCase, DomainSweep } from "./support/domain_sweep.ts";

/** Cases of the sweep in the suite; `deno task fuzz --names` runs thousands. */
const SUITE_CASES = 24;
/** Domains read back through the status XML reader: no QEMU, so many more. */
const DOMAIN_CASES = 300;
const SEED = Number(Deno.env.get("YANK_NAMES_SEED") ?? 18_2026);

Deno.test("odd but legal names reach list, the yank forms, check and watch verbatim", async () => {
  await using sweep = await NameSweep.start();
  await fc.assert(
    fc.asyncProperty(nameCase(), (c) => sweep.run(c)),
    { seed: SEED, numRuns: SUITE_CASES, endOnFailure: true },
  );
});

Deno.test("odd but legal libvirt domain names, disk targets and monitor paths are read verbatim", async () => {
  await using sweep = await DomainSweep.start();
  await fc.assert(
    fc.asyncProperty(domainCase(), (c) => sweep.run(c)),
    { seed: SEED, numRuns: DOMAIN_CASES },
  );
});
