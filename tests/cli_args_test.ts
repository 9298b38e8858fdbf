import assert from "node:assert/strict";
import { type CliArgs, parseCliArgs } from "../lib/cli/args.ts";
import { ExitCode, exitCodeFor, UsageError } from "../lib/cli/exit_codes.ts";

function parse(args: string[], env: Record<string, string> = {}): CliArgs {
  return parseCliArgs(args, (name) => env[name]);
}

/** Asserts a usage error (exit 2) whose message matches `message`. */
function assertUsage(args: string[], message: RegExp, env: Record<string, string> = {}): void {
  assert.throws(
    () => parse(args, env),
    (error: unknown) => {
      assert.ok(error instanceof UsageError, `${JSON.stringify(args)} threw ${error}`);
      assert.equal(exitCodeFor(error), ExitCode.usage);
      assert.match(error.message, message);
      assert.doesNotMatch(error.message, /\n/);
      return true;
    },
    JSON.stringify(args),
  );
}

const S = ["--socket", "/run/vm1.qmp"];

Deno.test("parseCliArgs accepts the documented forms", async (t) => {
  await t.step("yank chardev A B is the selector form --chardev A --chardev B", () => {
    const args = parse(["chardev", "a", "b*", ...S]);
    assert.equal(args.command, "chardev");
    assert.deepEqual(args.selectors, {
      chardev: ["a", "b*"],
      blockNode: [],
      migration: false,
      disk: [],
    });
    assert.deepEqual(args.sockets, ["/run/vm1.qmp"]);
  });
  await t.step("yank migration selects the migration", () => {
    assert.equal(parse(["migration", ...S]).selectors.migration, true);
  });
  await t.step("the selector form takes several kinds at once", () => {
    const args = parse(["--chardev", "c", "--block-node", "n", "--migration", "--dry-run", ...S]);
    assert.deepEqual(args.selectors, {
      chardev: ["c"],
      blockNode: ["n"],
      migration: true,
      disk: [],
    });
    assert.equal(args.dryRun, true);
  });
  await t.step("--timeout takes fractional seconds", () => {
    assert.equal(parse(["list", "-t", "0.5", ...S]).timeoutMs, 500);
    assert.equal(parse(["list", ...S]).timeoutMs, 5000);
  });
  await t.step('YANK_SOCKET supplies sockets when --socket is absent, split at ":"', () => {
    assert.deepEqual(parse(["list"], { YANK_SOCKET: "/a.qmp:/b/*.qmp" }).sockets, [
      "/a.qmp",
      "/b/*.qmp",
    ]);
    assert.deepEqual(parse(["list", ...S], { YANK_SOCKET: "/a.qmp" }).sockets, ["/run/vm1.qmp"]);
    assert.deepEqual(parse(["list", "-s", "x", "-s", "y"]).sockets, ["x", "y"]);
  });
  await t.step("help COMMAND and COMMAND --help show that command's help", () => {
    assert.deepEqual([parse(["help", "list"]).command, parse(["help", "list"]).help], [
      "list",
      true,
    ]);
    assert.equal(parse(["chardev", "--help"]).command, "chardev");
    assert.equal(parse(["help"]).command, "yank");
    assert.equal(parse(["--version"]).version, true);
  });
});

Deno.test("parseCliArgs explains every usage error (exit 2)", async (t) => {
  await t.step("an unknown command lists the commands", () => {
    assertUsage(["frobnicate", ...S], /Unknown command "frobnicate" \(commands: list, chardev/);
  });
  await t.step("an unknown flag is named", () => {
    assertUsage(["list", "--bogus", ...S], /Unknown option "--bogus"/);
    assertUsage(["list", "-x", ...S], /Unknown option "-x"/);
  });
  await t.step("a flag the command does not take is named with the command", () => {
    assertUsage(["list", "--chardev", "x", ...S], /"yank list" does not take --chardev/);
    assertUsage(["list", "--force", ...S], /"yank list" does not take --force/);
    assertUsage(["migration", "--migration", ...S], /does not take --migration/);
  });
  await t.step("positional and selector forms do not mix", () => {
    assertUsage(["chardev", "x", "--block-node", "y", ...S], /"yank chardev" does not take/);
    assertUsage(["block-node", "x", "--chardev", "y", ...S], /does not take --chardev/);
  });
  await t.step("stray arguments are named", () => {
    assertUsage(["list", "extra", ...S], /"yank list" takes no argument "extra"/);
    assertUsage(["migration", "m0", ...S], /"yank migration" takes no names, got "m0"/);
  });
  await t.step("--force, which only spares a monitor's chardev, is for chardevs only", () => {
    assertUsage(["block-node", "nbd0", "--force", ...S], /"yank block-node" does not take --force/);
    assertUsage(["migration", "--force", ...S], /"yank migration" does not take --force/);
  });
  await t.step("empty names are refused", () => {
    assertUsage(["chardev", "", ...S], /^The argument of "yank chardev" needs a name or a glob/);
    assertUsage(["--block-node", " ", ...S], /--block-node needs a name or a glob/);
    assertUsage(["chardev", ...S], /"yank chardev" needs at least one ID/);
    assertUsage(["block-node", ...S], /needs at least one NODE-NAME/);
  });
  await t.step("malformed globs are refused with the reason", () => {
    // The argument is blamed, not a --chardev flag the user never typed.
    assertUsage(
      ["chardev", "[abc", ...S],
      /^The argument of "yank chardev": "\[abc" has an unclosed/,
    );
    assertUsage(["block-node", "[", ...S], /^The argument of "yank block-node": "\[" has an/);
    assertUsage(["--chardev", "[abc", ...S], /^--chardev: "\[abc" has an unclosed "\["/);
    assertUsage(["chardev", "abc\\", ...S], /ends with a lone backslash/);
    assertUsage(["--block-node", "[z-a]", ...S], /--block-node: .*invalid character class/);
  });
  await t.step("--timeout must be a positive number of seconds", () => {
    for (const bad of ["0", "abc", "5s", "", "1e3", "86401", "-1"]) {
      assertUsage(["list", `--timeout=${bad}`, ...S], /--timeout takes seconds/);
    }
    assertUsage(["list", "--timeout", "-1", ...S], /--timeout/);
    assertUsage(["list", ...S, "--timeout"], /--timeout/);
  });
  await t.step("an option without its value says so in yank's words, not node's", () => {
    assertUsage(["list", "-s"], /^--socket \(-s\) needs a value \(see "yank --help"\)$/);
    assertUsage(["list", ...S, "--timeout"], /^--timeout \(-t\) needs a value/);
    assertUsage(["check", ...S, "--format"], /^--format needs a value/);
  });
  await t.step("a missing socket says how to give one", () => {
    assertUsage(["list"], /No socket given: use --socket PATH or set YANK_SOCKET/);
    assertUsage(["list"], /No socket given/, { YANK_SOCKET: "" });
    assertUsage(["list"], /No socket given/, { YANK_SOCKET: ":::" });
    assertUsage(["list", "--socket", ""], /--socket needs a path/);
  });
  await t.step("yank alone asks what to yank", () => {
    assertUsage([...S], /Say what to yank: "yank list" shows the instances/);
    assertUsage([], /Say what to yank/);
  });
  await t.step("help takes at most one known command", () => {
    assertUsage(["help", "nope"], /No help for unknown command "nope"/);
    assertUsage(["help", "list", "chardev"], /takes at most one command name/);
  });
});
