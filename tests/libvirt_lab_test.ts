/**
 * The libvirt lab's own bounds: a libvirtd that cannot start fails the test quickly with the tail
 * of libvirtd's log, never waits on. A fake libvirtd and virtlogd stand in (the real ones are left
 * alone): libvirt cannot be made to fail to start on demand without breaking it for every other
 * test.
 */

import assert from "node:assert/strict";
import { LibvirtLab, LibvirtMissingError } from "./support/libvirt_lab.ts";

/**
 * A libvirtd that notes its start in `dir/started`, logs why it cannot run to libvirt's log
 * output, then behaves as `then` says.
 */
async function fakeLibvirtd(dir: string, then: string): Promise<string> {
  const path = `${dir}/libvirtd`;
  await Deno.writeTextFile(
    path,
    `#!/bin/sh
echo "libvirtd $*" >> ${dir}/started
log="\${LIBVIRT_LOG_OUTPUTS#*:file:}"
echo "error : virQEMUCapsCacheLookup:1 : no emulator found for this chroot" >> "$log"
${then}
`,
  );
  await Deno.chmod(path, 0o755);
  return path;
}

/**
 * A virtlogd that notes its start in `dir/started` and daemonizes (returns). With it the lab never
 * starts the real one: a real virtlogd started here would remove /run/libvirt/virtlogd-sock when
 * this test ends, under the libvirt test of another process that uses it.
 */
async function fakeVirtlogd(dir: string): Promise<string> {
  const path = `${dir}/virtlogd`;
  await Deno.writeTextFile(path, `#!/bin/sh\necho "virtlogd $*" >> ${dir}/started\n`);
  await Deno.chmod(path, 0o755);
  return path;
}

/** What the fakes noted, one start a line, and forgets it for the next step. */
async function started(dir: string): Promise<string[]> {
  const text = await Deno.readTextFile(`${dir}/started`).catch(() => "");
  await Deno.remove(`${dir}/started`).catch(() => {});
  return text.split("\n").filter((line) => line !== "").map((line) => line.split(" ")[0]!);
}

Deno.test("a libvirtd that cannot start fails the lab within its bound, with the tail of its log", async (t) => {
  const dir = await Deno.makeTempDir({ prefix: "yank-fake-libvirtd-" });
  // No daemon answers here, so the lab starts the fake one.
  const uri = `qemu+unix:///system?socket=${dir}/none.sock`;
  const hostPidFile = `${dir}/none.pid`;
  // No virtlogd answers there either.
  const virtlogdSocket = `${dir}/virtlogd-sock`;
  const virtlogd = await fakeVirtlogd(dir);
  try {
    await t.step("a host libvirtd that does not answer is waited for, never doubled", async () => {
      // This process's own pid stands for a live host libvirtd.
      await Deno.writeTextFile(`${dir}/live.pid`, `${Deno.pid}\n`);
      const libvirtd = await fakeLibvirtd(dir, "exit 0");
      await assert.rejects(
        LibvirtLab.create({
          libvirtd,
          uri,
          startWithinMs: 1500,
          hostPidFile: `${dir}/live.pid`,
          virtlogd,
          virtlogdSocket,
        }),
        /the host's libvirtd \(pid \d+\) did not answer .* within 1\.5 s/,
      );
      // The host's libvirtd has its own virtlogd: the lab starts neither.
      assert.deepEqual(await started(dir), []);
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
          LibvirtLab.create({
            libvirtd,
            uri,
            startWithinMs: 1500,
            hostPidFile,
            virtlogd,
            virtlogdSocket,
          }),
          (error: unknown) => {
            assert.ok(error instanceof LibvirtMissingError, String(error));
            assert.match(error.message, /within 1\.5 s/);
            assert.match(error.message, /no emulator found for this chroot/);
            return true;
          },
        );
        // The virtlogd it was given, before the libvirtd that logs through it.
        assert.deepEqual(await started(dir), ["virtlogd", "libvirtd"]);
      });
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
