/**
 * yank: get a hung QEMU back by yanking its network connections over QMP.
 * See README.md, or run `yank --help`.
 */

import { main } from "./lib/cli/main.ts";

if (import.meta.main) Deno.exit(await main(Deno.args));
