/**
 * `deno task demo`: the whole story against a throwaway QEMU that this script starts itself.
 *
 * A VM's disks are served over NBD. First a backup job gets stuck on a frozen NBD server and a
 * one-shot `yank block-node` ends it. Then QEMU's main loop hangs on another frozen server:
 * `yank check` says so, a fresh connection cannot get through, and `yank watch` (connected
 * before the hang) yanks the NBD connection and QEMU comes back. Every process the demo starts
 * is stopped at the end.
 */

import { compilePermissionFlags } from "./support/cli.ts";
import { addNbdNode, QemuLab, readInMainLoop } from "./support/qemu_lab.ts";
import type { QmpClient } from "../lib/qmp/client.ts";

const MAIN = new URL("../main.ts", import.meta.url).pathname;
/**
 * The watchdog's --hang-after. Steps 8 to 10 (two one-second timeouts and three yank runs) must
 * fit inside it with room to spare on a loaded machine, or the watchdog recovers QEMU before
 * they have shown the hang.
 */
const HANG_AFTER_S = 8;
const colour = Deno.stdout.isTerminal() && !Deno.env.get("NO_COLOR");
const dim = (text: string) => colour ? `\x1b[2m${text}\x1b[22m` : text;
const bold = (text: string) => colour ? `\x1b[1m${text}\x1b[22m` : text;

function say(text: string): void {
  console.log(`\n${bold(text)}`);
}

function yankArgs(args: string[]): string[] {
  return ["run", "--quiet", ...compilePermissionFlags(), MAIN, ...args];
}

/** What showing one yank run prints: the command line, its output and its exit code. */
interface YankShown {
  text: string;
  code: number;
}

/** Runs yank and returns what showing it prints. */
async function runYank(lab: QemuLab, args: string[]): Promise<YankShown> {
  const shown = args.map((a) => a.replace(lab.dir, "$LAB")).join(" ");
  const output = await new Deno.Command(Deno.execPath(), {
    args: yankArgs(args),
    stdin: "null",
  }).output();
  const text = new TextDecoder().decode(output.stdout) + new TextDecoder().decode(output.stderr);
  const lines = [dim(`$ yank ${shown}`)];
  if (text) lines.push(text.replaceAll(lab.dir, "$LAB").trimEnd());
  lines.push(dim(`(exit code ${output.code})`));
  return { text: lines.join("\n"), code: output.code };
}

/** Runs yank, showing the command line, its output and its exit code. */
async function yank(lab: QemuLab, args: string[]): Promise<number> {
  const { text, code } = await runYank(lab, args);
  console.log(text);
  return code;
}

async function main(): Promise<void> {
  await using lab = await QemuLab.create();
  console.log(`A throwaway lab in ${lab.dir} (shown as $LAB below).`);

  say("1. Start a VM (QEMU without a guest) with two disks, each served by an NBD server.");
  const dataServer = await lab.startNbd();
  const systemServer = await lab.startNbd();
  // Monitor 1 is for people and scripts, monitor 2 for the watchdog, monitor 3 plays the guest.
  const qemu = await lab.startQemu({ monitors: 3, name: "vm" });
  const [watchSocket, guestSocket] = qemu.extraSockets as [string, string];
  const guest = await lab.qmp(guestSocket);
  for (const [node, server] of [["nbd0", dataServer], ["nbd1", systemServer]] as const) {
    await addNbdNode(guest, server, node);
  }
  await guest.execute("blockdev-add", { driver: "null-co", "node-name": "backup", size: 64 << 20 });
  console.log(
    "QEMU talks to its operators over QMP, a JSON protocol on a unix socket (the monitor).",
  );
  console.log(
    `It has three: ${qemu.socket.replace(lab.dir, "$LAB")} for us, one for the watchdog, ` +
      "one to play the guest.",
  );

  say("2. List what can be yanked: the monitors' own sockets and the two NBD disk connections.");
  await yank(lab, ["list", "--socket", qemu.socket]);

  say("3. A backup of disk nbd0 starts, and nbd0's NBD server freezes (its host died).");
  await dataServer.process.freeze();
  await guest.execute("blockdev-backup", {
    "job-id": "backup0",
    device: "nbd0",
    target: "backup",
    sync: "full",
    "auto-dismiss": false,
  });
  await new Promise((resolve) => setTimeout(resolve, 1000));
  console.log(`The backup job is stuck: ${await jobSummary(guest, "backup0")}.`);

  say("4. QEMU's main loop is still fine, so a one-shot yank gets the job unstuck:");
  await yank(lab, ["block-node", "nbd0", "--socket", qemu.socket]);
  await waitFor(
    async () => (await jobSummary(guest, "backup0")).startsWith("concluded"),
    10_000,
    "the backup job did not end after the yank",
  );
  console.log(`The job failed at once instead of hanging: ${await jobSummary(guest, "backup0")}.`);

  say("5. Worse: a hang of the main loop. Start the watchdog on its own monitor first; it");
  console.log("connects now, while QEMU is healthy, and keeps that connection ready.");
  const proxy = lab.path("vm-yank-proxy.qmp");
  const watchArgs = [
    "watch",
    "--socket",
    watchSocket,
    "--block-node",
    "nbd1",
    "--interval",
    "0.5",
    "--hang-after",
    String(HANG_AFTER_S),
    "--listen",
    proxy,
  ];
  console.log(dim(`$ yank ${watchArgs.join(" ").replaceAll(lab.dir, "$LAB")} &`));
  const watch = new Deno.Command(Deno.execPath(), {
    args: yankArgs(watchArgs),
    stdin: "null",
    stdout: "inherit",
    stderr: "piped",
  }).spawn();
  const watchLog = relayLines(watch.stderr, (line) => {
    console.log(dim(`  [watch] ${line.replaceAll(lab.dir, "$LAB")}`));
  });
  await waitFor(() => exists(proxy), 5000);

  say("6. Check the VM's health, as a cron job or Nagios would:");
  await yank(lab, ["check", "--socket", qemu.socket]);

  say("7. Disk nbd1's server freezes too, and the guest reads from nbd1.");
  await systemServer.process.freeze();
  const read = readInMainLoop(guest, "nbd1");
  await new Promise((resolve) => setTimeout(resolve, 300));
  console.log("QEMU's main loop now waits for the dead server, and stops answering commands.");

  // Steps 8 to 10 must all happen within --hang-after. 8 and 9 take turns on the one monitor
  // (a second client would only find it busy); 10 goes through the proxy meanwhile.
  const throughProxy = runYank(lab, ["list", "--socket", proxy, "--timeout", "1"]);
  const check = await runYank(lab, ["check", "--socket", qemu.socket, "--timeout", "1"]);
  const oneShot = await runYank(lab, [
    "block-node",
    "nbd1",
    "--socket",
    qemu.socket,
    "--timeout",
    "1",
  ]);
  say("8. The health check notices within its --timeout:");
  console.log(check.text);

  say("9. A new connection cannot get through a hung main loop, not even to yank:");
  console.log(oneShot.text);

  say("10. Only a connection made before the hang can. The watchdog has one; through its proxy");
  console.log("socket, operators and scripts can still list and yank during the hang:");
  console.log((await throughProxy).text);

  say(
    `11. After --hang-after ${HANG_AFTER_S} seconds without an answer, the watchdog yanks nbd1 itself:`,
  );
  let timer: ReturnType<typeof setTimeout> | undefined;
  const recovered = await Promise.race([
    read.then(() => true, () => true),
    new Promise<false>((resolve) => timer = setTimeout(() => resolve(false), 20_000)),
  ]);
  clearTimeout(timer);
  if (!recovered) throw new Error("the watchdog did not get QEMU back within 20 s");
  await new Promise((resolve) => setTimeout(resolve, 300));
  console.log("The guest's read failed with an I/O error instead of hanging forever.");

  say("12. QEMU answers again:");
  await yank(lab, ["check", "--socket", qemu.socket]);

  say("13. Clean up: stop the watchdog, QEMU and the NBD servers (only what the demo started).");
  watch.kill("SIGTERM");
  const status = await watch.status;
  await watchLog;
  console.log(`The watchdog exited with code ${status.code}.`);
}

/** "running, 0 of 64 MiB copied" or "concluded, error: Input/output error". */
async function jobSummary(client: QmpClient, id: string): Promise<string> {
  const jobs = await client.execute("query-jobs") as {
    id: string;
    status: string;
    error?: string;
    "current-progress": number;
    "total-progress": number;
  }[];
  const job = jobs.find((j) => j.id === id);
  if (!job) return "gone";
  const mib = (bytes: number) => `${Math.round(bytes / (1 << 20))} MiB`;
  return job.error
    ? `${job.status}, error: ${job.error}`
    : `${job.status}, ${mib(job["current-progress"])} of ${mib(job["total-progress"])} copied`;
}

async function relayLines(
  stream: ReadableStream<Uint8Array>,
  onLine: (line: string) => void,
): Promise<void> {
  let pending = "";
  for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
    pending += chunk;
    const lines = pending.split("\n");
    pending = lines.pop()!;
    for (const line of lines) onLine(line);
  }
  if (pending) onLine(pending);
}

async function exists(path: string): Promise<boolean> {
  return await Deno.stat(path).then(() => true, () => false);
}

async function waitFor(
  check: () => Promise<boolean>,
  timeoutMs: number,
  what = "the watchdog did not start",
): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > until) throw new Error(what);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

if (import.meta.main) {
  try {
    await main();
    console.log("\nDone: every process the demo started has been stopped.");
  } catch (error) {
    console.error(`demo: ${error instanceof Error ? error.message : error}`);
    Deno.exit(1);
  }
}
