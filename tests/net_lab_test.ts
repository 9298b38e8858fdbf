/**
 * The network lab itself (tests/support/net_lab.ts): what each fault looks like from the VM's
 * namespace, and that namespaces, links, rules and processes are gone after every exit path.
 */

import assert from "node:assert/strict";
import { listNetns, NetLab } from "./support/net_lab.ts";

/** What a TCP client in the VM's namespace meets at `address:port`: the first 8 bytes, or why not. */
async function connectFromVm(
  net: NetLab,
  address: string,
  port: number,
): Promise<{ outcome: "greeted" | "refused" | "timed out" | string; ms: number }> {
  const started = performance.now();
  const output = await new Deno.Command("ip", {
    args: [
      "netns",
      "exec",
      net.vmNetns,
      "timeout",
      "3",
      "bash",
      "-c",
      `exec 3<>/dev/tcp/${address}/${port} && head -c 8 <&3`,
    ],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const ms = performance.now() - started;
  const stdout = new TextDecoder().decode(output.stdout);
  const stderr = new TextDecoder().decode(output.stderr);
  if (output.success && stdout === "NBDMAGIC") return { outcome: "greeted", ms };
  if (output.code === 124) return { outcome: "timed out", ms };
  if (/Connection refused/.test(stderr)) return { outcome: "refused", ms };
  return { outcome: `exit ${output.code}: ${stdout}${stderr}`.trim(), ms };
}

async function rootLinks(): Promise<string[]> {
  const output = await new Deno.Command("ip", { args: ["-o", "link"], stdout: "piped" }).output();
  return new TextDecoder().decode(output.stdout).split("\n")
    .map((line) => line.split(":")[1]?.trim() ?? "").filter((name) => name !== "").sort();
}

function alive(pid: number): boolean {
  try {
    Deno.statSync(`/proc/${pid}`);
    return true;
  } catch {
    return false;
  }
}

Deno.test("a net lab's faults: blackhole times out, reject resets, heal restores, a relay delays", async () => {
  const linksBefore = await rootLinks();
  await using net = await NetLab.create();
  const storage = await net.addHost("storage");
  assert.match(storage.address, /^198\.1[89]\.\d+\.\d+$/);
  const nbd = await net.startNbd(storage, { sizeMiB: 1, shared: 4 });
  // The links live in the lab's namespaces only: the host's own list is unchanged.
  assert.deepEqual(await rootLinks(), linksBefore);

  assert.equal((await connectFromVm(net, storage.address, nbd.port)).outcome, "greeted");

  await net.blackhole(storage);
  assert.deepEqual(await net.rules(storage), ["-A INPUT -j DROP", "-A OUTPUT -j DROP"]);
  assert.equal((await connectFromVm(net, storage.address, nbd.port)).outcome, "timed out");

  await net.heal(storage);
  assert.deepEqual(await net.rules(storage), []);
  assert.equal((await connectFromVm(net, storage.address, nbd.port)).outcome, "greeted");

  await net.reject(storage);
  assert.equal((await connectFromVm(net, storage.address, nbd.port)).outcome, "refused");
  await net.heal(storage);

  const relay = await net.startDelayRelay(storage, {
    port: 10900,
    targetPort: nbd.port,
    delayMs: 400,
  });
  const slow = await connectFromVm(net, storage.address, relay.port);
  assert.equal(slow.outcome, "greeted");
  // The greeting was held once on its way back.
  assert.ok(slow.ms >= relay.delayMs, `greeted after ${slow.ms} ms`);
});

Deno.test("a net lab leaves nothing behind, also when the test fails midway", async () => {
  let namespaces: readonly string[] = [];
  let pids: number[] = [];
  let stray: Deno.ChildProcess | undefined;
  await assert.rejects(async () => {
    await using net = await NetLab.create();
    const storage = await net.addHost("storage");
    const nbd = await net.startNbd(storage, { sizeMiB: 1 });
    const qemu = await net.startQemu();
    await net.blackhole(storage);
    namespaces = net.namespaces;
    // A process the lab did not start (a watch a test forgot to stop) goes too.
    stray = new Deno.Command("ip", {
      args: ["netns", "exec", net.vmNetns, "sleep", "600"],
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).spawn();
    pids = [nbd.process.pid, qemu.process.pid, stray.pid];
    // ip enters the namespace, then execs sleep.
    const execed = () => Deno.readTextFileSync(`/proc/${stray!.pid}/cmdline`).startsWith("sleep");
    while (!execed()) await new Promise((resolve) => setTimeout(resolve, 10));
    assert.deepEqual(
      (await listNetns()).filter((n) => namespaces.includes(n)).sort(),
      [
        ...namespaces,
      ].sort(),
    );
    throw new Error("the test failed");
  }, /the test failed/);
  assert.equal((await stray!.status).signal, "SIGKILL");
  assert.equal(namespaces.length, 2);
  assert.deepEqual((await listNetns()).filter((n) => namespaces.includes(n)), []);
  assert.deepEqual(pids.filter(alive), []);
});

Deno.test("a net lab deletes the namespaces a killed test process left", async () => {
  const gone = new Deno.Command("true").spawn();
  await gone.status;
  const abandoned = `yank-${gone.pid}-abcdef-vm`;
  const add = await new Deno.Command("ip", { args: ["netns", "add", abandoned] }).output();
  assert.ok(add.success);
  try {
    await using _net = await NetLab.create();
    assert.ok(!(await listNetns()).includes(abandoned));
  } finally {
    await new Deno.Command("ip", { args: ["netns", "delete", abandoned], stderr: "null" })
      .output();
  }
});
