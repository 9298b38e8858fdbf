/**
 * The set-up path README's two commands take on a fresh machine: `deno task setup` under its own
 * permission flags (read from deno.json), with a PATH that lacks QEMU and a stub apt-get that
 * records what it is asked to install.
 */

import assert from "node:assert/strict";
import { SUITE_PROGRAMS } from "./support/ensure_qemu.ts";
import { isInstalled } from "./support/debian.ts";

const ROOT = new URL("../", import.meta.url);

/** The permission flags and the script of the `setup` task in deno.json. */
function setupTask(): { flags: string[]; script: string } {
  const config = JSON.parse(Deno.readTextFileSync(new URL("deno.json", ROOT)));
  const words: string[] = config.tasks.setup.split(/\s+/);
  assert.deepEqual(words.slice(0, 2), ["deno", "run"], `setup task: ${config.tasks.setup}`);
  return {
    flags: words.filter((word) => /^--(allow|deny)-/.test(word)),
    script: words.at(-1)!,
  };
}

/**
 * A stub apt-get in `bin`: appends its arguments to `calls`, and on `install` creates an empty
 * file in `bin` for each program (from SUITE_PROGRAMS) that an installed package brings. It uses
 * shell built-ins only, since PATH holds nothing else.
 */
function stubAptGet(bin: string, calls: string): string {
  const programsOf = new Map<string, string[]>();
  for (const [program, pkg] of Object.entries(SUITE_PROGRAMS)) {
    programsOf.set(pkg, [...programsOf.get(pkg) ?? [], program]);
  }
  const provides = [...programsOf].map(([pkg, programs]) =>
    `    ${pkg}) ${programs.map((program) => `: > '${bin}/${program}';`).join(" ")} ;;`
  );
  return `#!/bin/sh
printf '%s\\n' "$*" >> '${calls}'
[ "$1" = install ] || exit 0
for package in "$@"; do
  case "$package" in
${provides.join("\n")}
  esac
done
`;
}

Deno.test("setup, run with its task's permissions, asks apt-get for every missing package", async () => {
  const dir = await Deno.makeTempDir({ prefix: "yank-setup-" });
  try {
    const bin = `${dir}/bin`;
    const calls = `${dir}/calls`;
    await Deno.mkdir(bin);
    await Deno.writeTextFile(`${bin}/apt-get`, stubAptGet(bin, calls), { mode: 0o755 });
    const { flags, script } = setupTask();
    const env: Record<string, string> = { PATH: bin };
    for (const name of ["HOME", "DENO_DIR"]) {
      const value = Deno.env.get(name);
      if (value !== undefined) env[name] = value;
    }
    const output = await new Deno.Command(Deno.execPath(), {
      args: ["run", "--quiet", ...flags, script],
      cwd: ROOT.pathname,
      env,
      clearEnv: true,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stderr = new TextDecoder().decode(output.stderr);
    // PATH holds only the stub, so every program is missing but a file given by its absolute
    // path, which is missing only where it really is.
    const missing = Object.entries(SUITE_PROGRAMS).filter(([program]) =>
      !program.startsWith("/") || !isInstalled(program)
    );
    const packages = [...new Set(missing.map(([, name]) => name))];
    assert.ok(packages.includes("qemu-system-x86") && packages.includes("qemu-utils"));
    const recorded = await Deno.readTextFile(calls).catch(() => "");

    if (Deno.uid() === 0) {
      assert.equal(output.code, 0, stderr);
      assert.deepEqual(recorded.trimEnd().split("\n"), [
        "update -qq",
        `install -y -qq --no-install-recommends ${packages.join(" ")}`,
      ]);
      assert.equal(stderr, `Installing ${packages.join(", ")} from Debian's packages...\n`);
    } else {
      // Not root: nothing is installed, and the one line on stderr says what to run instead.
      assert.equal(output.code, 1, stderr);
      assert.equal(recorded, "");
      assert.equal(stderr.trimEnd().split("\n").length, 1, stderr);
      assert.ok(stderr.includes(`sudo apt-get install -y ${packages.join(" ")}`), stderr);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
