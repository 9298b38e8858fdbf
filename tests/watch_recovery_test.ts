/** What a recovery yanks, and in which order (lib/watch/recovery.ts), as pure plans. */

import assert from "node:assert/strict";
import { planRecovery } from "../lib/watch/recovery.ts";
import { instanceName, type YankInstance } from "../lib/yank/instances.ts";

const INSTANCES: YankInstance[] = [
  { type: "chardev", id: "compat_monitor0" },
  { type: "block-node", "node-name": "nbd0" },
  { type: "chardev", id: "yankmon" },
  { type: "chardev", id: "charnet0" },
  { type: "migration" },
];

Deno.test("a recovery yanks least harm first and never the watchdog's own chardev", async (t) => {
  await t.step("migration, then chardevs, then block nodes, one type per step", () => {
    const steps = planRecovery(INSTANCES, {
      chardev: ["char*"],
      blockNode: ["nbd0"],
      migration: true,
    }, { ownChardev: "yankmon" });
    assert.deepEqual(steps, [
      { type: "migration", instances: [{ type: "migration" }], dead: false },
      { type: "chardev", instances: [{ type: "chardev", id: "charnet0" }], dead: false },
      {
        type: "block-node",
        instances: [{ type: "block-node", "node-name": "nbd0" }],
        dead: false,
      },
    ]);
  });

  await t.step("instances judged dead come first, least harm first among them", () => {
    const nodes: YankInstance[] = [
      ...INSTANCES,
      { type: "block-node", "node-name": "nbd1" },
      { type: "block-node", "node-name": "nbd2" },
    ];
    const steps = planRecovery(
      nodes,
      {
        chardev: ["char*"],
        blockNode: ["nbd*"],
        migration: true,
      },
      {
        ownChardev: "yankmon",
        dead: [
          { "node-name": "nbd2", type: "block-node" },
          { type: "chardev", id: "charnet0" },
          // Judged dead but a monitor's: never yanked.
          { type: "chardev", id: "compat_monitor0" },
        ],
      },
    );
    assert.deepEqual(
      steps.map((
        s,
      ) => [s.dead, s.instances.map((i) => i.type === "migration" ? "-" : instanceName(i))]),
      [
        [true, ["charnet0"]],
        [true, ["nbd2"]],
        [false, ["-"]],
        [false, ["nbd0", "nbd1"]],
      ],
    );
  });

  await t.step("the own chardev is spared by a glob and by its exact name", () => {
    const byGlob = planRecovery(
      INSTANCES,
      { chardev: ["*"], blockNode: [], migration: false },
      { ownChardev: "yankmon" },
    );
    // compat_monitor0 is another monitor's: spared by a glob too.
    assert.deepEqual(byGlob[0]!.instances.map((i) => i.type === "chardev" && i.id), [
      "charnet0",
    ]);
    assert.deepEqual(
      planRecovery(INSTANCES, { chardev: ["yankmon"], blockNode: [], migration: false }, {
        ownChardev: "yankmon",
      }),
      [],
    );
  });

  await t.step("a monitor's chardev by name or --spare is never yanked, even named exactly", () => {
    const instances = [
      { type: "chardev" as const, id: "charmonitor" },
      { type: "chardev" as const, id: "qmp-event" },
      { type: "chardev" as const, id: "mgmt" },
      { type: "chardev" as const, id: "charserial0" },
    ];
    const steps = planRecovery(instances, {
      chardev: ["*", "charmonitor", "mgmt"],
      blockNode: [],
      migration: false,
    }, { spare: ["mg*"] });
    assert.deepEqual(steps, [{
      type: "chardev",
      instances: [{ type: "chardev", id: "charserial0" }],
      dead: false,
    }]);
  });

  await t.step("a disk selector yanks the NBD nodes behind the disk", () => {
    const steps = planRecovery(
      [
        { type: "block-node", "node-name": "libvirt-1-storage" },
        { type: "block-node", "node-name": "libvirt-2-storage" },
      ],
      { chardev: [], blockNode: [], migration: false, disk: ["vda"] },
      {
        disks: [
          { names: ["vda", "virtio-disk0"], nodes: ["libvirt-1-format", "libvirt-1-storage"] },
          { names: ["vdb", "virtio-disk1"], nodes: ["libvirt-2-format", "libvirt-2-storage"] },
        ],
      },
    );
    assert.deepEqual(steps, [{
      type: "block-node",
      instances: [{ type: "block-node", "node-name": "libvirt-1-storage" }],
      dead: false,
    }]);
  });

  await t.step("a dead peer is yanked first only where selectors, --spare and --disk allow", () => {
    const instances: YankInstance[] = [
      { type: "chardev", id: "mgmt" },
      { type: "chardev", id: "charserial0" },
      { type: "block-node", "node-name": "libvirt-1-storage" },
      { type: "block-node", "node-name": "libvirt-2-storage" },
    ];
    const steps = planRecovery(
      instances,
      { chardev: ["*"], blockNode: [], migration: false, disk: ["vda"] },
      {
        spare: ["mgmt"],
        disks: [
          { names: ["vda"], nodes: ["libvirt-1-format", "libvirt-1-storage"] },
          { names: ["vdb"], nodes: ["libvirt-2-format", "libvirt-2-storage"] },
        ],
        // mgmt is spared, libvirt-2-storage backs vdb, which is not selected.
        dead: [
          { type: "chardev", id: "mgmt" },
          { type: "block-node", "node-name": "libvirt-1-storage" },
          { type: "block-node", "node-name": "libvirt-2-storage" },
        ],
      },
    );
    assert.deepEqual(steps, [
      {
        type: "block-node",
        instances: [{ type: "block-node", "node-name": "libvirt-1-storage" }],
        dead: true,
      },
      { type: "chardev", instances: [{ type: "chardev", id: "charserial0" }], dead: false },
    ]);
  });
});
