/**
 * yank-watch.service's confinement, reproduced with unshare and setpriv (tests/support/sandbox.ts)
 * around real QEMU 7.2 run as libvirt's QEMU user: watch still connects, probes, judges peers
 * (ss over netlink), serves its proxy, writes its textfile and recovers a real hang, and the proxy
 * socket and the textfile keep their modes whatever the umask.
 */

import assert from "node:assert/strict";
import { runCli, type SpawnedCli } from "./support/cli.ts";
import { startWatch } from "./support/watch.ts";
import { addNbdNode, eventually, QemuLab, readInMainLoop } from "./support/qemu_lab.ts";
import { sandboxWrapper } from "./support/sandbox.ts";

/** QEMU's user under Debian's libvirt, which yank-watch.service runs as too. */
const USER = "libvirt-qemu";

async function run(program: string, args: string[]): Promise<string> {
  const output = await new Deno.Command(program, { args, stdin: "null" }).output();
  const text = new TextDecoder();
  assert.ok(output.success, `${program} ${args.join(" ")}: ${text.decode(output.stderr)}`);
  return text.decode(output.stdout);
}

/** A directory owned by USER with `mode`, as tmpfiles.d and RuntimeDirectory= make them. */
async function ownedDir(path: string, mode: number): Promise<void> {
  await Deno.mkdir(path, { recursive: true });
  await run("chown", [`${USER}:${USER}`, path]);
  await Deno.chmod(path, mode);
}

for (const umask of ["077", "000"]) {
  Deno.test(`confined as yank-watch.service (umask ${umask}), watch does its whole job`, async () => {
    const uid = Number((await run("id", ["-u", USER])).trim());
    await using lab = await QemuLab.create();
    // QEMU, as USER, creates its set-up monitor in the lab dir.
    await ownedDir(lab.dir, 0o755);
    // /run/yank (systemd/yank.conf), at a path of this test's own.
    const runDir = await Deno.makeTempDir({ dir: "/run", prefix: "yank-confined-" });
    await ownedDir(runDir, 0o750);
    await ownedDir(`${runDir}/proxy`, 0o755); // RuntimeDirectory=yank/proxy
    const textDir = lab.path("textfile");
    await ownedDir(textDir, 0o755);
    const nbd = await lab.startNbd(1);
    await Deno.chmod(nbd.socket, 0o777);
    const qemu = await lab.startQemu({ monitors: 2, socket: `${runDir}/vm1.qmp`, user: USER });
    // The mode libvirt 9.0's QEMU (umask 0002) gives a monitor socket.
    await Deno.chmod(qemu.socket, 0o775);
    const setup = await lab.qmp(qemu.extraSockets[0]!);
    await addNbdNode(setup, nbd);
    let watch: SpawnedCli | undefined;
    try {
      watch = await startWatch({
        socket: `${runDir}/*.qmp`,
        blockNode: "nbd*",
        hangAfter: 1,
        listenDir: `${runDir}/proxy`,
        textfile: "/var/lib/node_exporter/textfile/yank.prom",
      }, {
        limits: { wrapper: sandboxWrapper({ runDir, textfileDir: textDir, user: USER, umask }) },
        until: /^sandbox: /,
        untilMs: 30_000,
      });
      const confined = await watch.waitForLine(/^sandbox: /);
      assert.match(
        confined,
        /read-only \/, .*pseudo devices only, private \/tmp, no \/root, .*no capabilities/,
      );
      await watch.waitForLine(/state=connected/, 60_000);
      assert.ok(!watch.lines.some((l) => /^sandbox: cannot/.test(l)), watch.lines.join("\n"));

      // The proxy: USER's, 0660 whatever the umask, and it serves.
      const proxy = `${runDir}/proxy/vm1.qmp`;
      assert.ok(await eventually(async () => (await Deno.stat(proxy).catch(() => null)) !== null));
      const proxyStat = await Deno.stat(proxy);
      assert.equal(proxyStat.mode! & 0o777, 0o660);
      assert.equal(proxyStat.uid, uid);
      const listed = await runCli(["list", "--socket", proxy]);
      assert.equal(listed.code, 0, listed.stderr);
      assert.match(listed.stdout, /block-node\s+nbd0/);

      // The textfile: probes land in it, and node_exporter (another user) can read it.
      const textfile = `${textDir}/yank.prom`;
      assert.ok(
        await eventually(async () =>
          (await Deno.readTextFile(textfile).catch(() => "")).includes(
            `yank_up{socket="${runDir}/vm1.qmp"} 1`,
          )
        ),
      );
      const textStat = await Deno.stat(textfile);
      assert.equal(textStat.mode! & 0o777, 0o644);
      assert.equal(textStat.uid, uid);

      // A real hang: judged by ss's netlink view of QEMU's sockets, yanked, recovered.
      nbd.process.freeze();
      await readInMainLoop(setup, "nbd0");
      await watch.waitForLine(/state=recovered/);
      const judged = await watch.waitForLine(/state=judged/);
      assert.match(judged, /block-node \\"nbd0\\" .*judged dead/);
      assert.ok(watch.lines.some((l) => /state=yanking .*nbd0.*\(peer judged dead\)/.test(l)));

      const stopped = await watch.stop("SIGTERM");
      assert.equal(stopped.code, 0, stopped.stderr);
      assert.ok(!watch.lines.some((l) => /state=(warning|error)/.test(l)), watch.lines.join("\n"));
      assert.equal(await Deno.stat(proxy).catch(() => null), null);
    } finally {
      await watch?.stop("SIGKILL");
      await Deno.remove(runDir, { recursive: true });
    }
  });
}
