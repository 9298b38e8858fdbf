/**
 * The table `yank list` prints: columns padded to the terminal width of their cells, so that
 * names and paths in CJK, emoji or with combining marks still line up, and control characters
 * shown as escapes. The expected tables are written out by hand, column by column.
 */

import assert from "node:assert/strict";
import { renderTable } from "../lib/render/table.ts";
import { displayWidth } from "../lib/render/width.ts";
import { alignedTable } from "./support/table.ts";
import { runCli } from "./support/cli.ts";
import { QemuLab } from "./support/qemu_lab.ts";
import { withoutNpm } from "./support/without_npm.ts";

Deno.test("displayWidth counts the columns a terminal gives a text", async (t) => {
  await t.step("ASCII: one column a character", () => {
    assert.equal(displayWidth(""), 0);
    assert.equal(displayWidth("unix:/run/vm1.qmp (listening, connected)"), 40);
  });
  await t.step("East Asian wide and fullwidth characters: two", () => {
    assert.equal(displayWidth("虚拟机"), 6);
    assert.equal(displayWidth("/run/仮想マシン.qmp"), 19);
    assert.equal(displayWidth("한국어"), 6);
    assert.equal(displayWidth("ｈａｌｆ"), 8);
    assert.equal(displayWidth("\u3000"), 2); // the ideographic space
    assert.equal(displayWidth("𠀀"), 2); // CJK extension B, beyond the 16-bit range
  });
  await t.step("halfwidth katakana, accents and other narrow letters: one", () => {
    assert.equal(displayWidth("ｶﾀｶﾅ"), 4);
    assert.equal(displayWidth("disk-é-ß-Ω-ж"), 12);
  });
  await t.step("emoji: two, however many code points make one", () => {
    assert.equal(displayWidth("😀"), 2);
    assert.equal(displayWidth("vm-🚀"), 5);
    assert.equal(displayWidth("👍🏽"), 2); // with a skin tone
    assert.equal(displayWidth("👨‍👩‍👧"), 2); // joined by zero-width joiners
    assert.equal(displayWidth("🇩🇪"), 2); // a flag: two regional indicators
    assert.equal(displayWidth("✔️"), 2); // text-style by default, emoji-style asked for
    assert.equal(displayWidth("1️⃣"), 2); // a keycap
    assert.equal(displayWidth("☺"), 1); // text-style, as a terminal shows it
  });
  await t.step("combining marks and invisible format characters: none", () => {
    assert.equal(displayWidth("e\u0301"), 1);
    assert.equal(displayWidth("x\u0301\u0302\u0303"), 1);
    assert.equal(displayWidth("\u1100\u1161\u11a8"), 2); // a Hangul syllable from its parts
    assert.equal(displayWidth("a\u200bb"), 2);
    assert.equal(displayWidth("\u200d"), 0);
  });
});

Deno.test("renderTable() pads columns to their widest cell", async (t) => {
  await t.step("ASCII cells: two blanks apart, no trailing blanks", () => {
    const rows = [
      ["chardev", "compat_monitor0", "unix:/run/vm1.qmp (listening, connected)", "-"],
      ["block-node", "nbd0", "unix:/run/nbd0.sock", "virtio-disk0"],
    ];
    assert.equal(
      renderTable(["TYPE", "NAME", "PEER", "DISK"], rows),
      alignedTable([["TYPE", "NAME", "PEER", "DISK"], ...rows]),
    );
    assert.equal(
      renderTable(["TYPE", "NAME"], [["chardev", "a"], ["migration", "-"]]),
      "TYPE       NAME\nchardev    a\nmigration  -\n",
    );
  });
  await t.step("a header alone when there are no rows", () => {
    assert.equal(renderTable(["TYPE", "NAME"], []), "TYPE  NAME\n");
  });
  await t.step("an empty last cell leaves no blanks behind", () => {
    assert.equal(
      renderTable(["A", "B"], [["x", ""], ["longer", "y"]]),
      "A       B\nx\nlonger  y\n",
    );
  });
  await t.step("wide characters take two columns each", () => {
    assert.equal(
      renderTable(["TYPE", "NAME", "DISK"], [
        ["chardev", "虚拟机", "-"],
        ["block-node", "nbd0", "ディスク"],
      ]),
      [
        "TYPE        NAME    DISK",
        "chardev     虚拟机  -",
        "block-node  nbd0    ディスク",
        "",
      ].join("\n"),
    );
  });
  await t.step("emoji take two columns, however many code points make them", () => {
    assert.equal(
      renderTable(["NAME", "PEER"], [["😀", "a"], ["👨‍👩‍👧x", "b"], ["🇩🇪", "c"], ["abcd", "d"]]),
      "NAME  PEER\n😀    a\n👨‍👩‍👧x   b\n🇩🇪    c\nabcd  d\n",
    );
  });
  await t.step("combining marks take none", () => {
    assert.equal(
      renderTable(["NAME", "PEER"], [["e\u0301te\u0301", "a"], ["abcdef", "b"]]),
      "NAME    PEER\ne\u0301te\u0301     a\nabcdef  b\n",
    );
  });
  await t.step("control characters are shown as escapes and padded as such", () => {
    assert.equal(
      renderTable(["NAME", "PEER"], [["\x1b[2Jx", "a"], ["tab\there", "b"], ["\u202eevil", "c"]]),
      [
        "NAME         PEER",
        "\\x1b[2Jx     a",
        "tab\\x09here  b",
        "\\u202eevil   c",
        "",
      ].join("\n"),
    );
  });
  await t.step("a bold header is padded by the width it shows", () => {
    assert.equal(
      renderTable(["TYPE", "NAME"], [["block-node", "nbd0"]], { bold: true }),
      "\x1b[1mTYPE\x1b[22m        \x1b[1mNAME\x1b[22m\nblock-node  nbd0\n",
    );
  });
});

Deno.test("yank list lines up wide paths, where no npm package can be had", async () => {
  await using lab = await QemuLab.create();
  const peer = lab.path("虚拟机😀.sock");
  const qemu = await lab.startQemu({
    name: "vm",
    args: ["-chardev", `socket,id=charpeer,path=${peer},server=on,wait=off`],
  });
  await using noNpm = await withoutNpm();
  const result = await runCli(["list", "--socket", qemu.socket], { env: noNpm.env });
  assert.equal(result.stderr, "");
  assert.equal(result.code, 0);
  const lines = result.stdout.trimEnd().split("\n");
  const wide = lines.find((line) => line.includes(peer));
  assert.ok(wide, result.stdout);
  // DISK starts in the same terminal column on every line; in UTF-16 code units, the wide path's
  // line is 3 shorter: its ideographs take two columns each, its emoji two code units and two
  // columns.
  const diskColumns = lines.map((line) => displayWidth(line.slice(0, line.lastIndexOf(" ") + 1)));
  assert.deepEqual(diskColumns, lines.map(() => diskColumns[0]), result.stdout);
  assert.equal(lines[0]!.indexOf("DISK") - wide.lastIndexOf(" ") - 1, 3, result.stdout);
});
