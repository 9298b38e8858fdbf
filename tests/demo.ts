/**
 * `deno task demo`: the whole story against a throwaway QEMU that this script starts itself.
 *
 * A VM's disk is served over NBD; the NBD server freezes, and QEMU's main loop hangs waiting
 * for it. `yank check` says so, a fresh `yank list` cannot get through, and `yank watch` (which
 * connected before the hang) yanks the NBD connection and QEMU comes back. Every process the
 * demo starts is stopped at the end.
 */

import { compilePermissionFlags } from "./support/cli.ts";
import { QemuLab } from "./support/qemu_lab.ts";

const MAIN = new URL("../main.ts", import.meta.url).pathname;
const colour = Deno.stdout.isTerminal() && !Deno.env.get("NO_COLOR");
const dim = (text: string) => colour ? `\x1b[2m${text}\x1b[22m` : text;
const bold = (text: string) => colour ? `\x1b[1m${text}\x1b[22m` : text;

function say(text: string): void {
  console.log(`\n${bold(text)}`);
}

function yankArgs(args: string[]): string[] {
  return ["run", "--quiet", ...compilePermissionFlags(), MAIN, ...args];
}

/** Runs yank, showing the command line, its output and its exit code. */
async function yank(lab: QemuLab, args: string[]): Promise<number> {
  const shown = args.map((a) => a.replace(lab.dir, "$LAB")).join(" ");
  console.log(dim(`$ yank ${shown}`));
  const output = await new Deno.Command(Deno.execPath(), {
    args: yankArgs(args),
    stdin: "null",
  }).output();
  const text = new TextDecoder().decode(output.stdout) + new TextDecoder().decode(output.stderr);
  if (text) console.log(text.replaceAll(lab.dir, "$LAB").trimEnd());
  console.log(dim(`(exit code ${output.code})`));
  return output.code;
}

async function main(): Promise<void> {
  await using lab = await QemuLab.create();
  console.log(`A throwaway lab in ${lab.dir} (shown as $LAB below).`);

  say("1. Start a VM (QEMU without a guest) with a disk served by an NBD server.");
  const nbd = await lab.startNbd();
  // Monitor 1 is for people and scripts, monitor 2 for the watchdog, monitor 3 plays the guest.
  const qemu = await lab.startQemu({ monitors: 3, name: "vm" });
  const [watchSocket, guestSocket] = qemu.extraSockets as [string, string];
  const guest = await lab.qmp(guestSocket);
  await guest.execute("blockdev-add", {
    driver: "nbd",
    "node-name": "nbd0",
    server: { type: "unix", path: nbd.socket },
  });
  console.log(
    "QEMU talks to its operators over QMP, a JSON protocol on a unix socket (the monitor).",
  );
  console.log(
    `It has three: ${qemu.socket.replace(lab.dir, "$LAB")} for us, one for the watchdog, ` +
      "one to play the guest.",
  );

  say("2. List what can be yanked: the monitors' own sockets and the NBD disk connection.");
  await yank(lab, ["list", "--socket", qemu.socket]);

  say("3. Start the watchdog on its own monitor. It connects now, while QEMU is healthy.");
  const proxy = lab.path("vm-yank-proxy.qmp");
  const watchArgs = [
    "watch",
    "--socket",
    watchSocket,
    "--block-node",
    "nbd0",
    "--interval",
    "0.5",
    "--hang-after",
    "5",
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

  say("4. Check the VM's health, as a cron job or Nagios would:");
  await yank(lab, ["check", "--socket", qemu.socket]);

  say("5. The NBD server freezes (like a storage host that died), and the guest reads its disk.");
  nbd.process.freeze();
  const read = guest.execute(
    "human-monitor-command",
    { "command-line": 'qemu-io nbd0 "read 0 4096"' },
    { timeoutMs: 120_000 },
  );
  read.catch(() => {});
  await new Promise((resolve) => setTimeout(resolve, 300));
  console.log("QEMU's main loop now waits for the dead server, and stops answering commands.");

  say("6. The health check notices within its --timeout:");
  await yank(lab, ["check", "--socket", qemu.socket, "--timeout", "1"]);

  say("7. A new connection cannot get through a hung main loop, not even to yank:");
  await yank(lab, ["block-node", "nbd0", "--socket", qemu.socket, "--timeout", "1"]);

  say("8. Only a connection made before the hang can. The watchdog has one; through its proxy");
  console.log("socket, operators and scripts can still list and yank during the hang:");
  await yank(lab, ["list", "--socket", proxy, "--timeout", "1"]);

  say("9. After --hang-after 5 seconds without an answer, the watchdog yanks nbd0 itself:");
  const recovered = await Promise.race([
    read.then(() => true, () => true),
    new Promise<false>((resolve) => setTimeout(() => resolve(false), 20_000)),
  ]);
  if (!recovered) throw new Error("the watchdog did not get QEMU back within 20 s");
  await new Promise((resolve) => setTimeout(resolve, 300));
  console.log("The guest's read failed with an I/O error instead of hanging forever.");

  say("10. QEMU answers again:");
  await yank(lab, ["check", "--socket", qemu.socket]);

  say("11. Clean up: stop the watchdog, QEMU and the NBD server (only what the demo started).");
  watch.kill("SIGTERM");
  const status = await watch.status;
  await watchLog;
  console.log(`The watchdog exited with code ${status.code}.`);
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

async function waitFor(check: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > until) throw new Error("the watchdog did not start");
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
