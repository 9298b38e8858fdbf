/** The NBD handshake probe against real servers: qemu-nbd, qemu-storage-daemon, nbdkit. */

import assert from "node:assert/strict";
import { NbdProbeError, NbdProbeTimeoutError, probeNbd } from "../lib/nbd/handshake.ts";
import { QemuLab } from "./support/qemu_lab.ts";

const MiB = 1024n * 1024n;

Deno.test("probeNbd finishes a handshake with qemu-nbd on a unix socket and says the size", async () => {
  await using lab = await QemuLab.create();
  const nbd = await lab.startNbd(16);
  const info = await probeNbd({ type: "unix", path: nbd.socket }, { timeoutMs: 5000 });
  assert.equal(info.size, 16n * MiB);
  // qemu-nbd serves one client at a time: the probe must have let go for a second to pass.
  const again = await probeNbd({ type: "unix", path: nbd.socket }, { timeoutMs: 5000 });
  assert.equal(again.size, 16n * MiB);
});

Deno.test("probeNbd finishes a handshake with qemu-nbd over TCP", async () => {
  await using lab = await QemuLab.create();
  const nbd = await lab.startNbdTcp(8);
  const info = await probeNbd(
    { type: "inet", host: "127.0.0.1", port: String(nbd.port) },
    { timeoutMs: 5000 },
  );
  assert.equal(info.size, 8n * MiB);
});

Deno.test("probeNbd asks qemu-storage-daemon for a named export, and fails for a wrong one", async () => {
  await using lab = await QemuLab.create();
  const qsd = await lab.startStorageDaemon(4);
  const address = { type: "unix", path: qsd.socket } as const;
  const info = await probeNbd(address, { export: qsd.export, timeoutMs: 5000 });
  assert.equal(info.size, 4n * MiB);
  await assert.rejects(
    probeNbd(address, { export: "no such", timeoutMs: 5000 }),
    (error: unknown) =>
      error instanceof NbdProbeError &&
      /refused export "no such": no such export/.test(error.message),
  );
});

Deno.test("probeNbd finishes a handshake with nbdkit", async () => {
  await using lab = await QemuLab.create();
  const nbdkit = await lab.startNbdkit(2);
  const info = await probeNbd({ type: "unix", path: nbdkit.socket }, { timeoutMs: 5000 });
  assert.equal(info.size, 2n * MiB);
});

Deno.test("probeNbd gives up on a frozen qemu-nbd with a timeout error", async () => {
  await using lab = await QemuLab.create();
  const nbd = await lab.startNbd(1);
  nbd.process.freeze();
  await assert.rejects(
    probeNbd({ type: "unix", path: nbd.socket }, { timeoutMs: 300 }),
    (error: unknown) =>
      error instanceof NbdProbeTimeoutError && error.kind === "timeout" &&
      error.message.includes(nbd.socket),
  );
  nbd.process.thaw();
  const info = await probeNbd({ type: "unix", path: nbd.socket }, { timeoutMs: 5000 });
  assert.equal(info.size, MiB);
});

Deno.test("probeNbd says a missing socket does not accept connections", async () => {
  await using lab = await QemuLab.create();
  const path = lab.path("absent.sock");
  await assert.rejects(
    probeNbd({ type: "unix", path }, { timeoutMs: 1000 }),
    (error: unknown) =>
      error instanceof NbdProbeError && error.kind === "connection" &&
      error.message.startsWith(`NBD server ${path} does not accept connections`),
  );
});

Deno.test("probeNbd says a peer that is not NBD is not an NBD server", async () => {
  await using lab = await QemuLab.create();
  const path = lab.path("not-nbd.sock");
  const listener = Deno.listen({ transport: "unix", path });
  const served = (async () => {
    const conn = await listener.accept();
    await conn.write(new TextEncoder().encode("SSH-2.0-OpenSSH_9.2\r\n\0\0\0\0\0\0\0\0\0\0\0\0\0"));
    conn.close();
  })();
  await assert.rejects(
    probeNbd({ type: "unix", path }, { timeoutMs: 1000 }),
    (error: unknown) =>
      error instanceof NbdProbeError && /is not an NBD server/.test(error.message),
  );
  await served;
  listener.close();
});
