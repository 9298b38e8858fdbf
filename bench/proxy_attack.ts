/**
 * `yank watch --listen` under attack, measured: the longest gap between watch's own probes while
 * a proxy client floods it (or exhausts its descriptors), and the time from watch's probe to the
 * recovery of a real hung main loop during the attack, each next to the same figures with no
 * attack at all in the same run.
 *
 *   deno run --allow-all bench/proxy_attack.ts   (also part of `deno task bench`)
 */

import { type ShellLimits, spawnCli, type SpawnedCli } from "../tests/support/cli.ts";
import { hungMainLoop, QemuLab } from "../tests/support/qemu_lab.ts";
import { QmpClient } from "../lib/qmp/client.ts";
import { type Attack, descriptorBurst, flood } from "../tests/support/proxy_attacks.ts";

/** One scenario's figures. */
export interface ProxyAttackResult {
  attack: string;
  /** Longest gap between two probes (query-status sent), from the attack's start to the hang. */
  longestProbeGapMs: number;
  /** Watch's measure: from the probe that found the hang to the main loop's answer; null: none. */
  recoveryMs: number | null;
  /** Proxy clients watch cut off or closed, and accept() failure episodes it logged. */
  proxyLogLines: number;
  /** From the end of the attack to a new client's negotiated connection; null: none in 10 s. */
  servedAfterMs: number | null;
}

const INTERVAL_S = 0.2;
const HANG_AFTER_S = 1;
/** How long the attack runs before the hang starts. */
const ATTACK_LEAD_MS = 3000;
/** How long to wait for a recovery before giving up on it. */
const RECOVERY_BOUND_MS = 30_000;

/** Milliseconds until a new client negotiates with the proxy, or null after 10 s. */
async function timeToServe(proxy: string): Promise<number | null> {
  const started = performance.now();
  while (performance.now() - started < 10_000) {
    try {
      (await QmpClient.connect(proxy, { timeoutMs: 500 })).close();
      return Math.round(performance.now() - started);
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
  return null;
}

function probeTimes(lines: string[]): number[] {
  return lines.filter((line) => /-> .*"execute":"query-status"/.test(line))
    .map((line) => Date.parse(line.slice(0, line.indexOf(" "))));
}

async function scenario(
  lab: QemuLab,
  name: string,
  attack: (proxy: string) => Attack | Promise<Attack>,
  limits: ShellLimits = {},
): Promise<ProxyAttackResult> {
  const proxy = lab.path(`${name.replace(/\W+/g, "-")}.qmp`);
  let watch: SpawnedCli | undefined;
  let running: Attack | undefined;
  let attackStart = 0;
  let hangStart = 0;
  try {
    const { hang } = await hungMainLoop(lab, {
      beforeHang: async (qemu) => {
        watch = spawnCli([
          "watch",
          "--socket",
          qemu.extraSockets[0]!,
          "--block-node",
          "nbd0",
          "--interval",
          String(INTERVAL_S),
          "--hang-after",
          String(HANG_AFTER_S),
          "--listen",
          proxy,
          "--trace",
        ], limits);
        await watch.waitForLine(/state=connected/);
        attackStart = Date.now();
        running = await attack(proxy);
        await new Promise((resolve) => setTimeout(resolve, ATTACK_LEAD_MS));
        hangStart = Date.now();
      },
    });
    // Bounded, so that a regression shows as a figure instead of a bench that never ends.
    let timer: ReturnType<typeof setTimeout> | undefined;
    const recovered = await Promise.race([
      hang.then(() => watch!.waitForLine(/state=recovered/)),
      new Promise<undefined>((resolve) =>
        timer = setTimeout(() => resolve(undefined), RECOVERY_BOUND_MS)
      ),
    ]);
    clearTimeout(timer);
    // The window's ends count as probes: no probe at all during the attack is one long gap.
    const probes = [
      attackStart,
      ...probeTimes(watch!.lines).filter((t) => t > attackStart && t < hangStart),
      hangStart,
    ];
    let longest = 0;
    for (let i = 1; i < probes.length; i++) {
      longest = Math.max(longest, probes[i]! - probes[i - 1]!);
    }
    running?.stop();
    return {
      attack: name,
      longestProbeGapMs: longest,
      recoveryMs: recovered === undefined
        ? null
        : Number(/, ([\d.]+) s after the probe/.exec(recovered)![1]) * 1000,
      proxyLogLines: watch!.lines.filter((line) => /state=warning .*proxy/.test(line)).length,
      servedAfterMs: await timeToServe(proxy),
    };
  } finally {
    running?.stop();
    await watch?.stop("SIGKILL");
  }
}

/**
 * Runs no attack, a flood and a descriptor burst, each against a fresh VM whose main loop hangs
 * after the attack has run for 3 s, with watch at --interval 0.2 --hang-after 1.
 */
export async function benchProxyAttacks(lab: QemuLab): Promise<ProxyAttackResult[]> {
  return [
    await scenario(lab, "none", () => ({ stop() {} })),
    await scenario(lab, "flood of unread replies", (proxy) => flood(proxy, 100)),
    await scenario(lab, "descriptor burst (ulimit -n 64)", (proxy) => descriptorBurst(proxy, 500), {
      openFiles: 64,
    }),
  ];
}

/** Markdown rows of the results, with ratios to the no-attack baseline. */
export function renderProxyAttacks(results: ProxyAttackResult[]): string {
  const base = results[0]!;
  return [
    `Proxy under attack (watch --interval ${INTERVAL_S} --hang-after ${HANG_AFTER_S}):`,
    "",
    "| attack | longest probe gap | × none | recovery after probe | × none | proxy log lines | served after the attack |",
    "|---|---:|---:|---:|---:|---:|---:|",
    ...results.map((r) =>
      `| ${r.attack} | ${r.longestProbeGapMs} ms | ${
        (r.longestProbeGapMs / base.longestProbeGapMs).toFixed(2)
      } | ${
        r.recoveryMs === null || base.recoveryMs === null
          ? `not within ${RECOVERY_BOUND_MS / 1000} s | -`
          : `${r.recoveryMs.toFixed(0)} ms | ${(r.recoveryMs / base.recoveryMs).toFixed(2)}`
      } | ${r.proxyLogLines} | ${
        r.servedAfterMs === null ? "not within 10 s" : `${r.servedAfterMs} ms`
      } |`
    ),
  ].join("\n");
}

if (import.meta.main) {
  await using lab = await QemuLab.create();
  const results = await benchProxyAttacks(lab);
  console.log(renderProxyAttacks(results));
}
