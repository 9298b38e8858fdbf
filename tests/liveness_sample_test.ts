/**
 * Finding QEMU's process from its monitor socket, however the socket's path is spelt: ss shows
 * the path QEMU bound, the user may name it through a symlink, `/var/run` or a relative path.
 * The ss output is made up; the socket files and their links are real.
 */

import assert from "node:assert/strict";
import { findQemuProcess, judgePeers } from "../lib/liveness/sample.ts";

const listening = (path: string, pid: number) =>
  `u_str LISTEN 0      4096  ${path} 69102 * 0 users:(("qemu-system-x86",pid=${pid},fd=5)) ---\n`;

Deno.test("findQemuProcess() finds the listener through a symlink, a relative path, or one bound relative", async () => {
  const dir = await Deno.realPath(await Deno.makeTempDir({ prefix: "yank-probe-" }));
  const socket = `${dir}/vm 1+%.qmp`;
  const listener = Deno.listen({ transport: "unix", path: socket });
  // A process whose cwd is the socket's dir, standing for a QEMU that bound "vm 1+%.qmp".
  const sleeper = new Deno.Command("sleep", { args: ["60"], cwd: dir, stdout: "null" }).spawn();
  try {
    await Deno.symlink(socket, `${dir}/link.qmp`);
    await Deno.symlink(dir, `${dir}/dirlink`);
    const ss = (text: string) => () => Promise.resolve(text);
    const run = ss(listening("/elsewhere/other.qmp", 1) + listening(socket, 4242));

    assert.deepEqual(await findQemuProcess(socket, run), { pid: 4242 });
    assert.deepEqual(await findQemuProcess(`${dir}/link.qmp`, run), { pid: 4242 });
    assert.deepEqual(await findQemuProcess(`${dir}/dirlink/vm 1+%.qmp`, run), { pid: 4242 });
    const relative = `${"../".repeat(Deno.cwd().split("/").length)}${socket.slice(1)}`;
    assert.deepEqual(await findQemuProcess(relative, run), { pid: 4242 });

    const boundRelative = ss(listening("vm 1+%.qmp", sleeper.pid));
    assert.deepEqual(await findQemuProcess(`${dir}/link.qmp`, boundRelative), {
      pid: sleeper.pid,
    });

    const missing = await findQemuProcess(`${dir}/nothing.qmp`, run);
    assert.match("error" in missing ? missing.error : "", /ss shows no socket listening on/);
  } finally {
    listener.close();
    sleeper.kill();
    await sleeper.status;
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("judgePeers() finds QEMU's connection to an NBD server it was given through a symlink", async () => {
  const dir = await Deno.realPath(await Deno.makeTempDir({ prefix: "yank-probe-" }));
  const socket = `${dir}/nbd 50%.sock`;
  const listener = Deno.listen({ transport: "unix", path: socket });
  try {
    await Deno.symlink(socket, `${dir}/link.sock`);
    // QEMU (pid 25515) connected to qemu-nbd's socket, which ss shows by its bound path.
    const ss = [
      `u_str ESTAB  0      0     * 69109 * 69110 users:(("qemu-system-x86",pid=25515,fd=14)) ---`,
      `u_str LISTEN 0      4096  ${socket} 69102 * 0 users:(("qemu-nbd",pid=25543,fd=5)) ---`,
      `u_str ESTAB  0      0     ${socket} 69110 * 69109 users:(("qemu-nbd",pid=25543,fd=6)) ---`,
    ].join("\n");
    const verdicts = await judgePeers(25515, [{
      key: "block-node:nbd0",
      endpoint: { transport: "unix", path: `${dir}/link.sock`, qemuListens: false },
    }], { boundMs: 0, samples: 2, runSs: () => Promise.resolve(ss) });
    assert.equal(verdicts.get("block-node:nbd0")?.state, "alive", JSON.stringify([...verdicts]));
  } finally {
    listener.close();
    await Deno.remove(dir, { recursive: true });
  }
});
