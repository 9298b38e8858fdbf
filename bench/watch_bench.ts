/**
 * `deno task bench-watch`: what one `yank watch` over many VMs costs, against real QEMU
 * (`-M none`, about 22 MiB each), each figure beside a baseline measured in the same run:
 *
 *   memory    RSS of a watch over N idle VMs, as a ratio to a watch over 1 VM
 *   cpu       CPU per watched VM at --interval 1, over --cpu-seconds
 *   recovery  16 VMs watched, one hung: probe-to-recovery time, and the other 15 keep probing
 *   soak      RSS and open fds of a 16-VM watch (and of a 1-VM watch beside it) every 30 s
 *   heap      the live heap after each of V8's full collections, for a 1-VM watch probing
 *             every 10 ms (an hour at --interval 0.1 in 6 minutes): flat unless something leaks
 *   mass      one remote storage host serving 32 VMs vanishes (the network lab: every packet
 *             dropped), each VM's main loop hung on a read from it; one watch over all: the
 *             time from the cut to the last recovery, and how many ss runs it took
 *
 *   deno task bench-watch [memory|cpu|recovery|soak|heap|mass]... [--vms 1,16,64]
 *                         [--cpu-seconds 60] [--soak-minutes 10] [--interval S]
 *                         [--mass-vms 32] [--hang-after S] [--out FILE]
 *
 * The watch runs as in the tests: `deno run <the compile task's permission flags> main.ts`.
 */

import { compilePermissionFlags } from "../tests/support/cli.ts";
import { type Qemu, QemuLab, readInMainLoop } from "../tests/support/qemu_lab.ts";
import { NetLab } from "../tests/support/net_lab.ts";
import type { QmpClient } from "../lib/qmp/client.ts";
import { describeMachine } from "./machine.ts";

const ROOT = new URL("../", import.meta.url);
const MAIN = new URL("main.ts", ROOT).pathname;
const MiB = 1024 * 1024;

interface Options {
  parts: string[];
  vms: number[];
  cpuSeconds: number;
  soakMinutes: number;
  soakInterval: number;
  heapSeconds: number;
  massVms: number;
  hangAfter: number;
  out: string;
}

function parseOptions(args: string[]): Options {
  const options: Options = {
    parts: [],
    vms: [1, 16, 64],
    cpuSeconds: 60,
    soakMinutes: 10,
    soakInterval: 0.1,
    heapSeconds: 180,
    massVms: 32,
    hangAfter: 2,
    out: new URL("bench/results/watch.json", ROOT).pathname,
  };
  for (let i = 0; i < args.length; i++) {
    const flag = args[i]!;
    if (!flag.startsWith("--")) {
      if (!["memory", "cpu", "recovery", "soak", "heap", "mass"].includes(flag)) {
        throw new Error(`Unknown part ${JSON.stringify(flag)}`);
      }
      options.parts.push(flag);
      continue;
    }
    const value = args[++i];
    if (value === undefined) throw new Error(`${flag} needs a value`);
    if (flag === "--vms") options.vms = value.split(",").map(Number);
    else if (flag === "--cpu-seconds") options.cpuSeconds = Number(value);
    else if (flag === "--soak-minutes") options.soakMinutes = Number(value);
    else if (flag === "--interval") options.soakInterval = Number(value);
    else if (flag === "--heap-seconds") options.heapSeconds = Number(value);
    else if (flag === "--mass-vms") options.massVms = Number(value);
    else if (flag === "--hang-after") options.hangAfter = Number(value);
    else if (flag === "--out") options.out = value;
    else throw new Error(`Unknown option ${JSON.stringify(flag)}`);
  }
  if (options.parts.length === 0) {
    options.parts = ["memory", "cpu", "recovery", "soak", "heap", "mass"];
  }
  return options;
}

/** A running `yank watch`, its stderr collected line by line. */
interface Watch {
  child: Deno.ChildProcess;
  lines: string[];
  stop(): Promise<number>;
}

/**
 * Like the tests' spawnCli, but without its 2-minute safety kill (a soak runs for 10 minutes)
 * and with stdout discarded.
 */
function spawnWatch(
  args: string[],
  options: { netns?: string; env?: Record<string, string> } = {},
): Watch {
  const deno = [Deno.execPath(), "run", "--quiet", ...compilePermissionFlags(), MAIN, "watch"];
  const [program, ...programArgs] = options.netns === undefined
    ? [...deno, ...args]
    : ["ip", "netns", "exec", options.netns, ...deno, ...args];
  const child = new Deno.Command(program!, {
    args: programArgs,
    env: options.env ?? {},
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const lines: string[] = [];
  const reading = (async () => {
    let pending = "";
    for await (const chunk of child.stderr.pipeThrough(new TextDecoderStream())) {
      pending += chunk;
      const parts = pending.split("\n");
      pending = parts.pop()!;
      lines.push(...parts);
    }
  })();
  return {
    child,
    lines,
    async stop() {
      try {
        child.kill("SIGTERM");
      } catch {
        // Already gone.
      }
      const status = await child.status;
      await reading;
      return status.code;
    },
  };
}

async function until(check: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

function count(lines: string[], pattern: RegExp): number {
  return lines.filter((line) => pattern.test(line)).length;
}

/** Resident memory in bytes (VmRSS). */
function rss(pid: number): number {
  const status = Deno.readTextFileSync(`/proc/${pid}/status`);
  return Number(/^VmRSS:\s+(\d+) kB$/m.exec(status)![1]) * 1024;
}

/** Open file descriptors. */
function fds(pid: number): number {
  return [...Deno.readDirSync(`/proc/${pid}/fd`)].length;
}

/** CPU time (user + system) in seconds. */
function cpuSeconds(pid: number): number {
  const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const ticks = Number(fields[11]) + Number(fields[12]);
  return ticks / 100; // USER_HZ is 100 on Linux.
}

/** Starts `n` idle QEMUs, each with a monitor matching `${lab.dir}/${prefix}*.qmp`. */
async function startVms(lab: QemuLab, n: number, prefix: string): Promise<Qemu[]> {
  const vms: Qemu[] = [];
  for (let started = 0; started < n; started += 8) {
    vms.push(
      ...await Promise.all(
        Array.from({ length: Math.min(8, n - started) }, () => lab.startQemu({ name: prefix })),
      ),
    );
  }
  return vms;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** RSS of a watch over N idle VMs after it connected to all and settled for 10 s. */
async function measureMemory(vms: number[]): Promise<Record<string, unknown>> {
  const rows: { vms: number; rssMiB: number; ratio: number }[] = [];
  for (const n of vms) {
    await using lab = await QemuLab.create();
    await startVms(lab, n, "vm");
    const watch = spawnWatch(["--socket", `${lab.dir}/vm*.qmp`, "--interval", "1"]);
    try {
      await until(() => count(watch.lines, /state=connected/) >= n, 60_000, `${n} connections`);
      await sleep(10_000);
      const rssMiB = rss(watch.child.pid) / MiB;
      const base = rows[0]?.rssMiB ?? rssMiB;
      rows.push({ vms: n, rssMiB, ratio: rssMiB / base });
      console.log(
        `memory: ${n} VMs: ${rssMiB.toFixed(1)} MiB RSS, ${(rssMiB / base).toFixed(2)}x of 1 VM`,
      );
    } finally {
      await watch.stop();
    }
  }
  return { rows, goal: "16 VMs at most 1.3x the RSS of 1 VM" };
}

/** CPU per watched VM at --interval 1 over `seconds`, for 1 and 16 VMs. */
async function measureCpu(seconds: number): Promise<Record<string, unknown>> {
  const rows: { vms: number; interval: number; cpuPercent: number; perVmPercent: number }[] = [];
  for (const [n, interval] of [[1, 1], [16, 1], [1, 0.1]] as const) {
    await using lab = await QemuLab.create();
    await startVms(lab, n, "vm");
    const watch = spawnWatch(["--socket", `${lab.dir}/vm*.qmp`, "--interval", String(interval)]);
    try {
      await until(() => count(watch.lines, /state=connected/) >= n, 60_000, `${n} connections`);
      await sleep(3000);
      const before = cpuSeconds(watch.child.pid);
      await sleep(seconds * 1000);
      const cpuPercent = (cpuSeconds(watch.child.pid) - before) / seconds * 100;
      rows.push({ vms: n, interval, cpuPercent, perVmPercent: cpuPercent / n });
      console.log(
        `cpu: ${n} VMs at --interval ${interval}: ${cpuPercent.toFixed(2)} % of a core, ${
          (cpuPercent / n).toFixed(3)
        } % per VM`,
      );
    } finally {
      await watch.stop();
    }
  }
  return { rows, seconds };
}

/**
 * 16 VMs under one watch (--interval 0.1, --hang-after 1), one hung on a frozen NBD server:
 * the time from the unanswered probe to recovery as watch logs it, the time from the hang to
 * its end as the hung read sees it, and how many of the other 15 had fresh probes meanwhile.
 */
async function measureRecovery(): Promise<Record<string, unknown>> {
  await using lab = await QemuLab.create();
  // Every VM gets a second monitor, "*-extra1.qmp", for watch; the hung one a third for set-up.
  for (let i = 0; i < 15; i += 5) {
    await Promise.all(
      Array.from({ length: 5 }, () => lab.startQemu({ name: "idle", monitors: 2 })),
    );
  }
  const hung = await lab.startQemu({ name: "hung", monitors: 3 });
  const nbd = await lab.startNbd();
  const setup = await lab.qmp(hung.extraSockets[1]!);
  await setup.execute("blockdev-add", {
    driver: "nbd",
    "node-name": "nbd0",
    server: { type: "unix", path: nbd.socket },
  });
  const textfile = lab.path("yank.prom");
  const watch = spawnWatch([
    "--socket",
    `${lab.dir}/*-extra1.qmp`,
    "--block-node",
    "nbd0",
    "--interval",
    "0.1",
    "--hang-after",
    "1",
    "--textfile",
    textfile,
  ]);
  try {
    await until(() => count(watch.lines, /state=connected/) >= 16, 60_000, "16 connections");
    await sleep(2000);
    const latencies = () => {
      const text = Deno.readTextFileSync(textfile);
      return new Map(
        [...text.matchAll(/^yank_main_loop_latency_seconds\{socket="([^"]+)"\} (\S+)$/gm)]
          .map((m) => [m[1]!, m[2]!]),
      );
    };
    await nbd.process.freeze();
    const hungAt = performance.now();
    const read = readInMainLoop(setup, "nbd0");
    await sleep(600);
    const before = latencies();
    await read;
    const hangMs = performance.now() - hungAt;
    const after = latencies();
    await until(() => count(watch.lines, /state=recovered/) >= 1, 5000, "the recovered line");
    const recovered = watch.lines.find((l) => /state=recovered/.test(l))!;
    const probeToRecovery = Number(/answered again, ([\d.]+) (m?s) after/.exec(recovered)?.[1]);
    const unit = /answered again, [\d.]+ (m?s) after/.exec(recovered)?.[1];
    const probeToRecoveryS = unit === "ms" ? probeToRecovery / 1000 : probeToRecovery;
    const others = [...before.keys()].filter((s) => !s.includes("/hung"));
    // A new latency value means a new probe answered during the hang.
    const fresh = others.filter((s) => after.has(s) && before.get(s) !== after.get(s));
    const yanked = watch.lines.filter((l) => /state=yanking/.test(l));
    const wrongYanks = yanked.filter((l) => !l.includes("/hung")).length;
    const othersUp =
      [...Deno.readTextFileSync(textfile).matchAll(/^yank_up\{socket="([^"]+)"\} 1$/gm)]
        .filter((m) => !m[1]!.includes("/hung")).length;
    const result = {
      hangToEndSeconds: hangMs / 1000,
      probeToRecoverySeconds: probeToRecoveryS,
      goalSeconds: 1 + 0.3,
      othersUpDuringAndAfter: othersUp,
      othersProbedDuringHang: fresh.length,
      yanksOfOthers: wrongYanks,
      recoveredLine: recovered,
    };
    console.log(
      `recovery: hang to end ${(hangMs / 1000).toFixed(2)} s; probe to recovery ${
        probeToRecoveryS.toFixed(2)
      } s (goal <= --hang-after 1 + 0.3 s); other VMs up: ${othersUp}/15, probed during the hang: ${fresh.length}/15; yanks of others: ${wrongYanks}`,
    );
    return result;
  } finally {
    nbd.process.thaw();
    await watch.stop();
  }
}

/** RSS and fds every 30 s of a 16-VM watch and a 1-VM watch at --interval `interval`. */
async function soak(minutes: number, interval: number): Promise<Record<string, unknown>> {
  await using lab = await QemuLab.create();
  await startVms(lab, 16, "many");
  const [single] = await startVms(lab, 1, "one");
  const many = spawnWatch(["--socket", `${lab.dir}/many*.qmp`, "--interval", String(interval)]);
  const one = spawnWatch(["--socket", single!.socket, "--interval", String(interval)]);
  const samples: { second: number; many: [number, number]; one: [number, number] }[] = [];
  try {
    await until(() => count(many.lines, /state=connected/) >= 16, 60_000, "16 connections");
    await until(() => count(one.lines, /state=connected/) >= 1, 60_000, "1 connection");
    const started = Date.now();
    for (let i = 0; i <= minutes * 2; i++) {
      const sample = {
        second: Math.round((Date.now() - started) / 1000),
        many: [rss(many.child.pid) / MiB, fds(many.child.pid)] as [number, number],
        one: [rss(one.child.pid) / MiB, fds(one.child.pid)] as [number, number],
      };
      samples.push(sample);
      console.log(
        `soak t=${sample.second}s: 16 VMs ${sample.many[0].toFixed(1)} MiB ${
          sample.many[1]
        } fds; 1 VM ${sample.one[0].toFixed(1)} MiB ${sample.one[1]} fds`,
      );
      if (i < minutes * 2) await sleep(30_000);
    }
  } finally {
    await many.stop();
    await one.stop();
  }
  return { interval, samples };
}

/**
 * A 1-VM watch at --interval 0.01 under V8's --trace-gc: the heap left after each full
 * (mark-compact) collection is what the watch really keeps; RSS sampled every 30 s beside it.
 */
async function heapAfterFullGc(seconds: number): Promise<Record<string, unknown>> {
  await using lab = await QemuLab.create();
  const [vm] = await startVms(lab, 1, "vm");
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--quiet",
      "--v8-flags=--trace-gc",
      ...compilePermissionFlags(),
      MAIN,
      "watch",
      "--socket",
      vm!.socket,
      "--interval",
      "0.01",
    ],
    stdin: "null",
    stdout: "piped",
    stderr: "null",
  }).spawn();
  const output = new Response(child.stdout).text();
  const rssMiB: number[] = [];
  for (let waited = 0; waited < seconds; waited += 30) {
    await sleep(30_000);
    rssMiB.push(Number((rss(child.pid) / MiB).toFixed(1)));
  }
  child.kill("SIGTERM");
  await child.status;
  const fullGcs = [
    ...(await output).matchAll(/Mark-Compact[^\d]*([\d.]+) \(([\d.]+)\) -> ([\d.]+) \(/g),
  ]
    .map((m) => ({ beforeMB: Number(m[1]), afterMB: Number(m[3]) }));
  const after = fullGcs.map((g) => g.afterMB);
  console.log(
    `heap: ${fullGcs.length} full collections in ${seconds} s at --interval 0.01; live heap after each: ${
      after.join(", ")
    } MB; RSS every 30 s: ${rssMiB.join(", ")} MiB`,
  );
  return { seconds, interval: 0.01, fullGcs, rssMiB };
}

/** A directory holding an `ss` that runs the real one and logs each run (start, end, arguments). */
function countingSs(
  dir: string,
): { path: string; runs: () => { at: number; ms: number; args: string }[] } {
  const real = (Deno.env.get("PATH") ?? "/usr/bin").split(":").map((d) => `${d}/ss`).find((
    path,
  ) => {
    try {
      return Deno.statSync(path).isFile;
    } catch {
      return false;
    }
  });
  if (real === undefined) throw new Error("ss is not installed (install iproute2)");
  const bin = `${dir}/counting-bin`;
  const log = `${dir}/ss-runs.log`;
  Deno.mkdirSync(bin);
  Deno.writeTextFileSync(
    `${bin}/ss`,
    `#!/bin/bash\nstart=$EPOCHREALTIME\n'${real}' "$@"\nstatus=$?\necho "$start $EPOCHREALTIME $*" >> '${log}'\nexit $status\n`,
    { mode: 0o755 },
  );
  return {
    path: bin,
    runs: () => {
      let text = "";
      try {
        text = Deno.readTextFileSync(log);
      } catch {
        // No run yet.
      }
      return text.split("\n").filter((line) => line !== "").map((line) => {
        const [at, end, ...args] = line.split(" ");
        return {
          at: Number(at) * 1000,
          ms: (Number(end) - Number(at)) * 1000,
          args: args.join(" "),
        };
      });
    },
  };
}

/**
 * One storage host (one qemu-nbd with --shared N, in a namespace of its own) serves `n` VMs,
 * each with an NBD node on it; one watch (--block-node nbd0) over all of them. The host
 * vanishes (every packet dropped) and each VM's main loop hangs on a read from it. Measured:
 * from the cut to the last VM's read returning, the spread of the others, and the ss runs the
 * watch made meanwhile (counted by an ss wrapper first on the watch's PATH).
 */
async function measureMass(n: number, hangAfter: number): Promise<Record<string, unknown>> {
  await using net = await NetLab.create();
  const storage = await net.addHost("storage");
  const nbd = await net.startNbd(storage, { sizeMiB: 1, shared: n });
  const vms: Qemu[] = [];
  for (let started = 0; started < n; started += 8) {
    vms.push(
      ...await Promise.all(
        Array.from(
          { length: Math.min(8, n - started) },
          () => net.startQemu({ name: "mass", monitors: 2 }),
        ),
      ),
    );
  }
  // The first monitor for set-up and the hang, the second ("-extra1") for the watch.
  const clients: QmpClient[] = [];
  for (const vm of vms) {
    const client = await net.lab.qmp(vm.socket);
    await client.execute("blockdev-add", {
      driver: "nbd",
      "node-name": "nbd0",
      server: { type: "inet", host: storage.address, port: String(nbd.port) },
    });
    clients.push(client);
  }
  const ss = countingSs(net.lab.dir);
  const watch = spawnWatch([
    "--socket",
    `${net.lab.dir}/mass*-extra1.qmp`,
    "--block-node",
    "nbd0",
    "--interval",
    "0.2",
    "--hang-after",
    String(hangAfter),
  ], {
    netns: net.vmNetns,
    env: { ...Deno.env.toObject(), PATH: `${ss.path}:${Deno.env.get("PATH") ?? "/usr/bin"}` },
  });
  try {
    await until(() => count(watch.lines, /state=connected/) >= n, 120_000, `${n} connections`);
    // Let every VM's watchdog learn its peers (done on connect) and settle.
    await sleep(3000);
    const ssBefore = ss.runs().length;
    // What one judgement's first (-p) and later samples cost alone, in the same namespace.
    const timeSs = async (args: string) => {
      const started = performance.now();
      await net.ss([args]);
      return Math.round(performance.now() - started);
    };
    const ssAloneMs = { withP: await timeSs("-xtnaeopH"), withoutP: await timeSs("-xtnaeoH") };
    await net.blackhole(storage);
    const cutAtWall = Date.now();
    const cutAt = performance.now();
    const ends = await Promise.all(
      clients.map((client) => readInMainLoop(client, "nbd0").then(() => performance.now() - cutAt)),
    );
    const lastWall = cutAtWall + Math.max(...ends);
    await until(() => count(watch.lines, /state=recovered/) >= n, 10_000, `${n} recovered lines`);
    const runs = ss.runs();
    const during = runs.filter((run) => run.at >= cutAtWall && run.at <= lastWall);
    const withP = during.filter((run) => /p/.test(run.args.split(" ")[0] ?? "")).length;
    const sorted = ends.toSorted((a, b) => a - b);
    const judgedDead = count(watch.lines, /state=judged .*judged dead: .*retransmission/);
    const yanks = watch.lines.filter((line) => /state=yanking/.test(line));
    const result = {
      vms: n,
      hangAfterSeconds: hangAfter,
      interval: 0.2,
      lastRecoverySeconds: sorted.at(-1)! / 1000,
      firstRecoverySeconds: sorted[0]! / 1000,
      medianRecoverySeconds: sorted[Math.floor(n / 2)]! / 1000,
      ssRunsUntilLastRecovery: during.length,
      ssRunsWithProcessScan: withP,
      ssRunsPerVm: during.length / n,
      ssRunsBeforeTheCut: ssBefore,
      ssAloneMs,
      judgedDeadFromRetransmissions: judgedDead,
      yanks: yanks.length,
      yanksOfOtherThanNbd0: yanks.filter((line) => !/block-node \\"nbd0\\"/.test(line)).length,
      stillHungPasses: count(watch.lines, /state=still-hung/),
      // Seconds after the cut: first and last log line of each state, and every ss run.
      timeline: Object.fromEntries(
        ["hung", "judged", "yanking", "recovered"].map((state) => {
          const times = watch.lines.filter((line) => line.includes(` state=${state} `))
            .map((line) => (Date.parse(/^time=(\S+)/.exec(line)![1]!) - cutAtWall) / 1000);
          return [state, [Math.min(...times), Math.max(...times)]];
        }),
      ),
      ssRunsAt: during.map((run) => Number(((run.at - cutAtWall) / 1000).toFixed(3))),
      ssRunMs: during.map((run) => Math.round(run.ms)),
    };
    console.log(
      `mass: ${n} VMs on one storage host that vanished: last recovery ${
        result.lastRecoverySeconds.toFixed(2)
      } s after the cut (first ${result.firstRecoverySeconds.toFixed(2)} s, median ${
        result.medianRecoverySeconds.toFixed(2)
      } s; --hang-after ${hangAfter}); ${during.length} ss runs until then (${withP} with -p, ${
        (during.length / n).toFixed(1)
      } per VM, alone ${ssAloneMs.withP} ms with -p, ${ssAloneMs.withoutP} ms without); ${judgedDead}/${n} judged dead from retransmissions; ${yanks.length} yanks`,
    );
    return result;
  } finally {
    await watch.stop();
  }
}

async function main(): Promise<void> {
  const options = parseOptions(Deno.args);
  const result: Record<string, unknown> = {
    date: new Date().toISOString(),
    machine: await describeMachine(),
  };
  if (options.parts.includes("memory")) result.memory = await measureMemory(options.vms);
  if (options.parts.includes("cpu")) result.cpu = await measureCpu(options.cpuSeconds);
  if (options.parts.includes("recovery")) result.recovery = await measureRecovery();
  if (options.parts.includes("soak")) {
    result.soak = await soak(options.soakMinutes, options.soakInterval);
  }
  if (options.parts.includes("heap")) result.heap = await heapAfterFullGc(options.heapSeconds);
  if (options.parts.includes("mass")) {
    result.mass = await measureMass(options.massVms, options.hangAfter);
  }
  await Deno.writeTextFile(options.out, `${JSON.stringify(result, null, 2)}\n`);
  console.log(`written to ${options.out}`);
}

if (import.meta.main) {
  try {
    await main();
  } catch (error) {
    console.error(`bench-watch: ${error instanceof Error ? error.message : error}`);
    Deno.exit(1);
  }
}
