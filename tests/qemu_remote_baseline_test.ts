/**
 * The baseline without yank: QEMU's main loop blocked on a read from a remote NBD host that
 * vanished (every packet dropped in the host's namespace) is still hung after 60 s. The
 * kernel retransmits with exponential backoff and gives up only after tcp_retries2 (15 tries,
 * about 15 minutes), so nothing in QEMU ends the wait before then.
 *
 * In a file of its own: the test waits a full minute and does nearly nothing meanwhile, so the
 * suite (`deno test --parallel`) runs it beside the other files rather than after them.
 */

import assert from "node:assert/strict";
import { runCli } from "./support/cli.ts";
import { NetLab } from "./support/net_lab.ts";
import { readInMainLoop } from "./support/qemu_lab.ts";

const HUNG_FOR_S = 60;

/** The retransmissions of QEMU's connection to `address` so far, from ss's timer field. */
async function retransmissions(net: NetLab, address: string): Promise<number> {
  const shown = await net.ss(["-tnoH", "dst", address]);
  const count = /timer:\(on,[^,]+,(\d+)\)/.exec(shown)?.[1];
  assert.ok(count !== undefined, `no retransmission timer on the connection: ${shown}`);
  return Number(count);
}

Deno.test(`without yank, a read from a vanished remote NBD host is still hung after ${HUNG_FOR_S} s`, async () => {
  await using net = await NetLab.create();
  const storage = await net.addHost("storage");
  const nbd = await net.startNbd(storage, { sizeMiB: 1 });
  const qemu = await net.startQemu({ monitors: 3 });
  // Negotiated before the hang: the one connection that can still yank through it.
  const rescue = await net.lab.qmp(qemu.socket);
  const setup = await net.lab.qmp(qemu.extraSockets[1]!);
  await setup.execute("blockdev-add", {
    driver: "nbd",
    "node-name": "nbd0",
    server: { type: "inet", host: storage.address, port: String(nbd.port) },
  });

  await net.blackhole(storage);
  const hungAt = performance.now();
  let ended: number | undefined;
  const read = readInMainLoop(setup, "nbd0").finally(() => ended = performance.now());
  const counts: number[] = [];
  for (let second = 10; second <= HUNG_FOR_S; second += 10) {
    await new Promise((resolve) => setTimeout(resolve, hungAt + second * 1000 - performance.now()));
    assert.equal(ended, undefined, `the read ended after ${((ended ?? 0) - hungAt) / 1000} s`);
    counts.push(await retransmissions(net, storage.address));
  }
  // The kernel kept retransmitting, ever more slowly, and had not given up.
  assert.ok(counts.every((n, i) => n >= (counts[i - 1] ?? 1)), counts.join(", "));

  // A new connection cannot get past negotiation: the one-shot CLI says the main loop is hung.
  const oneShot = await runCli([
    "block-node",
    "nbd0",
    "--socket",
    qemu.extraSockets[0]!,
    "--timeout",
    "2",
  ]);
  assert.equal(oneShot.code, 5, oneShot.stderr);
  assert.match(oneShot.stderr, /QEMU's main loop is hung/);
  assert.equal(ended, undefined);
  const hungMs = performance.now() - hungAt;

  // The connection negotiated before the hang yanks the node, and the read ends at once.
  await rescue.execute("yank", { instances: [{ type: "block-node", "node-name": "nbd0" }] }, {
    oob: true,
  });
  await read;
  assert.equal((await setup.execute("query-status") as { status: string }).status, "running");
  console.log(
    `without yank: the read was still hung after ${(hungMs / 1000).toFixed(1)} s; ` +
      `QEMU's retransmissions every 10 s: ${counts.join(", ")}; one yank ended it ${
        ((ended! - hungAt - hungMs) / 1000).toFixed(2)
      } s later`,
  );
});
