/**
 * The libvirt lab's own bounds: a libvirtd that cannot start fails the test quickly with the tail
 * of libvirtd's log, never waits on. A fake libvirtd stands in (the running one is left alone):
 * libvirt cannot be made to fail to start on demand without breaking it for every other test.
 */

import assert from "node:assert/strict";
import { daemonsStartedHere, LibvirtLab, LibvirtMissingError } from "./support/libvirt_lab.ts";

/** A libvirtd that logs why it cannot run to libvirt's log output, then behaves as `then` says. */
async function fakeLibvirtd(dir: string, then: string): Promise<string> {
  const path = `${dir}/libvirtd`;
  await Deno.writeTextFile(
    path,
    `#!/bin/sh
log="\${LIBVIRT_LOG_OUTPUTS#*:file:}"
echo "error : virQEMUCapsCacheLookup:1 : no emulator found for this chroot" >> "$log"
${then}
`,
  );
  await Deno.chmod(path, 0o755);
  return path;
}

/** A virtlogd that records its start and exits, as a daemonizing one would. */
async function fakeVirtlogd(dir: string): Promise<string> {
  const path = `${dir}/virtlogd`;
  await Deno.writeTextFile(path, `#!/bin/sh\ntouch ${dir}/virtlogd-started\n`);
  await Deno.chmod(path, 0o755);
  return path;
}

Deno.test("a libvirtd that cannot start fails the lab within its bound, with the tail of its log", async (t) => {
  const dir = await Deno.makeTempDir({ prefix: "yank-fake-libvirtd-" });
  const virtlogd = await fakeVirtlogd(dir);
  // A real virtlogd started here would be stopped when this file ends, while the libvirt test
  // beside it may be using it (virsh create then failed: "/run/libvirt/virtlogd-sock": no such
  // file). The lab's own tests start no real daemon.
  // No daemon answers here, so the lab starts the fake one.
  const uri = `qemu+unix:///system?socket=${dir}/none.sock`;
  const hostPidFile = `${dir}/none.pid`;
  try {
    await t.step("a host libvirtd that does not answer is waited for, never doubled", async () => {
      // This process's own pid stands for a live host libvirtd.
      await Deno.writeTextFile(`${dir}/live.pid`, `${Deno.pid}\n`);
      const libvirtd = await fakeLibvirtd(dir, `touch ${dir}/started`);
      await assert.rejects(
        LibvirtLab.create({
          libvirtd,
          virtlogd,
          uri,
          startWithinMs: 1500,
          hostPidFile: `${dir}/live.pid`,
        }),
        /the host's libvirtd \(pid \d+\) did not answer .* within 1\.5 s/,
      );
      assert.equal(await Deno.stat(`${dir}/started`).then(() => true, () => false), false);
    });
    for (
      const [name, then] of [
        ["a libvirtd that daemonizes and never answers", "exit 0"],
        ["a libvirtd that never returns", "exec sleep 600"],
      ] as const
    ) {
      await t.step(name, async () => {
        const libvirtd = await fakeLibvirtd(dir, then);
        await assert.rejects(
          LibvirtLab.create({ libvirtd, virtlogd, uri, startWithinMs: 1500, hostPidFile }),
          (error: unknown) => {
            assert.ok(error instanceof LibvirtMissingError, String(error));
            assert.match(error.message, /within 1\.5 s/);
            assert.match(error.message, /no emulator found for this chroot/);
            return true;
          },
        );
      });
    }
    await t.step("no real daemon was started for these fakes", () => {
      // A daemon the lab started is stopped when this file ends: it must be none (a virtlogd
      // that answered already is used, not started).
      assert.deepEqual(daemonsStartedHere(), []);
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
