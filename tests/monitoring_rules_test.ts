/**
 * The alerting rules in docs/monitoring/yank.rules.yml, unit-tested with `promtool test rules`
 * on series a real `yank watch` wrote: one watch over five monitors of real QEMUs (and one fake
 * monitor without oob, which QEMU cannot be made to be) goes through a healthy host, a hang it
 * cannot end, a hang it ends, a yank through its proxy, a VM killed and one shut down, its own
 * stop, a restart and a crash. Its textfile is captured at each moment; timelines of those
 * captures, a few minutes each, become promtool's input series, and each rule is shown to fire
 * and to stay quiet. The counters behind the rules are checked on the captures first.
 */

import assert from "node:assert/strict";
import { runMain, type SpawnedCli } from "./support/cli.ts";
import { startWatch } from "./support/watch.ts";
import {
  addNbdNode,
  eventually,
  type NbdServer,
  QemuLab,
  readInMainLoop,
} from "./support/qemu_lab.ts";
import { startFakeQmp } from "./support/fake_qmp.ts";
import {
  type Capture,
  inputSeries,
  parseTextfile,
  promtoolTestRules,
  readRuleAlerts,
  renderTemplate,
  sampleValue,
} from "./support/promtool.ts";
import type { QmpClient } from "../lib/qmp/client.ts";

const RULES = new URL("../docs/monitoring/yank.rules.yml", import.meta.url).pathname;

/** How long after a capture a running watch must have rewritten its textfile (--interval 0.2). */
const REWRITE_WAIT_MS = 2000;

Deno.test("the shipped alerting rules fire, and stay quiet, on what a real watch writes", async (t) => {
  await using lab = await QemuLab.create();
  const watched = lab.path("watched");
  const proxies = lab.path("proxy");
  await Deno.mkdir(watched);
  await Deno.mkdir(proxies);
  const textfile = lab.path("yank.prom");
  const socket = (vm: string) => `${watched}/${vm}.qmp`;

  // A: its NBD node nbd0 matches --block-node nbd0; B: its node disk0 matches nothing, so watch
  // cannot end B's hang; C will be killed, D shut down; E offers no oob (a Proxmox QEMU).
  const vmA = await vmWithNbd(lab, socket("vm-a"), "nbd0");
  const vmB = await vmWithNbd(lab, socket("vm-b"), "disk0");
  const vmC = await lab.startQemu({ socket: socket("vm-c") });
  const vmD = await lab.startQemu({ socket: socket("vm-d") });
  await using noOob = await startFakeQmp({ capabilities: [] });
  await Deno.symlink(noOob.path, socket("vm-e"));

  const watchOptions = {
    socket: `${watched}/*.qmp`,
    blockNode: "nbd0",
    hangAfter: 1,
    timeout: 2,
    listenDir: proxies,
    textfile,
  };
  const captures = new Map<string, Capture>();
  const read = async () => parseTextfile(await Deno.readTextFile(textfile).catch(() => ""));
  const value = async (name: string, vm: string, labels: Record<string, string> = {}) =>
    sampleValue({ samples: await read() }, name, { socket: socket(vm), ...labels });
  const until = async (what: string, check: () => Promise<boolean>, watch: SpawnedCli) => {
    assert.ok(await eventually(check, 20_000), `${what}:\n${watch.lines.join("\n")}`);
  };
  /** Captures the textfile now, and sees whether the watch goes on rewriting it. */
  const capture = async (name: string) => {
    const text = await Deno.readTextFile(textfile);
    const mtime = (await Deno.stat(textfile)).mtime?.getTime();
    const rewritten = await eventually(
      async () => (await Deno.stat(textfile)).mtime?.getTime() !== mtime,
      REWRITE_WAIT_MS,
    );
    const taken = { name, text, samples: parseTextfile(text), rewritten };
    captures.set(name, taken);
    return taken;
  };
  const yanked = (c: Capture, vm: string, type: string, reason: string) =>
    sampleValue(c, "yank_instances_yanked_total", { socket: socket(vm), type, reason });
  const counter = (c: Capture, name: string, vm: string) =>
    sampleValue(c, name, { socket: socket(vm) });

  let watch = await startWatch(watchOptions, { until: null });
  let restarted: SpawnedCli | undefined;
  try {
    await t.step("healthy: every VM answers, E cannot be watched, nothing counted", async () => {
      for (const vm of ["vm-a", "vm-b", "vm-c", "vm-d"]) {
        await until(`${vm} up`, async () => await value("yank_up", vm) === 1, watch);
      }
      await watch.waitForLine(/vm-e\.qmp state=unwatchable .*out-of-band/);
      await until("vm-e in the file", async () => await value("yank_state", "vm-e") === 1, watch);
      const healthy = await capture("healthy");
      assert.ok(healthy.rewritten, "a running watch rewrites its textfile");
      for (const vm of ["vm-a", "vm-b", "vm-c", "vm-d", "vm-e"]) {
        assert.equal(counter(healthy, "yank_hangs_total", vm), 0);
        assert.equal(yanked(healthy, vm, "block-node", "dead-peer"), 0);
        assert.equal(counter(healthy, "yank_hung", vm), 0);
      }
      assert.equal(counter(healthy, "yank_watch_running", "vm-e"), 0);
      assert.equal(sampleValue(healthy, "yank_watch_up", { textfile }), 1);
      assert.equal(counter(healthy, "yank_last_recovery_duration_seconds", "vm-a"), undefined);
    });

    await t.step("B hangs, and nothing watch may yank ends it", async () => {
      await vmB.nbd.process.freeze();
      readInMainLoop(vmB.setup, "disk0");
      await watch.waitForLine(/vm-b\.qmp state=hung .*no instance matches the selectors/);
      await until("B hung", async () => await value("yank_hung", "vm-b") === 1, watch);
      const hung = await capture("b-hung");
      assert.equal(counter(hung, "yank_hangs_total", "vm-b"), 1);
      assert.equal(counter(hung, "yank_recoveries_total", "vm-b"), 0);
      assert.equal(counter(hung, "yank_state", "vm-b"), 2);
    });

    await t.step("A hangs, and watch yanks its dead NBD peer: a recovery", async () => {
      await vmA.nbd.process.freeze();
      const read = readInMainLoop(vmA.setup, "nbd0");
      await watch.waitForLine(/vm-a\.qmp state=recovered/, 20_000);
      await read;
      await until(
        "A recovered",
        async () => await value("yank_recoveries_total", "vm-a") === 1,
        watch,
      );
      const recovered = await capture("a-recovered");
      assert.equal(counter(recovered, "yank_hangs_total", "vm-a"), 1);
      assert.equal(yanked(recovered, "vm-a", "block-node", "dead-peer"), 1);
      assert.equal(yanked(recovered, "vm-a", "block-node", "fallback"), 0);
      assert.equal(counter(recovered, "yank_hung", "vm-a"), 0);
      assert.ok(counter(recovered, "yank_last_recovery_duration_seconds", "vm-a")! >= 1);
      assert.equal(counter(recovered, "yank_hung", "vm-b"), 1, "B is still hung");
    });

    await t.step("an operator yanks B's disk through the proxy: B recovers", async () => {
      const run = await runMain(["block-node", "disk0", "--socket", `${proxies}/vm-b.qmp`]);
      assert.equal(run.code, 0, run.stderr);
      await watch.waitForLine(/vm-b\.qmp state=recovered/);
      await until("B recovered", async () => await value("yank_hung", "vm-b") === 0, watch);
      const recovered = await capture("b-recovered");
      assert.equal(yanked(recovered, "vm-b", "block-node", "proxy-client"), 1);
      assert.equal(counter(recovered, "yank_recoveries_total", "vm-b"), 1);
      assert.equal(yanked(recovered, "vm-a", "block-node", "dead-peer"), 1, "A's count stays");
    });

    await t.step("C is killed (its socket stays), D shuts down (its socket goes)", async () => {
      await vmC.process.kill();
      await vmD.process.stop();
      await until("C refused", async () => await value("yank_state", "vm-c") === 2, watch);
      await until("D gone", async () => await value("yank_watch_running", "vm-d") === 0, watch);
      const gone = await capture("gone");
      assert.equal(counter(gone, "yank_hung", "vm-c"), 0);
      assert.equal(counter(gone, "yank_state", "vm-d"), 3);
      // D's series stay for 10 minutes, its counts with them.
      assert.equal(counter(gone, "yank_hangs_total", "vm-d"), 0);
    });

    await t.step("the watch stops: it says so, and the file stands still", async () => {
      const stopped = await watch.stop("SIGTERM");
      assert.equal(stopped.code, 0, stopped.stderr);
      const last = await capture("stopped");
      assert.equal(last.rewritten, false);
      assert.equal(sampleValue(last, "yank_watch_up", { textfile }), 0);
      assert.equal(counter(last, "yank_watch_running", "vm-a"), 0);
      assert.equal(counter(last, "yank_state", "vm-a"), 3);
    });

    await t.step(
      "a new watch starts its counts at 0; killed, it leaves its file behind",
      async () => {
        restarted = await startWatch(watchOptions, { until: null });
        watch = restarted;
        await until("A up again", async () => {
          const samples = { samples: await read() };
          return sampleValue(samples, "yank_up", { socket: socket("vm-a") }) === 1 &&
            sampleValue(samples, "yank_up", { socket: socket("vm-b") }) === 1 &&
            sampleValue(samples, "yank_state", { socket: socket("vm-c") }) === 2;
        }, restarted);
        const again = await capture("restarted");
        assert.equal(yanked(again, "vm-a", "block-node", "dead-peer"), 0);
        assert.equal(counter(again, "yank_hangs_total", "vm-b"), 0);
        await restarted.stop("SIGKILL");
        const crashed = await capture("crashed");
        assert.equal(crashed.rewritten, false);
        assert.equal(sampleValue(crashed, "yank_watch_up", { textfile }), 1, "it could not say");
      },
    );

    await t.step("promtool check metrics accepts every capture", async () => {
      for (const { name, text } of captures.values()) {
        const check = await promtool(["check", "metrics"], text);
        assert.equal(check.code, 0, `${name}: ${check.output}`);
      }
    });

    await t.step(
      "promtool test rules: each rule fires, and stays quiet, when it should",
      async () => {
        const result = await runRuleTests(captures, textfile, socket);
        assert.ok(result.ok, result.output);
      },
    );
  } finally {
    await watch.stop("SIGKILL");
    await restarted?.stop("SIGKILL");
  }
});

Deno.test("every shipped rule has a severity, a summary and a description", () => {
  const alerts = readRuleAlerts(Deno.readTextFileSync(RULES));
  assert.deepEqual(alerts.map((a) => a.alert), [
    "YankHangNotRecovered",
    "YankVmGoneUnexpectedly",
    "YankVmNotWatched",
    "YankWatchNotRunning",
    "YankTextfileStale",
    "YankYanked",
  ]);
  for (const alert of alerts) {
    assert.match(alert.severity, /^(critical|warning)$/, alert.alert);
    assert.deepEqual(Object.keys(alert.annotations), ["summary", "description"], alert.alert);
    assert.ok(alert.annotations.summary!.length < 120, `${alert.alert}: a summary is one line`);
    assert.ok(alert.annotations.description!.length > 150, `${alert.alert}: says what to do`);
  }
});

/** A QEMU with a second monitor (for set-up and hangs) and an NBD node on its own qemu-nbd. */
async function vmWithNbd(
  lab: QemuLab,
  socket: string,
  node: string,
): Promise<{ nbd: NbdServer; setup: QmpClient }> {
  const qemu = await lab.startQemu({ socket, monitors: 2 });
  const nbd = await lab.startNbd(1);
  const setup = await lab.qmp(qemu.extraSockets[0]!);
  await addNbdNode(setup, nbd, node);
  return { nbd, setup };
}

async function promtool(args: string[], stdin: string): Promise<{ code: number; output: string }> {
  const child = new Deno.Command("promtool", {
    args,
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(stdin));
  await writer.close();
  const output = await child.output();
  const decoder = new TextDecoder();
  return {
    code: output.code,
    output: `${decoder.decode(output.stdout)}${decoder.decode(output.stderr)}`,
  };
}

/** One timeline: captures by name, each held for some minutes, and what to expect when. */
interface Scenario {
  name: string;
  timeline: [string, number][];
  checks: { at: number; alert: string; fires: Record<string, string>[]; value?: string }[];
}

/**
 * Writes the promtool test file: one test per scenario, input series generated from the
 * captures, expected alerts with their labels and the annotations the rules file renders.
 */
async function runRuleTests(
  captures: Map<string, Capture>,
  textfile: string,
  socket: (vm: string) => string,
): Promise<{ ok: boolean; output: string }> {
  const alerts = new Map(readRuleAlerts(await Deno.readTextFile(RULES)).map((a) => [a.alert, a]));
  const vm = (name: string) => ({ socket: socket(name) });
  const scenarios: Scenario[] = [
    {
      name: "a hang watch cannot end fires after 2 minutes, and ends when the VM recovers",
      timeline: [["healthy", 2], ["b-hung", 4], ["b-recovered", 4]],
      checks: [
        { at: 1, alert: "YankHangNotRecovered", fires: [] },
        { at: 3, alert: "YankHangNotRecovered", fires: [] },
        { at: 5, alert: "YankHangNotRecovered", fires: [vm("vm-b")] },
        { at: 7, alert: "YankHangNotRecovered", fires: [] },
        // A hung VM is not a gone one, and the watch goes on writing meanwhile.
        { at: 5, alert: "YankVmGoneUnexpectedly", fires: [] },
        { at: 9, alert: "YankTextfileStale", fires: [] },
      ],
    },
    {
      name: "a hang shorter than 2 minutes stays quiet",
      timeline: [["healthy", 2], ["b-hung", 1], ["a-recovered", 1], ["b-recovered", 3]],
      checks: [
        { at: 3, alert: "YankHangNotRecovered", fires: [] },
        { at: 4, alert: "YankHangNotRecovered", fires: [] },
        { at: 6, alert: "YankHangNotRecovered", fires: [] },
      ],
    },
    {
      name:
        "a killed VM is gone unexpectedly, one shut down is not; an unwatchable one is unwatched",
      timeline: [["healthy", 1], ["gone", 8]],
      checks: [
        { at: 1, alert: "YankVmGoneUnexpectedly", fires: [] },
        { at: 3, alert: "YankVmGoneUnexpectedly", fires: [vm("vm-c")] },
        { at: 8, alert: "YankVmGoneUnexpectedly", fires: [vm("vm-c")] },
        { at: 4, alert: "YankVmNotWatched", fires: [] },
        // D reads yank_watch_running 0 too, for its 10 minutes in the file: it is not unwatched.
        { at: 6, alert: "YankVmNotWatched", fires: [vm("vm-e")] },
        { at: 8, alert: "YankVmNotWatched", fires: [vm("vm-e")] },
        { at: 8, alert: "YankWatchNotRunning", fires: [] },
        { at: 8, alert: "YankTextfileStale", fires: [] },
      ],
    },
    {
      name: "a stopped watch is not running, and its textfile goes stale",
      timeline: [["healthy", 2], ["stopped", 8]],
      checks: [
        { at: 1, alert: "YankWatchNotRunning", fires: [] },
        { at: 3, alert: "YankWatchNotRunning", fires: [] },
        { at: 5, alert: "YankWatchNotRunning", fires: [{ textfile }] },
        { at: 9, alert: "YankVmNotWatched", fires: [] },
        { at: 9, alert: "YankVmGoneUnexpectedly", fires: [] },
        { at: 7, alert: "YankTextfileStale", fires: [] },
        { at: 8, alert: "YankTextfileStale", fires: [{ file: textfile }], value: "6m 0s" },
      ],
    },
    {
      name: "a crashed watch cannot say it stopped: only its stale textfile tells",
      timeline: [["restarted", 2], ["crashed", 8]],
      checks: [
        { at: 1, alert: "YankTextfileStale", fires: [] },
        { at: 7, alert: "YankTextfileStale", fires: [] },
        { at: 9, alert: "YankTextfileStale", fires: [{ file: textfile }], value: "7m 0s" },
        { at: 9, alert: "YankWatchNotRunning", fires: [] },
      ],
    },
    {
      name: "a yank is worth a look for 15 minutes; a watch restarting is not a yank",
      timeline: [["healthy", 2], ["b-hung", 1], ["a-recovered", 2], ["b-recovered", 20], [
        "restarted",
        6,
      ]],
      checks: [
        { at: 2, alert: "YankYanked", fires: [] },
        {
          at: 4,
          alert: "YankYanked",
          fires: [{ ...vm("vm-a"), type: "block-node", reason: "dead-peer" }],
          value: "1",
        },
        {
          at: 6,
          alert: "YankYanked",
          fires: [
            { ...vm("vm-a"), type: "block-node", reason: "dead-peer" },
            { ...vm("vm-b"), type: "block-node", reason: "proxy-client" },
          ],
          value: "1",
        },
        { at: 21, alert: "YankYanked", fires: [] },
        { at: 28, alert: "YankYanked", fires: [] },
      ],
    },
  ];
  const tests = scenarios.map((scenario) => ({
    name: scenario.name,
    interval: "1m",
    input_series: inputSeries(
      scenario.timeline.map(([name, minutes]) => [captures.get(name)!, minutes]),
      textfile,
    ),
    alert_rule_test: scenario.checks.map((check) => {
      const rule = alerts.get(check.alert)!;
      return {
        eval_time: `${check.at}m`,
        alertname: check.alert,
        exp_alerts: check.fires.map((own) => {
          const labels: Record<string, string> = {
            instance: "host1:9100",
            job: "node",
            severity: rule.severity,
            ...own,
          };
          return {
            exp_labels: labels,
            exp_annotations: Object.fromEntries(
              Object.entries(rule.annotations).map(([key, template]) => [
                key,
                renderTemplate(template, labels, check.value),
              ]),
            ),
          };
        }),
      };
    }),
  }));
  const dir = await Deno.makeTempDir({ prefix: "yank-promtool-" });
  try {
    const path = `${dir}/yank_rules_test.yml`;
    // JSON is YAML.
    await Deno.writeTextFile(
      path,
      JSON.stringify({ rule_files: [RULES], evaluation_interval: "1m", tests }, null, 1),
    );
    return await promtoolTestRules(path);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}
