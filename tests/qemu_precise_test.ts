/**
 * Precise recovery against real QEMU 7.2: watch yanks only the instance whose peer is dead.
 * Eight NBD nodes, each on its own qemu-nbd, one of them frozen under a hung main loop; and a
 * backup job stuck on a frozen qemu-nbd while the main loop is fine (--stall-after).
 */

import assert from "node:assert/strict";
import { type SpawnedCli, TIMEOUT_ALLOWANCE_MS } from "./support/cli.ts";
import { startWatch } from "./support/watch.ts";
import {
  addNbdNode,
  eventually,
  hungMainLoop,
  jobState,
  type NbdServer,
  QemuLab,
  readInMainLoop,
  stuckBackupJob,
} from "./support/qemu_lab.ts";

const NODES = 8;
const FROZEN = 3;

Deno.test("eight NBD nodes, one server frozen, main loop hung: watch yanks exactly that node", async () => {
  await using lab = await QemuLab.create();
  const qemu = await lab.startQemu({ monitors: 3 });
  const setup = await lab.qmp(qemu.extraSockets[1]!);
  const servers: NbdServer[] = [];
  for (let i = 0; i < NODES; i++) {
    const nbd = await lab.startNbd(1);
    servers.push(nbd);
    await addNbdNode(setup, nbd, `nbd${i}`);
  }
  const hangAfterMs = 1000;
  await using watch = await startWatch({
    socket: qemu.extraSockets[0]!,
    blockNode: "nbd*",
    hangAfter: hangAfterMs / 1000,
  });
  await servers[FROZEN]!.process.freeze();
  const hungAt = performance.now();
  const hang = readInMainLoop(setup, `nbd${FROZEN}`);
  await hang;
  const recoveredMs = performance.now() - hungAt;
  console.log(`main loop hung to recovered under watch: ${recoveredMs.toFixed(0)} ms`);
  await watch.waitForLine(/state=recovered/);

  const dead = await watch.waitForLine(/state=judged .*judged dead/);
  assert.match(
    dead,
    new RegExp(`block-node \\\\"nbd${FROZEN}\\\\" .*unread in the peer's receive queue`),
  );
  const alive = watch.lines.filter((line) => /state=judged .*judged alive/.test(line));
  assert.equal(alive.length, NODES - 1, watch.lines.join("\n"));
  const yanks = watch.lines.filter((line) => /state=yanking/.test(line));
  assert.equal(yanks.length, 1, watch.lines.join("\n"));
  assert.match(
    yanks[0]!,
    new RegExp(`yanking block-node \\\\"nbd${FROZEN}\\\\" \\(peer judged dead\\)`),
  );
  // --hang-after plus 1 s, plus the allowance for a 2-core machine shared with other tests.
  assert.ok(recoveredMs < hangAfterMs + 1000 + TIMEOUT_ALLOWANCE_MS, `took ${recoveredMs} ms`);

  // The seven others still read: a full backup of each (which reads all of it) completes;
  // the yanked node's fails with an I/O error.
  for (let i = 0; i < NODES; i++) {
    await setup.execute("blockdev-add", {
      driver: "null-co",
      "node-name": `copy${i}`,
      size: 1 << 20,
    });
    await setup.execute("blockdev-backup", {
      "job-id": `read${i}`,
      device: `nbd${i}`,
      target: `copy${i}`,
      sync: "full",
      "auto-dismiss": false,
    });
  }
  for (let i = 0; i < NODES; i++) {
    assert.ok(
      await eventually(async () => (await jobState(setup, `read${i}`))?.status === "concluded"),
      `read${i} did not conclude`,
    );
    const job = await jobState(setup, `read${i}`);
    if (i === FROZEN) assert.equal(job?.error, "Input/output error");
    else assert.equal(job?.error, undefined, `nbd${i}: ${job?.error}`);
  }
});

Deno.test("watch --stall-after 3 yanks the NBD node a stuck backup job waits on; the job fails", async () => {
  await using lab = await QemuLab.create();
  const { qemu, setup } = await stuckBackupJob(lab);
  const healthy = await lab.startNbd(1);
  await addNbdNode(setup, healthy, "nbd9");
  const textfile = lab.path("yank.prom");
  await using watch = await startWatch({
    socket: qemu.socket,
    blockNode: "nbd*",
    interval: 0.5,
    hangAfter: 5,
    stallAfter: 3,
    textfile,
  });
  assert.equal((await jobState(setup, "job0"))?.status, "running");
  const stalled = await watch.waitForLine(/state=stalled/, 15_000);
  assert.match(
    stalled,
    /backup job \\"job0\\" has not moved from offset 0 for [\d.]+ s; yanking block-node \\"nbd0\\"/,
  );
  await watch.waitForLine(/state=yanking .*block-node \\"nbd0\\" \(peer judged dead\)/);
  assert.ok(
    await eventually(async () => (await jobState(setup, "job0"))?.status === "concluded", 3000),
  );
  assert.equal((await jobState(setup, "job0"))?.error, "Input/output error");
  assert.ok(watch.lines.some((l) => /peer of block-node \\"nbd9\\" .*judged alive/.test(l)));
  assert.ok(!watch.lines.some((l) => /state=yanking .*nbd9/.test(l)), watch.lines.join("\n"));
  assert.ok(!watch.lines.some((l) => /state=hung/.test(l)), "the main loop never hung");
  // Counted as a stall, not as a hang.
  const counted = (text: string) =>
    text.includes(
      `yank_instances_yanked_total{socket="${qemu.socket}",type="block-node",reason="stall"} 1`,
    );
  assert.ok(
    await eventually(async () => counted(await Deno.readTextFile(textfile)), 3000),
    await Deno.readTextFile(textfile),
  );
  const text = await Deno.readTextFile(textfile);
  assert.match(text, /^yank_hangs_total\{socket="[^"]+"\} 0$/m);
  assert.doesNotMatch(
    text,
    /^yank_instances_yanked_total\{[^}]*reason="(dead-peer|fallback)"\} [1-9]/m,
  );
});

Deno.test("without ss, watch says once why it cannot judge, and on a hang yanks every match", async () => {
  await using lab = await QemuLab.create();
  // A PATH without ss: the CLI's --allow-run=ss then finds nothing to run.
  const noSs = lab.path("empty-bin");
  await Deno.mkdir(noSs);
  const textfile = lab.path("yank.prom");
  let watch: SpawnedCli | undefined;
  try {
    const { hang } = await hungMainLoop(lab, {
      beforeHang: async (qemu) => {
        watch = await startWatch(
          { socket: qemu.extraSockets[0]!, blockNode: "nbd0", hangAfter: 1, textfile },
          { env: { PATH: noSs } },
        );
      },
    });
    await hang;
    await watch!.waitForLine(/state=recovered/);
    const lines = watch!.lines;
    const warnings = lines.filter((l) => /state=warning/.test(l));
    assert.equal(warnings.length, 1, lines.join("\n"));
    assert.match(
      warnings[0]!,
      /cannot judge which peers are dead \(ss is not installed \(install iproute2\)\); on a hang watch yanks every match/,
    );
    const judged = lines.filter((l) => /state=judged/.test(l));
    assert.equal(judged.length, 1, lines.join("\n"));
    assert.match(judged[0]!, /no evidence about the matched peers \(ss is not installed/);
    const yanks = lines.filter((l) => /state=yanking/.test(l));
    assert.equal(yanks.length, 1, lines.join("\n"));
    assert.match(yanks[0]!, /yanking block-node \\"nbd0\\""/);
    // Yanked without a dead verdict: the textfile counts it as a fallback.
    const fallback = /^yank_instances_yanked_total\{[^}]*type="block-node",reason="fallback"\} 1$/m;
    assert.ok(
      await eventually(async () => fallback.test(await Deno.readTextFile(textfile)), 3000),
      await Deno.readTextFile(textfile),
    );
  } finally {
    await watch?.stop("SIGKILL");
  }
});

Deno.test("watch --socket through a symlink, an NBD server through another: only the frozen node's yanked", async () => {
  await using lab = await QemuLab.create();
  const qemu = await lab.startQemu({ monitors: 3 });
  const link = lab.path("link.qmp");
  await Deno.symlink(qemu.extraSockets[0]!, link);
  const setup = await lab.qmp(qemu.extraSockets[1]!);
  const servers: NbdServer[] = [];
  for (let i = 0; i < 2; i++) {
    // The frozen one serves an export named 50% on a path with + and spaces.
    const odd = i === 1 ? { exportName: "50%", socket: lab.path("a+b c%20.sock") } : {};
    const nbd = await lab.startNbd(1, odd);
    servers.push(nbd);
    // QEMU reaches that one through a symlink too: ss shows the path qemu-nbd bound.
    const path = i === 1 ? lab.path("nbd-link.sock") : nbd.socket;
    if (i === 1) await Deno.symlink(nbd.socket, path);
    await setup.execute("blockdev-add", {
      driver: "nbd",
      "node-name": `nbd${i}`,
      server: { type: "unix", path },
      ...(odd.exportName === undefined ? {} : { export: odd.exportName }),
    });
  }
  await using watch = await startWatch({ socket: link, blockNode: "nbd*", hangAfter: 1 });
  servers[1]!.process.freeze();
  // Bounded by the watch: a watch that died leaves the read hung, and the test fails.
  const hang = readInMainLoop(setup, "nbd1");
  hang.catch(() => {});
  await watch.waitForLine(/state=recovered/, 30_000);
  await hang;
  assert.ok(
    !watch.lines.some((line) => /no evidence|Internal error/.test(line)),
    watch.lines.join("\n"),
  );
  const yanks = watch.lines.filter((line) => /state=yanking/.test(line));
  assert.equal(yanks.length, 1, watch.lines.join("\n"));
  assert.match(yanks[0]!, /yanking block-node \\"nbd1\\" \(peer judged dead\)/);
});
