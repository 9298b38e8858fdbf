/**
 * Every relative link in README.md and docs/ points to a file that exists and, for `#anchor`, to a
 * heading that file has, with the anchors GitHub makes; README links to the three documents the
 * manual pages name.
 */

import assert from "node:assert/strict";

const ROOT = new URL("../", import.meta.url);

/** The markdown files whose links are checked, relative to the repository's root. */
function markdownFiles(): string[] {
  const files = ["README.md"];
  const walk = (dir: string) => {
    for (const entry of Deno.readDirSync(new URL(dir, ROOT))) {
      if (entry.isDirectory) walk(`${dir}${entry.name}/`);
      else if (entry.name.endsWith(".md")) files.push(`${dir}${entry.name}`);
    }
  };
  walk("docs/");
  return files.sort();
}

/** The text outside fenced code blocks and inline code, where links and headings live. */
function prose(markdown: string): string {
  return markdown
    .replace(/^(```|~~~)[^\n]*\n[\s\S]*?^\1[^\n]*$/gm, "")
    .replace(/`[^`\n]*`/g, "``");
}

/** GitHub's anchor for each heading of `markdown`, duplicates numbered as GitHub numbers them. */
function anchors(markdown: string): Set<string> {
  const found = new Set<string>();
  const text = markdown.replace(/^(```|~~~)[^\n]*\n[\s\S]*?^\1[^\n]*$/gm, "");
  for (const [, heading] of text.matchAll(/^#{1,6} +(.*?) *#* *$/gm)) {
    const slug = heading!
      .replace(/\[([^\]]*)\]\([^)]*\)/g, "$1")
      .replace(/[`*]/g, "")
      .toLowerCase()
      .replace(/[^\p{L}\p{M}\p{N}\p{Pc} -]/gu, "")
      .replace(/ /g, "-");
    let anchor = slug;
    for (let n = 1; found.has(anchor); n++) anchor = `${slug}-${n}`;
    found.add(anchor);
  }
  return found;
}

/** Each relative link target in `markdown`: `[text](target)`, outside code. */
function relativeLinks(markdown: string): string[] {
  const targets = [...prose(markdown).matchAll(/!?\[[^\]]*\]\(([^)\s]+)(?: "[^"]*")?\)/g)]
    .map((match) => match[1]!);
  return targets.filter((target) => !/^[a-z][a-z0-9+.-]*:/i.test(target));
}

/** What is wrong with each relative link of the markdown file `file` (relative to the root). */
function brokenLinks(file: string, read: (path: string) => string | undefined): string[] {
  const problems: string[] = [];
  const source = read(file)!;
  for (const target of relativeLinks(source)) {
    const [path, anchor] = target.split("#", 2) as [string, string | undefined];
    const resolved = path === ""
      ? file
      : new URL(path, new URL(file, "file:///")).pathname.slice(1);
    const text = read(resolved.replace(/\/$/, ""));
    if (text === undefined) {
      problems.push(`${file}: "${target}" points to ${resolved}, which does not exist`);
    } else if (anchor !== undefined && !anchors(text).has(decodeURIComponent(anchor))) {
      problems.push(`${file}: "${target}" names no heading of ${resolved}`);
    }
  }
  return problems;
}

/** A file's text; "" for a directory; undefined when nothing is there. */
function readFromDisk(path: string): string | undefined {
  try {
    const url = new URL(path, ROOT);
    return Deno.statSync(url).isDirectory ? "" : Deno.readTextFileSync(url);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return undefined;
    throw error;
  }
}

Deno.test("every relative link in README.md and docs/ resolves, anchors included", async (t) => {
  const files = markdownFiles();
  assert.ok(files.includes("docs/guide.md") && files.includes("docs/monitoring/README.md"));
  for (const file of files) {
    await t.step(file, () => {
      assert.deepEqual(brokenLinks(file, readFromDisk), []);
    });
  }
});

Deno.test("README links to the guide, the reference and how it works", () => {
  const links = relativeLinks(Deno.readTextFileSync(new URL("README.md", ROOT)));
  for (const doc of ["docs/guide.md", "docs/reference.md", "docs/how-it-works.md"]) {
    assert.ok(links.includes(doc), `README has no link to ${doc}`);
  }
});

Deno.test("the link check finds a missing file, a missing heading and GitHub's anchors", () => {
  const files: Record<string, string> = {
    "README.md": [
      "[guide](docs/guide.md#one-watch) [gone](docs/gone.md) [bad](docs/guide.md#nowhere)",
      "[self](#yank-check-from-cron-nagiosicinga-and-prometheus) `[code](docs/x.md)` [web](https://x)",
      "## `yank check` from cron, Nagios/Icinga and Prometheus",
      "```md",
      "[fenced](docs/fenced.md)",
      "```",
    ].join("\n"),
    "docs/guide.md": "# One watch\n## Proxy (`--listen`)\n## Proxy (`--listen`)\n",
  };
  assert.deepEqual(brokenLinks("README.md", (path) => files[path]), [
    'README.md: "docs/gone.md" points to docs/gone.md, which does not exist',
    'README.md: "docs/guide.md#nowhere" names no heading of docs/guide.md',
  ]);
  assert.deepEqual([...anchors(files["docs/guide.md"]!)], [
    "one-watch",
    "proxy---listen",
    "proxy---listen-1",
  ]);
});
