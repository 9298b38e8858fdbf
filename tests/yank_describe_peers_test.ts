/**
 * Peer discovery from QEMU 7.2's own replies (captured in tests/fixtures/qemu_7.2_peers.json):
 * chardev addresses, NBD servers, the disks block nodes back, the migration's status.
 */

import assert from "node:assert/strict";
import {
  describePeers,
  parseChardevFilename,
  parseNbdFilename,
  type PeerReplies,
} from "../lib/yank/describe_peers.ts";
import { formatPeer } from "../lib/yank/peer_format.ts";
import { parseYankInstances } from "../lib/yank/instances.ts";

const FIXTURE = JSON.parse(
  await Deno.readTextFile(new URL("./fixtures/qemu_7.2_peers.json", import.meta.url)),
);

Deno.test("describePeers() reads QEMU 7.2's replies of a healthy VM", async (t) => {
  const healthy = FIXTURE.healthy;
  const instances = parseYankInstances(healthy["query-yank"]);
  const peers = describePeers(instances, healthy as PeerReplies);
  const cell = (key: string) => formatPeer(peers.get(key)?.peer);

  await t.step("a TCP client chardev: the address it is connected to", () => {
    assert.equal(cell("chardev:charnet0"), "127.0.0.1:34269");
    assert.deepEqual(peers.get("chardev:charnet0")?.peer, {
      kind: "chardev",
      protocol: "tcp",
      listening: false,
      connected: true,
      local: { type: "inet", host: "127.0.0.1", port: "60846" },
      remote: { type: "inet", host: "127.0.0.1", port: "34269" },
      filename: "tcp:127.0.0.1:60846 <-> 127.0.0.1:34269",
    });
  });

  await t.step("a listening unix chardev without a client, and a monitor with one", () => {
    assert.match(cell("chardev:charunix"), /^unix:\/tmp\/\S+\/chr\.sock \(listening, no client\)$/);
    assert.match(cell("chardev:compat_monitor1"), /^unix:\S+\.qmp \(listening, connected\)$/);
  });

  await t.step("NBD nodes: a unix socket, and host:port with an export", () => {
    assert.match(cell("block-node:nbd0"), /^unix:\/tmp\/\S+\/nbd1\.sock$/);
    assert.equal(cell("block-node:nbd1"), "127.0.0.1:10924 export exp1");
  });

  await t.step("disks: a node inserted directly, and one below a raw format node", () => {
    assert.equal(peers.get("block-node:nbd0")?.disk, "virtio-disk1");
    assert.equal(peers.get("block-node:nbd1")?.disk, "virtio-disk0");
    assert.equal(peers.get("chardev:charnet0")?.disk, undefined);
  });

  await t.step("no reply at all leaves every peer unknown", () => {
    const none = describePeers(instances, {});
    assert.ok([...none.values()].every((p) => p.peer === undefined && p.disk === undefined));
  });
});

Deno.test("describePeers() gives a running migration its status and bytes sent", () => {
  const { migrating } = FIXTURE;
  const instances = parseYankInstances(migrating["query-yank"]);
  const peers = describePeers(instances, migrating as PeerReplies);
  assert.equal(formatPeer(peers.get("migration:")?.peer), "active, 144 KiB sent");
  assert.deepEqual(peers.get("migration:")?.peer, {
    kind: "migration",
    status: "active",
    transferred: 147500,
  });
});

Deno.test("parseChardevFilename() reads every form QEMU writes", async (t) => {
  await t.step("connected TCP server: the client is the remote end", () => {
    const peer = parseChardevFilename("tcp:127.0.0.1:4444,server=on <-> 127.0.0.1:51000")!;
    assert.equal(peer.listening, true);
    assert.deepEqual(peer.remote, { type: "inet", host: "127.0.0.1", port: "51000" });
    assert.equal(formatPeer(peer), "127.0.0.1:51000 (client of 127.0.0.1:4444)");
  });
  await t.step("IPv6 in brackets", () => {
    const peer = parseChardevFilename("tcp:[::1]:40000 <-> [::1]:4444")!;
    assert.deepEqual(peer.remote, { type: "inet", host: "::1", port: "4444" });
    assert.equal(formatPeer(peer), "[::1]:4444");
  });
  await t.step("disconnected client and connected unix client", () => {
    assert.equal(
      formatPeer(parseChardevFilename("disconnected:tcp:10.0.0.2:4444")),
      "10.0.0.2:4444 (disconnected)",
    );
    assert.equal(formatPeer(parseChardevFilename("unix:/run/x.sock")), "unix:/run/x.sock");
  });
  await t.step("telnet keeps its protocol; non-socket chardevs have no peer", () => {
    assert.equal(
      formatPeer(parseChardevFilename("disconnected:telnet:0.0.0.0:23,server=on")),
      "telnet 0.0.0.0:23 (listening, no client)",
    );
    assert.equal(parseChardevFilename("pty:/dev/pts/3"), undefined);
    assert.equal(parseChardevFilename("stdio"), undefined);
  });
});

Deno.test("parseNbdFilename() reads the forms QEMU's block/nbd.c writes, raw (snprintf, no escaping)", () => {
  const cases: [string, string][] = [
    ["nbd+unix:///exp?socket=/run/n.sock", "unix:/run/n.sock export exp"],
    // An export `50%` and a socket path with `+`, `%` and spaces: taken as written.
    ["nbd+unix:///50%?socket=/run/a+b c%20d.sock", "unix:/run/a+b c%20d.sock export 50%"],
    ["nbd+unix://?socket=/run/n%20x.sock", "unix:/run/n%20x.sock"],
    ["nbd+unix:///?socket=rel/n.sock", "unix:rel/n.sock"],
    ["nbd+unix:///a&b=c#d/e?socket=/run/n.sock", "unix:/run/n.sock export a&b=c#d/e"],
    ["nbd://10.0.0.2:10810/disk%2F1", "10.0.0.2:10810 export disk%2F1"],
    ["nbd://10.0.0.2:10810/a?b#c/d+e", "10.0.0.2:10810 export a?b#c/d+e"],
    ["nbd://10.0.0.2:10809", "10.0.0.2:10809"],
    ["nbd://host.example:nbd/", "host.example:nbd"],
    // QEMU writes an IPv6 host as given, without brackets; brackets are read too.
    ["nbd://::1:10809/e", "[::1]:10809 export e"],
    ["nbd://[fe80::1]:10809/e", "[fe80::1]:10809 export e"],
    [
      'json:{"driver": "nbd", "export": "50%", "server": {"type": "unix", "path": "/run/a+b.sock"}, "tls-creds": "t0"}',
      "unix:/run/a+b.sock export 50%",
    ],
    [
      'json:{"driver": "raw", "file": {"driver": "nbd", "server": {"type": "inet", "host": "h", "port": "1"}}}',
      "h:1",
    ],
  ];
  for (const [filename, shown] of cases) {
    assert.equal(formatPeer(parseNbdFilename(filename)), shown, filename);
  }
  assert.deepEqual(parseNbdFilename("nbd+unix:///50%?socket=/run/a+b c.sock"), {
    kind: "nbd",
    server: { type: "unix", path: "/run/a+b c.sock" },
    export: "50%",
    filename: "nbd+unix:///50%?socket=/run/a+b c.sock",
  });
  // Forms QEMU never writes back (it rewrites a legacy `nbd:unix:` name as a URI).
  assert.equal(parseNbdFilename("nbd:unix:/run/n.sock:exportname=e"), undefined);
  assert.equal(parseNbdFilename("nbd+unix:///e"), undefined);
  assert.equal(parseNbdFilename("/var/lib/disk.img"), undefined);
  assert.equal(parseNbdFilename("json:{not json"), undefined);
});
