/**
 * What the names sweep (tests/names_property_test.ts, `deno task fuzz --names`) found, each
 * pinned as a plain test with the smallest name that showed it.
 */

import assert from "node:assert/strict";
import { parseChardevFilename, parseNbdFilename } from "../lib/yank/describe_peers.ts";
import { renderHealthJson } from "../lib/health/render_json.ts";
import type { HealthReport } from "../lib/health/state.ts";
import { formatLogLine } from "../lib/watch/log.ts";
import { findDomains } from "../lib/libvirt/domains.ts";
import { parseSs } from "../lib/liveness/ss.ts";
import { findQemuProcess } from "../lib/liveness/sample.ts";
import { QEMU_NAMESPACE } from "../lib/libvirt/domain_xml.ts";

Deno.test("a unix chardev's path is read whole, however odd", async (t) => {
  const cases: [string, string, boolean][] = [
    // A newline made the flag regexp miss, and list died with "Internal error".
    ["disconnected:unix:/tmp/a\nb,server=on", "/tmp/a\nb", true],
    // " <-> " belongs to connected TCP sockets only.
    ["disconnected:unix:/tmp/a <-> b:1,server=on", "/tmp/a <-> b:1", true],
    // A comma in the path is the path's, not a flag.
    ["unix:/tmp/x,y", "/tmp/x,y", false],
    ["unix:/tmp/x,y,server=on", "/tmp/x,y", true],
    ["disconnected:unix:/tmp/@s,abstract,tight,server=on", "/tmp/@s", true],
  ];
  for (const [filename, path, listening] of cases) {
    await t.step(JSON.stringify(filename), () => {
      const peer = parseChardevFilename(filename);
      assert.ok(peer);
      assert.equal(peer.listening, listening);
      assert.deepEqual(listening ? peer.local : peer.remote, { type: "unix", path });
    });
  }
});

Deno.test("an NBD export or socket path holding ?socket= is split where the socket is", async (t) => {
  const path = "/run/nbd.sock";
  await t.step("an export holding ?socket= (the absolute path is the socket's)", () => {
    const peer = parseNbdFilename(`nbd+unix:///?socket=\\a?socket=${path}`);
    assert.deepEqual(peer?.server, { type: "unix", path });
    assert.equal(peer?.export, "?socket=\\a");
  });
  await t.step("a path holding ?socket=, confirmed by the socket that exists", () => {
    const odd = "/run/a?socket=/b";
    const filename = `nbd+unix:///e?socket=${odd}`;
    const peer = parseNbdFilename(filename, { isSocket: (p) => p === odd });
    assert.deepEqual(peer?.server, { type: "unix", path: odd });
    assert.equal(peer?.export, "e");
  });
  await t.step("an export holding ?socket=/, confirmed by the socket that exists", () => {
    const filename = `nbd+unix:///e?socket=/x?socket=${path}`;
    const peer = parseNbdFilename(filename, { isSocket: (p) => p === path });
    assert.deepEqual(peer?.server, { type: "unix", path });
    assert.equal(peer?.export, "e?socket=/x");
  });
});

Deno.test("check --format json and the watch log escape a socket path's bidirectional overrides", () => {
  const socket = "/run/vm\u2066\u202e1.qmp";
  const report: HealthReport = {
    socket,
    state: "OK",
    reason: "ok",
    message: "fine",
    remedy: "",
    latencySeconds: 0.001,
    instances: 1,
    qemuVersion: "7.2.0",
    oob: true,
  };
  const json = renderHealthJson([report], false);
  assert.doesNotMatch(json, /[\u202a-\u202e\u2066-\u2069]/);
  assert.equal(JSON.parse(json).socket, socket);
  const line = formatLogLine({ time: 0, socket, state: "connected", instances: 1, message: "" });
  assert.doesNotMatch(line, /[\u202a-\u202e\u2066-\u2069]/);
  assert.equal(JSON.parse(/socket=("[^ ]*")/.exec(line)![1]!), socket);
});

Deno.test("--domain finds a domain named like a glob, or with a leading dot, by its name", async () => {
  const runDir = await Deno.makeTempDir({ prefix: "yank-domains-" });
  try {
    const xml = (name: string) =>
      `<domstatus><domain xmlns:qemu='${QEMU_NAMESPACE}'><name>${name}</name><qemu:commandline>` +
      `<qemu:arg value='-qmp'/><qemu:arg value='unix:/run/yank/${name}.qmp,server=on'/>` +
      `</qemu:commandline></domain></domstatus>`;
    for (const name of ["web[1]", "web1", ".hidden", "a\\b"]) {
      await Deno.writeTextFile(`${runDir}/${name}.xml`, xml(name));
    }
    for (const name of ["web[1]", ".hidden", "a\\b"]) {
      const { found, failures } = await findDomains([name], runDir);
      assert.deepEqual(failures, []);
      assert.deepEqual(found.map((f) => f.socket), [`/run/yank/${name}.qmp`]);
    }
    // A glob that names no domain is still a glob.
    const { found } = await findDomains(["web[0-9]"], runDir);
    assert.deepEqual(found.map((f) => f.socket), ["/run/yank/web1.qmp"]);
  } finally {
    await Deno.remove(runDir, { recursive: true });
  }
});

Deno.test("an NBD node's json: filename is read flat or nested, and when QEMU cut it", async (t) => {
  const path = "/run/n b.sock";
  await t.step("flat keys, as QEMU 7.2 writes a node's options", () => {
    const peer = parseNbdFilename(
      `json:{"server.path": "${path}", "driver": "nbd", "export": "50%", "server.type": "unix"}`,
    );
    assert.deepEqual(peer?.server, { type: "unix", path });
    assert.equal(peer?.export, "50%");
  });
  await t.step("an inet server, flat", () => {
    const peer = parseNbdFilename(
      `json:{"driver": "nbd", "server.host": "::1", "server.port": "10810", "server.type": "inet"}`,
    );
    assert.deepEqual(peer?.server, { type: "inet", host: "::1", port: "10810" });
    assert.equal(peer?.export, undefined);
  });
  await t.step("cut at 4095 bytes inside a long export: the server, no export", () => {
    const text = `json:{"server.path": "${path}", "driver": "nbd", "export": "${"e".repeat(5000)}`
      .slice(0, 4095);
    const peer = parseNbdFilename(text);
    assert.deepEqual(peer?.server, { type: "unix", path });
    assert.equal(peer?.export, undefined);
  });
});

Deno.test("parseSs() reads a unix path that holds newlines, as ss prints it raw", () => {
  const path = "/run/a b\nc\n\n <-> d";
  const text =
    `u_str LISTEN 0      128      ${path} 257773 * 0 users:(("qemu",pid=8279,fd=3))  \n` +
    `u_str LISTEN 0      128      /run/x.qmp 257774 * 0 users:(("qemu",pid=8280,fd=3))\n`;
  const sockets = parseSs(text);
  assert.deepEqual(sockets.map((s) => [s.local, s.pids]), [
    [path, [8279]],
    ["/run/x.qmp", [8280]],
  ]);
});

Deno.test("findQemuProcess() finds a listener whose path ends in blanks, which ss runs into its padding", async () => {
  const dir = await Deno.realPath(await Deno.makeTempDir({ prefix: "yank-probe-" }));
  const socket = `${dir}/vm1.qmp \r `;
  const listener = Deno.listen({ transport: "unix", path: socket });
  try {
    const ss = () =>
      Promise.resolve(`u_str LISTEN 0 128 ${socket}   4242 * 0 users:(("qemu",pid=77,fd=3))\n`);
    assert.deepEqual(await findQemuProcess(socket, ss), { pid: 77 });
    await Deno.symlink(socket, `${dir}/link`);
    assert.deepEqual(await findQemuProcess(`${dir}/link`, ss), { pid: 77 });
  } finally {
    listener.close();
    await Deno.remove(dir, { recursive: true });
  }
});
