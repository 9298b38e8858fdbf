/** The disks of a VM (lib/yank/disks.ts): a device mapped to the node chain below it. */

import assert from "node:assert/strict";
import { disksFromBlockGraph, disksFromQueryBlock, withDiskAliases } from "../lib/yank/disks.ts";

Deno.test("disks map a device to the node chain below it", async (t) => {
  // x-debug-query-block-graph of the libvirt domain in fixtures/libvirt_status.xml, from QEMU 7.2.
  const graph = {
    edges: [
      { name: "file", parent: 2, child: 3, perm: [], "shared-perm": [] },
      { name: "root", parent: 1, child: 2, perm: [], "shared-perm": [] },
    ],
    nodes: [
      { name: "libvirt-1-format", type: "block-driver", id: 2 },
      { name: "libvirt-1-storage", type: "block-driver", id: 3 },
      { name: "/machine/peripheral/virtio-disk0/virtio-backend", type: "block-backend", id: 1 },
    ],
  };
  await t.step("from x-debug-query-block-graph, with libvirt's target added", () => {
    const disks = withDiskAliases(disksFromBlockGraph(graph), [
      { target: "vda", alias: "virtio-disk0" },
    ]);
    assert.deepEqual(disks, [{
      names: ["vda", "virtio-disk0", "/machine/peripheral/virtio-disk0/virtio-backend"],
      nodes: ["libvirt-1-format", "libvirt-1-storage"],
    }]);
  });
  await t.step("from query-block when the graph command is missing", () => {
    const disks = disksFromQueryBlock([
      { device: "", qdev: "ide0-0-0", inserted: { "node-name": "libvirt-2-format" } },
      { device: "drive1", qdev: "", inserted: { "node-name": "nbd0" } },
      { device: "cd0", qdev: "ide0-1-0" },
    ]);
    assert.deepEqual(disks, [
      { names: ["ide0-0-0"], nodes: ["libvirt-2-format", "libvirt-2-storage"] },
      { names: ["drive1"], nodes: ["nbd0"] },
    ]);
  });
});
