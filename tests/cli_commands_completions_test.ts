/**
 * `yank completions`: the scripts are valid in their shells, and bash and fish, run for real,
 * complete commands, per-command options and the instance names of a real QEMU, with the
 * socket taken from the line or from $YANK_SOCKET.
 */

import assert from "node:assert/strict";
import { compilePermissionFlags, runCli } from "./support/cli.ts";
import { captureIo } from "./support/capture_io.ts";
import { main } from "../lib/cli/main.ts";
import { chardevConnectedToPeer, type QemuLab, QemuLab as Lab } from "./support/qemu_lab.ts";
import { COMMAND_OPTIONS, COMMANDS } from "../lib/cli/options.ts";
import { SHELLS } from "../lib/completions/spec.ts";

const MAIN = new URL("../main.ts", import.meta.url).pathname;

/** A dir holding a `yank` that runs main.ts the way the compiled binary would, for PATH. */
async function yankOnPath(lab: QemuLab): Promise<string> {
  const bin = lab.path("bin");
  await Deno.mkdir(bin);
  const flags = compilePermissionFlags().map((f) => `'${f}'`).join(" ");
  await Deno.writeTextFile(
    `${bin}/yank`,
    `#!/bin/sh\nexec '${Deno.execPath()}' run --quiet ${flags} '${MAIN}' "$@"\n`,
    { mode: 0o755 },
  );
  return bin;
}

async function shell(
  program: string,
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  const output = await new Deno.Command(program, {
    args,
    env: { HOME: Deno.env.get("HOME") ?? "/root", PATH: Deno.env.get("PATH") ?? "", ...env },
    clearEnv: true,
    stdin: "null",
  }).output();
  const decoder = new TextDecoder();
  return {
    code: output.code,
    stdout: decoder.decode(output.stdout),
    stderr: decoder.decode(output.stderr),
  };
}

/** `yank completions NAME`'s script, run in-process (the spawned CLI is tested above). */
async function completionScript(name: string): Promise<string> {
  const io = captureIo();
  assert.equal(await main(["completions", name], io), 0, io.out.stderr);
  return io.out.stdout;
}

function single(text: string): string {
  return `'${text.replace(/'/g, `'\\''`)}'`;
}

/**
 * Runs the bash script's completion function as bash would on `line` (cursor at the end,
 * words split as bash splits them with its default COMP_WORDBREAKS) and returns COMPREPLY.
 */
async function bashComplete(
  script: string,
  words: string[],
  env: Record<string, string> = {},
): Promise<string[]> {
  const line = words.join(" ");
  const program = [
    script,
    `COMP_WORDS=(${words.map(single).join(" ")})`,
    `COMP_CWORD=${words.length - 1}`,
    `COMP_LINE=${single(line)}`,
    `COMP_POINT=${line.length}`,
    "_yank 2>/dev/null",
    `printf '%s\\n' "\${COMPREPLY[@]}"`,
  ].join("\n");
  const run = await shell("bash", ["-c", program], env);
  assert.equal(run.code, 0, run.stderr);
  return run.stdout.split("\n").filter((l) => l !== "");
}

/** Asks fish for the completions of `line` (`complete -C`); returns the candidates. */
async function fishComplete(
  script: string,
  line: string,
  env: Record<string, string> = {},
): Promise<string[]> {
  const run = await shell("fish", [
    "--no-config",
    "-c",
    `${script}\ncomplete -C ${single(line)}`,
  ], env);
  assert.equal(run.code, 0, run.stderr);
  return run.stdout.split("\n").filter((l) => l !== "").map((l) => l.split("\t")[0]!);
}

Deno.test("completions prints a script each shell accepts", async (t) => {
  for (const name of SHELLS) {
    await t.step(`${name} -n accepts the ${name} script`, async () => {
      const run = await runCli(["completions", name]);
      assert.equal(run.code, 0);
      assert.equal(run.stderr, "");
      assert.match(run.stdout, /yank completions/);
      const file = await Deno.makeTempFile({ suffix: `.${name}` });
      try {
        await Deno.writeTextFile(file, run.stdout);
        const check = await shell(name, ["-n", file]);
        assert.equal(check.code, 0, `${name} -n: ${check.stderr}`);
        assert.equal(check.stderr, "");
      } finally {
        await Deno.remove(file);
      }
    });
  }
});

Deno.test("completions for an unknown shell, or none, is a usage error (exit 2)", async () => {
  const tcsh = captureIo();
  assert.equal(await main(["completions", "tcsh"], tcsh), 2);
  assert.equal(tcsh.out.stdout, "");
  assert.equal(
    tcsh.out.stderr,
    'yank: No completions for shell "tcsh" (shells: bash, zsh, fish)\n',
  );
  const none = captureIo();
  assert.equal(await main(["completions"], none), 2);
  assert.match(none.out.stderr, /^yank: .*bash, zsh or fish\n$/);
});

Deno.test("completions --list-names prints one name a line, and fails like list", async (t) => {
  await using lab = await Lab.create();
  const { qemu } = await chardevConnectedToPeer(lab);
  // In-process: the shells below run the real CLI's --list-names for every name they offer.
  async function listNames(args: string[], env: Record<string, string> = {}) {
    const io = captureIo(env);
    const code = await main(["completions", "--list-names", ...args], io);
    return { code, ...io.out };
  }
  await t.step("chardev names", async () => {
    const run = await listNames(["chardev", "--socket", qemu.socket]);
    assert.deepEqual(run, { code: 0, stdout: "compat_monitor0\ncharnet0\n", stderr: "" });
  });
  await t.step("no block nodes: no output, exit 0", async () => {
    const run = await listNames(["block-node"], { YANK_SOCKET: qemu.socket });
    assert.deepEqual(run, { code: 0, stdout: "", stderr: "" });
  });
  await t.step("a missing socket: exit 4, one line naming it", async () => {
    const run = await listNames(["chardev", "--socket", lab.path("missing.qmp")]);
    assert.equal(run.code, 4);
    assert.equal(run.stdout, "");
    assert.match(run.stderr, /^yank: [^\n]*missing\.qmp[^\n]*\n$/);
  });
  await t.step("an unknown type: exit 2", async () => {
    const run = await listNames(["disk", "--socket", qemu.socket]);
    assert.equal(run.code, 2);
    assert.match(run.stderr, /^yank: --list-names takes migration, chardev, block-node/);
  });
});

Deno.test("the bash script completes commands, options and QEMU's instance names", async (t) => {
  await using lab = await Lab.create();
  const { qemu } = await chardevConnectedToPeer(lab);
  const script = await completionScript("bash");
  const env = { PATH: `${await yankOnPath(lab)}:${Deno.env.get("PATH")}` };

  await t.step("yank <TAB> offers every command", async () => {
    assert.deepEqual(await bashComplete(script, ["yank", ""], env), [...COMMANDS]);
  });
  await t.step("yank bl<TAB> offers block-node", async () => {
    assert.deepEqual(await bashComplete(script, ["yank", "bl"], env), ["block-node"]);
  });
  await t.step("yank list --<TAB> offers exactly the options of list", async () => {
    const offered = await bashComplete(script, ["yank", "list", "--"], env);
    assert.deepEqual(offered, COMMAND_OPTIONS.list.map((o) => `--${o}`));
  });
  await t.step("yank --<TAB> offers the selector form's options", async () => {
    const offered = await bashComplete(script, ["yank", "--"], env);
    for (const option of ["--chardev", "--block-node", "--migration", "--dry-run", "--force"]) {
      assert.ok(offered.includes(option), `${option} in ${offered}`);
    }
    assert.ok(!offered.includes("--list-names"), "hidden options stay hidden");
  });
  await t.step("yank chardev <TAB> with --socket on the line offers the chardev ids", async () => {
    const words = ["yank", "--socket", qemu.socket, "chardev", ""];
    assert.deepEqual(await bashComplete(script, words, env), ["compat_monitor0", "charnet0"]);
  });
  await t.step("yank chardev ch<TAB> with YANK_SOCKET offers charnet0", async () => {
    const words = ["yank", "chardev", "ch"];
    assert.deepEqual(await bashComplete(script, words, { ...env, YANK_SOCKET: qemu.socket }), [
      "charnet0",
    ]);
  });
  await t.step("--chardev=<TAB>, split by COMP_WORDBREAKS, offers ids after the =", async () => {
    const words = ["yank", "-s", qemu.socket, "--chardev", "=", "char"];
    assert.deepEqual(await bashComplete(script, words, env), ["charnet0"]);
    const bare = ["yank", "-s", qemu.socket, "--chardev", "="];
    assert.deepEqual(await bashComplete(script, bare, env), ["=compat_monitor0", "=charnet0"]);
  });
  await t.step("yank completions <TAB> offers the shells", async () => {
    assert.deepEqual(await bashComplete(script, ["yank", "completions", ""], env), [...SHELLS]);
  });
  await t.step("a socket that does not answer yields no names, and no error", async () => {
    const words = ["yank", "chardev", "--socket", lab.path("missing.qmp"), ""];
    assert.deepEqual(await bashComplete(script, words, env), []);
  });
});

/**
 * A dir holding the zsh script as `_yank`, on $fpath, and a compinit dump built once from it:
 * compinit scans every completion function on $fpath (seconds), loading a dump does not.
 */
async function zshCompletionDir(lab: QemuLab, script: string): Promise<string> {
  const dir = lab.path("zsh");
  await Deno.mkdir(dir);
  await Deno.writeTextFile(`${dir}/_yank`, script);
  const dump = await shell("zsh", [
    "-f",
    "-c",
    `fpath=(${dir} $fpath); autoload -Uz compinit; compinit -u -d ${dir}/compdump`,
  ]);
  assert.equal(dump.code, 0, dump.stderr);
  return dir;
}

/**
 * Types `line` and TAB into an interactive zsh (in a zpty) whose completion comes from `dir`
 * (see zshCompletionDir), then returns the edited line (zle's $BUFFER, written to a file by a
 * widget bound to ^X).
 */
async function zshComplete(
  dir: string,
  line: string,
  env: Record<string, string>,
): Promise<string> {
  const buffer = `${dir}/buffer-${crypto.randomUUID()}`;
  const setup = [
    `fpath=(${dir} $fpath)`,
    "autoload -Uz compinit",
    `compinit -u -C -d ${dir}/compdump`,
    `yank-dump() { print -r -- "$BUFFER" > ${buffer} }`,
    "zle -N yank-dump",
    "bindkey '^X' yank-dump",
  ].join("; ");
  const driver = [
    "zmodload zsh/zpty",
    "zpty z 'zsh -f -i'",
    `zpty -w z ${single(setup)}`,
    `zpty -w -n z ${single(`${line}\t`)}`,
    "zpty -w -n z $'\\C-x'",
    `for i in {1..200}; do [[ -s ${buffer} ]] && break; zpty -r -t z out; sleep 0.05; done`,
    "zpty -d z",
  ].join("\n");
  const run = await shell("zsh", ["-f", "-c", driver], env);
  assert.equal(run.code, 0, run.stderr);
  return (await Deno.readTextFile(buffer)).replace(/\n$/, "");
}

Deno.test("the zsh script completes commands, options and QEMU's instance names", async (t) => {
  await using lab = await Lab.create();
  const { qemu } = await chardevConnectedToPeer(lab);
  const script = await completionScript("zsh");
  const env = { PATH: `${await yankOnPath(lab)}:${Deno.env.get("PATH")}` };
  const dir = await zshCompletionDir(lab, script);

  await t.step("yank bl<TAB> completes block-node", async () => {
    assert.equal(await zshComplete(dir, "yank bl", env), "yank block-node ");
  });
  await t.step("yank list --js<TAB> completes --json", async () => {
    assert.equal(await zshComplete(dir, "yank list --js", env), "yank list --json ");
  });
  await t.step("yank -s S chardev charnet<TAB> completes charnet0 from QEMU", async () => {
    const line = `yank -s ${qemu.socket} chardev charnet`;
    assert.equal(await zshComplete(dir, line, env), `${line}0 `);
  });
  await t.step("yank --chardev charn<TAB> with YANK_SOCKET completes charnet0", async () => {
    const shown = await zshComplete(dir, "yank --chardev charn", {
      ...env,
      YANK_SOCKET: qemu.socket,
    });
    assert.equal(shown, "yank --chardev charnet0 ");
  });
});

Deno.test("the fish script completes commands, options and QEMU's instance names", async (t) => {
  await using lab = await Lab.create();
  const { qemu } = await chardevConnectedToPeer(lab);
  const script = await completionScript("fish");
  const env = { PATH: `${await yankOnPath(lab)}:${Deno.env.get("PATH")}` };

  await t.step("yank <TAB> offers every command", async () => {
    assert.deepEqual((await fishComplete(script, "yank ", env)).sort(), [...COMMANDS].sort());
  });
  await t.step("yank list --<TAB> offers the options of list", async () => {
    const offered = await fishComplete(script, "yank list --", env);
    assert.deepEqual(offered.sort(), COMMAND_OPTIONS.list.map((o) => `--${o}`).sort());
  });
  await t.step("yank --socket S block-node --<TAB> offers no --chardev", async () => {
    const offered = await fishComplete(script, `yank --socket ${qemu.socket} block-node --`, env);
    assert.ok(offered.includes("--dry-run"), `${offered}`);
    assert.ok(!offered.includes("--chardev"), `${offered}`);
  });
  await t.step("yank chardev <TAB> with --socket on the line offers the chardev ids", async () => {
    const offered = await fishComplete(script, `yank chardev --socket ${qemu.socket} `, env);
    assert.deepEqual(offered.sort(), ["charnet0", "compat_monitor0"]);
  });
  await t.step("yank --chardev <TAB> with YANK_SOCKET offers the chardev ids", async () => {
    const offered = await fishComplete(script, "yank --chardev ", {
      ...env,
      YANK_SOCKET: qemu.socket,
    });
    assert.deepEqual(offered.sort(), ["charnet0", "compat_monitor0"]);
  });
});
