/**
 * `deno task bench`: wall time and peak memory of yank's one-shot paths against real QEMU,
 * each as a ratio to a bare `deno run` of an empty script measured in the same run, checked
 * against the project's speed goals (see `evaluateGoals`).
 *
 *   deno task bench [--runs N] [--warmup N] [--vms N] [--out FILE]
 *
 * The CLI runs as `deno run --no-config <the compile task's permission flags> main.ts ...`: as
 * in the tests, less the deno.json that the compiled binary never reads (one case reads it, to
 * show its cost). Cases are interleaved round-robin so that noise from other load spreads evenly over
 * them. Every run's exit code and output are checked: a fast wrong answer does not count.
 * Wall time is measured without GNU time; peak RSS and CPU time (user + system, all threads) in a
 * second pass under GNU `time`. CPU time suffers less than wall time when other work loads the
 * machine, but GNU time counts it in 10 ms steps: its mean over the runs is reported.
 */

import { compilePermissionFlags } from "../tests/support/cli.ts";
import { QemuLab } from "../tests/support/qemu_lab.ts";
import { nodeModulesLoaded, withoutNpm } from "../tests/support/without_npm.ts";
import { ensureBenchTools } from "./tools.ts";
import { describeMachine, type Machine } from "./machine.ts";
import { benchProxyAttacks, renderProxyAttacks } from "./proxy_attack.ts";

const ROOT = new URL("../", import.meta.url);
const MAIN = new URL("main.ts", ROOT).pathname;

interface Options {
  runs: number;
  warmup: number;
  vms: number;
  out: string;
}

function parseOptions(args: string[]): Options {
  const options: Options = {
    runs: 20,
    warmup: 3,
    vms: 32,
    out: new URL("bench/results/latest.json", ROOT).pathname,
  };
  for (let i = 0; i < args.length; i++) {
    const [flag, value] = [args[i], args[i + 1]];
    if (value === undefined) throw new Error(`${flag} needs a value`);
    if (flag === "--out") options.out = value;
    else if (flag === "--runs" || flag === "--warmup" || flag === "--vms") {
      const n = Number(value);
      if (!Number.isInteger(n) || n < (flag === "--warmup" ? 0 : 1)) {
        throw new Error(`${flag} takes a whole number, got ${JSON.stringify(value)}`);
      }
      options[flag.slice(2) as "runs" | "warmup" | "vms"] = n;
    } else throw new Error(`Unknown option ${JSON.stringify(flag)}`);
    i++;
  }
  return options;
}

/** One thing to measure: a command line, and how to tell that a run of it was right. */
interface Case {
  id: string;
  label: string;
  /** The command for run number `i` (the yank case needs a fresh chardev each time). */
  command: (i: number) => string[];
  check: (run: RunOutput) => string | undefined;
}

interface RunOutput {
  code: number;
  stdout: string;
  stderr: string;
}

interface CaseResult {
  id: string;
  label: string;
  command: string;
  wallMs: number[];
  rssKiB: number[];
  cpuMs: number[];
  meanCpuMs: number;
  cpuRatio: number;
  medianMs: number;
  medianRssMiB: number;
  ratio: number;
}

const decoder = new TextDecoder();

async function runOnce(argv: string[], env?: Record<string, string>): Promise<RunOutput> {
  const child = new Deno.Command(argv[0]!, {
    args: argv.slice(1),
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    ...(env ? { env } : {}),
  }).spawn();
  const output = await child.output();
  return {
    code: output.code,
    stdout: decoder.decode(output.stdout),
    stderr: decoder.decode(output.stderr),
  };
}

async function timedRun(argv: string[]): Promise<{ ms: number; output: RunOutput }> {
  const started = performance.now();
  const output = await runOnce(argv);
  return { ms: performance.now() - started, output };
}

async function rssRun(
  argv: string[],
  file: string,
): Promise<{ kib: number; cpuMs: number; output: RunOutput }> {
  const output = await runOnce(["/usr/bin/time", "-f", "%M %U %S", "-o", file, ...argv]);
  const [kib, user, system] = (await Deno.readTextFile(file)).trim().split("\n").at(-1)!
    .split(" ").map(Number);
  if (![kib, user, system].every(Number.isFinite)) {
    throw new Error(`GNU time wrote no peak RSS and CPU time for ${argv.join(" ")}`);
  }
  return { kib: kib!, cpuMs: (user! + system!) * 1000, output };
}

function mean(values: number[]): number {
  return values.reduce((sum, value) => sum + value, 0) / values.length;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/**
 * The CLI as the compiled binary runs it: with its permission flags and without deno.json, which
 * a binary never reads (and which maps no import). `withConfig` runs it as `deno task yank` does.
 */
function yankCli(args: string[], withConfig = false): string[] {
  const config = withConfig ? [] : ["--no-config"];
  return [Deno.execPath(), "run", "--quiet", ...config, ...compilePermissionFlags(), MAIN, ...args];
}

function expectJsonArray(length: number): (run: RunOutput) => string | undefined {
  return (run) => {
    if (run.code !== 0) return `exit ${run.code}: ${run.stderr.trim()}`;
    try {
      const items = JSON.parse(run.stdout);
      return Array.isArray(items) && items.length === length
        ? undefined
        : `expected ${length} entries, got ${run.stdout.slice(0, 200)}`;
    } catch {
      return `not JSON: ${run.stdout.slice(0, 200)}`;
    }
  };
}

/** TCP peers for the chardevs: accepts every connection and counts the ones that end. */
function chardevPeers(): { port: number; eofs: () => number; close: () => void } {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const conns: Deno.Conn[] = [];
  let eofs = 0;
  (async () => {
    for await (const conn of listener) {
      conns.push(conn);
      (async () => {
        const buffer = new Uint8Array(4096);
        try {
          while ((await conn.read(buffer)) !== null) { /* drain */ }
        } catch { /* a reset ends it too */ }
        eofs++;
      })();
    }
  })().catch(() => {});
  return {
    port: (listener.addr as Deno.NetAddr).port,
    eofs: () => eofs,
    close: () => {
      for (const closable of [listener, ...conns]) {
        try {
          closable.close();
        } catch { /* already closed */ }
      }
    },
  };
}

/**
 * `yank check` comes from another branch. Its help text exists before the command does, so
 * besides `check --help` succeeding, a trial run must not say it is not implemented.
 */
async function checkAvailable(socket: string): Promise<boolean> {
  const help = await runOnce(yankCli(["check", "--help"]));
  if (help.code !== 0) return false;
  const trial = await runOnce(yankCli(["check", "--socket", socket]));
  return !trial.stderr.includes("not implemented");
}

const QMP_ONE_LINER =
  `printf '%s\\n%s\\n' '{"execute":"qmp_capabilities","arguments":{"enable":["oob"]}}' ` +
  `'{"exec-oob":"query-yank","id":1}'`;

async function main(): Promise<void> {
  const options = parseOptions(Deno.args);
  await ensureBenchTools();
  const machineBefore = await describeMachine();
  await using lab = await QemuLab.create();
  const empty = lab.path("empty.ts");
  await Deno.writeTextFile(empty, "");

  // A QEMU with one connected chardev, like the tests: list, table, check, socat.
  const peers = chardevPeers();
  try {
    const chardevArgs = (ids: string[]) =>
      ids.flatMap((id) => [
        "-chardev",
        `socket,id=${id},host=127.0.0.1,port=${peers.port},server=off`,
      ]);
    const one = await lab.startQemu({ name: "one", args: chardevArgs(["charnet0"]) });
    // The yank target: one connected chardev per run (timed and RSS passes), each yanked once.
    const yanks = 2 * (options.runs + options.warmup);
    const yankIds = Array.from({ length: yanks }, (_, i) => `charnet${i}`);
    const target = await lab.startQemu({ name: "target", args: chardevArgs(yankIds) });
    await Promise.all(Array.from({ length: options.vms }, () => lab.startQemu({ name: "many" })));
    const manyGlob = `${lab.dir}/many*.qmp`;
    const hasCheck = await checkAvailable(one.socket);

    let nextYank = 0;
    const cases: Case[] = [
      {
        id: "bare",
        label: "bare `deno run` of an empty script",
        command: () => [Deno.execPath(), "run", "--quiet", empty],
        check: (run) => run.code === 0 ? undefined : `exit ${run.code}`,
      },
      {
        id: "list-json",
        label: "`yank list --json`",
        command: () => yankCli(["list", "--json", "--socket", one.socket]),
        check: expectJsonArray(2),
      },
      {
        id: "list-json-config",
        label: "`yank list --json`, reading deno.json as `deno task yank` does",
        command: () => yankCli(["list", "--json", "--socket", one.socket], true),
        check: expectJsonArray(2),
      },
      {
        id: "yank-chardev",
        label: "a yank (`yank chardev charnetN`)",
        command: () => yankCli(["chardev", yankIds[nextYank++]!, "--socket", target.socket]),
        check: (run) =>
          run.code === 0 && /^yanked chardev charnet\d+\n$/.test(run.stdout)
            ? undefined
            : `exit ${run.code}: ${run.stdout.trim()} ${run.stderr.trim()}`,
      },
      {
        id: "list-table",
        label: "`yank list` (table)",
        command: () => yankCli(["list", "--socket", one.socket]),
        check: (run) =>
          run.code === 0 && run.stdout.startsWith("TYPE ")
            ? undefined
            : `exit ${run.code}: ${run.stderr.trim()}`,
      },
      ...(hasCheck
        ? [{
          id: "check",
          label: "`yank check`",
          command: () => yankCli(["check", "--socket", one.socket]),
          check: (run: RunOutput) =>
            run.code === 0 && run.stdout !== ""
              ? undefined
              : `exit ${run.code}: ${run.stderr.trim()}`,
        }]
        : []),
      {
        id: "socat",
        label: "`printf ... \\| socat` doing the same query-yank",
        command: () => ["sh", "-c", `${QMP_ONE_LINER} | socat -t 5 - UNIX-CONNECT:${one.socket}`],
        check: (run) =>
          run.code === 0 && /"return": \[.*"id": 1\}/.test(run.stdout)
            ? undefined
            : `exit ${run.code}: ${run.stdout.trim()} ${run.stderr.trim()}`,
      },
      {
        id: "list-many",
        label: `\`yank list --json\` over ${options.vms} QEMUs (one glob)`,
        command: () => yankCli(["list", "--json", "--socket", manyGlob]),
        check: expectJsonArray(options.vms),
      },
    ];

    const wall = new Map<string, number[]>(cases.map((c) => [c.id, []]));
    const rss = new Map<string, number[]>(cases.map((c) => [c.id, []]));
    const cpu = new Map<string, number[]>(cases.map((c) => [c.id, []]));
    const fail = (c: Case, output: RunOutput) => {
      const problem = c.check(output);
      if (problem) throw new Error(`${c.id}: wrong result: ${problem}`);
    };
    const total = options.warmup + options.runs;
    console.error(
      `Measuring ${cases.length} cases, ${options.runs} runs each (+${options.warmup} warm-up)...`,
    );
    for (let i = 0; i < total; i++) {
      for (const c of cases) {
        const { ms, output } = await timedRun(c.command(i));
        fail(c, output);
        if (i >= options.warmup) wall.get(c.id)!.push(ms);
      }
    }
    const rssFile = lab.path("rss.txt");
    for (let i = 0; i < total; i++) {
      for (const c of cases) {
        const { kib, cpuMs, output } = await rssRun(c.command(i), rssFile);
        fail(c, output);
        if (i >= options.warmup) {
          rss.get(c.id)!.push(kib);
          cpu.get(c.id)!.push(cpuMs);
        }
      }
    }
    const yanked = peers.eofs();

    // No path may load a Node or npm module: run each once where no npm package can be had,
    // with Deno's debug log naming every module loaded.
    await using noNpm = await withoutNpm();
    const withoutPackages: Record<string, string[] | false> = {};
    const cliArgs = (argv: string[]) => argv.slice(argv.indexOf(MAIN) + 1);
    for (const c of cases) {
      if (!c.command(0).includes(MAIN) || c.id === "yank-chardev") continue;
      const run = await nodeModulesLoaded(cliArgs(c.command(0)), { env: noNpm.env });
      withoutPackages[c.id] = run.code === 0 && run.modules;
    }
    const dry = await nodeModulesLoaded(
      ["chardev", "charnet0", "--dry-run", "--socket", one.socket],
      { env: noNpm.env },
    );
    withoutPackages["yank-chardev (dry run)"] = dry.code === 0 && dry.modules;

    const bare = median(wall.get("bare")!);
    const bareCpu = mean(cpu.get("bare")!);
    const results: CaseResult[] = cases.map((c) => {
      const ms = median(wall.get(c.id)!);
      return {
        id: c.id,
        label: c.label,
        command: c.command(0).join(" ").replace(Deno.execPath(), "deno"),
        wallMs: wall.get(c.id)!,
        rssKiB: rss.get(c.id)!,
        cpuMs: cpu.get(c.id)!,
        meanCpuMs: mean(cpu.get(c.id)!),
        cpuRatio: mean(cpu.get(c.id)!) / bareCpu,
        medianMs: ms,
        medianRssMiB: median(rss.get(c.id)!) / 1024,
        ratio: ms / bare,
      };
    });
    const byId = (id: string) => results.find((r) => r.id === id);
    const goals = evaluateGoals(byId, withoutPackages, options.vms);
    const machine = { before: machineBefore, after: await describeMachine() };
    console.log(renderReport(results, goals, hasCheck, machine.before, options));
    console.log(`(chardev peers saw ${yanked} connections end: one per yank run)`);
    const proxyAttacks = await benchProxyAttacks(lab);
    console.log(`\n${renderProxyAttacks(proxyAttacks)}`);

    await Deno.mkdir(new URL(".", `file://${options.out}`).pathname, { recursive: true });
    await Deno.writeTextFile(
      options.out,
      `${
        JSON.stringify(
          {
            date: new Date().toISOString(),
            options,
            machine,
            hasCheck,
            results,
            goals,
            withoutPackages,
            proxyAttacks,
          },
          null,
          2,
        )
      }\n`,
    );
    console.error(`Wrote ${options.out}`);
  } finally {
    peers.close();
  }
}

interface Goal {
  goal: string;
  measured: string;
  pass: boolean | undefined;
}

/** The speed goals: ratios to a bare `deno run`, and peak memory. */
const GOALS = {
  "list-json": 1.8,
  "yank-chardev": 1.9,
  "check": 1.8,
  "list-table": 2.0,
  /** `list --json` over many sockets, as a ratio to one socket. */
  manySockets: 3,
  /** Peak RSS of `list --json`, MiB. */
  listJsonRssMiB: 38,
} as const;

function evaluateGoals(
  byId: (id: string) => CaseResult | undefined,
  withoutPackages: Record<string, string[] | false>,
  vms: number,
): Goal[] {
  const goals: Goal[] = [];
  for (const id of ["list-json", "yank-chardev", "check", "list-table"] as const) {
    const result = byId(id);
    goals.push({
      goal: `${id} ≤ ${GOALS[id].toFixed(1)}× bare deno run`,
      measured: result ? `${result.ratio.toFixed(2)}×` : "not available",
      pass: result ? result.ratio <= GOALS[id] : undefined,
    });
  }
  const many = byId("list-many")!.medianMs / byId("list-json")!.medianMs;
  goals.push({
    goal: `list over ${vms} sockets ≤ ${GOALS.manySockets}× one socket`,
    measured: `${many.toFixed(2)}×`,
    pass: many <= GOALS.manySockets,
  });
  const rss = byId("list-json")!.medianRssMiB;
  goals.push({
    goal: `list-json peak RSS ≤ ${GOALS.listJsonRssMiB} MiB`,
    measured: `${rss.toFixed(1)} MiB`,
    pass: rss <= GOALS.listJsonRssMiB,
  });
  const failed = Object.entries(withoutPackages).flatMap(([id, modules]) =>
    modules === false ? [`${id} (failed)`] : modules.length > 0 ? [`${id} (${modules[0]}...)`] : []
  );
  goals.push({
    goal: "no path loads a Node or npm module, and each runs where no npm package can be had",
    measured: failed.length > 0
      ? `not so: ${failed.join(", ")}`
      : `so: ${Object.keys(withoutPackages).join(", ")}`,
    pass: failed.length === 0,
  });
  return goals;
}

function renderReport(
  results: CaseResult[],
  goals: Goal[],
  hasCheck: boolean,
  machine: Machine,
  options: Options,
): string {
  const lines = [
    `Machine: ${machine.cpu}, ${machine.cores} cores, ${machine.memoryGiB} GiB RAM; ` +
    `${machine.deno}; ${machine.qemu}; load average ${machine.loadAverage}`,
    `Medians of ${options.runs} runs (+${options.warmup} warm-up), interleaved; CPU time: means.`,
    "",
    "| case | median wall | × bare | peak RSS | CPU time | × bare |",
    "|---|---:|---:|---:|---:|---:|",
    ...results.map((r) =>
      `| ${r.label} | ${r.medianMs.toFixed(1)} ms | ${r.ratio.toFixed(2)} | ${
        r.medianRssMiB.toFixed(1)
      } MiB | ${r.meanCpuMs.toFixed(1)} ms | ${r.cpuRatio.toFixed(2)} |`
    ),
    ...(hasCheck ? [] : ["| `yank check` | not available | | | | |"]),
    "",
    ...goals.map((g) =>
      `${g.pass === undefined ? "N/A " : g.pass ? "PASS" : "MISS"}  ${g.goal}: ${g.measured}`
    ),
  ];
  return lines.join("\n");
}

if (import.meta.main) {
  try {
    await main();
  } catch (error) {
    console.error(`bench: ${error instanceof Error ? error.message : error}`);
    Deno.exit(1);
  }
}
