import assert from "node:assert/strict";
import { compileGlob, GlobSyntaxError, isGlob } from "../lib/glob.ts";
import { matchInstances, type YankSelectors } from "../lib/yank/match.ts";
import type { YankInstance } from "../lib/yank/instances.ts";

const INSTANCES: YankInstance[] = [
  { type: "chardev", id: "compat_monitor0" },
  { type: "chardev", id: "charnet1" },
  { type: "chardev", id: "charnet0" },
  { type: "chardev", id: "charnet*" },
  { type: "block-node", "node-name": "nbd0" },
  { type: "block-node", "node-name": "nbdx" },
  { type: "migration" },
];

function selectors(partial: Partial<YankSelectors>): YankSelectors {
  return { chardev: [], blockNode: [], migration: false, ...partial };
}

function names(instances: YankInstance[]): string[] {
  return instances.map((i) =>
    i.type === "chardev" ? i.id : i.type === "block-node" ? i["node-name"] : "migration"
  );
}

const matches = (glob: string, name: string) => compileGlob(glob).test(name);

Deno.test("compileGlob follows shell glob rules", async (t) => {
  await t.step("a name without glob characters matches only itself", () => {
    assert.equal(matches("charnet0", "charnet0"), true);
    assert.equal(matches("charnet0", "charnet00"), false);
    assert.equal(matches("a.b", "axb"), false);
  });
  await t.step("* matches any run of characters, including none", () => {
    assert.equal(matches("char*", "char"), true);
    assert.equal(matches("char*", "charnet0"), true);
    assert.equal(matches("*0", "nbd0"), true);
    assert.equal(matches("*0", "nbd1"), false);
  });
  await t.step("? matches exactly one character", () => {
    assert.equal(matches("nbd?", "nbd0"), true);
    assert.equal(matches("nbd?", "nbd"), false);
    assert.equal(matches("nbd?", "nbd10"), false);
    assert.equal(matches("?", "☕"), true);
  });
  await t.step("[a-z] and [!x] are character classes", () => {
    assert.equal(matches("nbd[a-z]", "nbdx"), true);
    assert.equal(matches("nbd[a-z]", "nbd0"), false);
    assert.equal(matches("nbd[!x]", "nbd0"), true);
    assert.equal(matches("nbd[!x]", "nbdx"), false);
    assert.equal(matches("nbd[01]", "nbd1"), true);
  });
  await t.step("a backslash makes the next character literal", () => {
    assert.equal(matches("charnet\\*", "charnet*"), true);
    assert.equal(matches("charnet\\*", "charnet0"), false);
    assert.equal(matches("a\\?", "a?"), true);
    assert.equal(matches("a\\[b]", "a[b]"), true);
  });
  await t.step("bad globs throw GlobSyntaxError", () => {
    for (const bad of ["[abc", "abc\\", "[]", "[!]", "[z-a]"]) {
      assert.throws(() => compileGlob(bad), GlobSyntaxError, bad);
    }
  });
  await t.step("isGlob tells globs from exact names", () => {
    assert.equal(isGlob("charnet0"), false);
    assert.equal(isGlob("charnet*"), true);
    assert.equal(isGlob("nbd?"), true);
    assert.equal(isGlob("nbd[0]"), true);
  });
});

Deno.test("matchInstances picks what the user means", async (t) => {
  const monitor = { monitorChardev: "compat_monitor0" };

  await t.step("an exact name matches that instance only", () => {
    const match = matchInstances(INSTANCES, selectors({ chardev: ["charnet0"] }), monitor);
    assert.deepEqual(names(match.instances), ["charnet0"]);
  });

  await t.step("a glob never matches the monitor's own chardev", () => {
    const match = matchInstances(INSTANCES, selectors({ chardev: ["*"] }), monitor);
    assert.deepEqual(names(match.instances), ["charnet1", "charnet0", "charnet*"]);
    assert.deepEqual(match.selectors[0]!.spared, ["compat_monitor0"]);
    const forced = matchInstances(INSTANCES, selectors({ chardev: ["*"] }), {
      ...monitor,
      force: true,
    });
    assert.equal(names(forced.instances).includes("compat_monitor0"), false);
  });

  await t.step("the monitor's chardev named exactly is refused without --force", () => {
    const match = matchInstances(INSTANCES, selectors({ chardev: ["compat_monitor0"] }), monitor);
    assert.deepEqual(match.refused, ["compat_monitor0"]);
    assert.deepEqual(match.instances, []);
  });

  await t.step("the monitor's chardev named exactly is allowed with --force", () => {
    const match = matchInstances(INSTANCES, selectors({ chardev: ["compat_monitor0"] }), {
      ...monitor,
      force: true,
    });
    assert.deepEqual(match.refused, []);
    assert.deepEqual(names(match.instances), ["compat_monitor0"]);
  });

  await t.step("results keep query-yank's order, not the selectors' order", () => {
    const match = matchInstances(
      INSTANCES,
      selectors({ chardev: ["charnet0", "charnet1"], blockNode: ["nbd0"], migration: true }),
      monitor,
    );
    assert.deepEqual(names(match.instances), ["charnet1", "charnet0", "nbd0", "migration"]);
  });

  await t.step("an instance matched by several selectors appears once", () => {
    const match = matchInstances(
      INSTANCES,
      selectors({ chardev: ["charnet0", "charnet?", "char*"] }),
      monitor,
    );
    assert.deepEqual(names(match.instances), ["charnet1", "charnet0", "charnet*"]);
    assert.equal(match.selectors.length, 3);
  });

  await t.step("a selector of another type does not match", () => {
    const match = matchInstances(INSTANCES, selectors({ blockNode: ["charnet0"] }), monitor);
    assert.deepEqual(match.instances, []);
    assert.deepEqual(match.selectors[0]!.matched, []);
  });

  await t.step("an escaped glob character matches the literal name only", () => {
    const match = matchInstances(INSTANCES, selectors({ chardev: ["charnet\\*"] }), monitor);
    assert.deepEqual(names(match.instances), ["charnet*"]);
  });
});

Deno.test("a glob never matches any monitor's chardev", async (t) => {
  const instances: YankInstance[] = [
    { type: "chardev", id: "compat_monitor0" },
    { type: "chardev", id: "compat_monitor1" },
    { type: "chardev", id: "charmonitor" },
    { type: "chardev", id: "qmp" },
    { type: "chardev", id: "qmp-event" },
    { type: "chardev", id: "mon-yankmon" },
    { type: "chardev", id: "charserial0" },
    { type: "chardev", id: "qmpx" },
    { type: "chardev", id: "yankmon" },
    { type: "chardev", id: "MON-vm1" },
    { type: "chardev", id: "myHmp" },
    { type: "chardev", id: "QMP2" },
    { type: "chardev", id: "net0" },
  ];

  await t.step("any id holding mon, qmp or hmp (any case) is spared by '*'", () => {
    const match = matchInstances(instances, selectors({ chardev: ["*"] }), {
      monitorChardev: "mon-yankmon",
    });
    assert.deepEqual(names(match.instances), ["charserial0", "net0"]);
    assert.deepEqual(match.selectors[0]!.spared, [
      "compat_monitor0",
      "compat_monitor1",
      "charmonitor",
      "qmp",
      "qmp-event",
      "mon-yankmon",
      "qmpx",
      "yankmon",
      "MON-vm1",
      "myHmp",
      "QMP2",
    ]);
  });

  await t.step("README's yankmon and a mon-<x> are refused when named exactly", () => {
    const match = matchInstances(instances, selectors({ chardev: ["yankmon", "MON-vm1"] }));
    assert.deepEqual(match.refused, ["yankmon", "MON-vm1"]);
    assert.deepEqual(match.instances, []);
  });

  await t.step("'char*' spares charmonitor, also with --force", () => {
    for (const force of [false, true]) {
      const match = matchInstances(instances, selectors({ chardev: ["char*"] }), { force });
      assert.deepEqual(names(match.instances), ["charserial0"]);
    }
  });

  await t.step("--spare globs are spared like monitors", () => {
    const match = matchInstances(instances, selectors({ chardev: ["*"] }), {
      spare: ["charser*", "net?"],
    });
    assert.deepEqual(names(match.instances), []);
  });

  await t.step("an exact monitor name is refused without force, yanked with it", () => {
    const refused = matchInstances(
      instances,
      selectors({ chardev: ["charmonitor", "charserial0"] }),
    );
    assert.deepEqual(refused.refused, ["charmonitor"]);
    assert.deepEqual(names(refused.instances), ["charserial0"]);
    const forced = matchInstances(instances, selectors({ chardev: ["charmonitor"] }), {
      force: true,
    });
    assert.deepEqual(names(forced.instances), ["charmonitor"]);
  });
});

Deno.test("a disk selector matches the NBD nodes behind the disks it names", async (t) => {
  const instances: YankInstance[] = [
    { type: "chardev", id: "vda" },
    { type: "block-node", "node-name": "libvirt-1-storage" },
    { type: "block-node", "node-name": "libvirt-2-storage" },
  ];
  const disks = [
    { names: ["vda", "virtio-disk0"], nodes: ["libvirt-1-format", "libvirt-1-storage"] },
    { names: ["vdb", "virtio-disk1"], nodes: ["libvirt-2-format", "libvirt-2-storage"] },
  ];
  await t.step("by target, by device id, and by glob", () => {
    for (
      const [pattern, expected] of [
        ["vda", ["libvirt-1-storage"]],
        ["virtio-disk1", ["libvirt-2-storage"]],
        ["vd*", ["libvirt-1-storage", "libvirt-2-storage"]],
      ] as const
    ) {
      const match = matchInstances(instances, selectors({ disk: [pattern] }), { disks });
      assert.deepEqual(names(match.instances), expected, pattern);
    }
  });
  await t.step("a disk without an NBD node, or an unknown disk, matches nothing", () => {
    const match = matchInstances(instances, selectors({ disk: ["vdc"] }), { disks });
    assert.deepEqual(match.instances, []);
    assert.equal(match.selectors[0]!.type, "disk");
  });
});
