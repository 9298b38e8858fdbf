/**
 * docs/monitoring/yank.icinga2.conf: Icinga 2 itself validates it (`icinga2 daemon -C`), every
 * flag it passes is one `yank check` declares (lib/cli/options.ts), and the command line Icinga
 * builds from the objects it parsed checks two real QEMUs: OK, exit 0.
 */

import assert from "node:assert/strict";
import { OPTIONS } from "../lib/cli/options.ts";
import { runMain } from "./support/cli.ts";
import { QemuLab } from "./support/qemu_lab.ts";

const CONF = new URL("../docs/monitoring/yank.icinga2.conf", import.meta.url).pathname;

/** Whether `icinga2 daemon` takes --dump-objects (2.14 and newer), without which -C writes none. */
async function dumpsObjectsOnlyWhenAsked(): Promise<boolean> {
  const help = await new Deno.Command("icinga2", {
    args: ["daemon", "--help"],
    stdout: "piped",
    stderr: "piped",
  }).output();
  return new TextDecoder().decode(help.stdout).includes("--dump-objects");
}

interface IcingaObject {
  type: string;
  name: string;
  properties: Record<string, unknown>;
}

interface IcingaArgument {
  value?: string;
  repeat_key?: boolean;
  order?: number;
  description?: string;
}

Deno.test("the Icinga 2 CheckCommand validates in Icinga and runs yank check as declared", async (t) => {
  await using lab = await QemuLab.create();
  const vm1 = await lab.startQemu();
  const vm2 = await lab.startQemu();
  const cache = lab.path("icinga-cache");
  await Deno.mkdir(cache);
  const main = lab.path("icinga2.conf");
  // The shipped file, plus a host its apply rule matches and a service on the lab's sockets.
  await Deno.writeTextFile(
    main,
    `include <itl>
include ${JSON.stringify(CONF)}
object Host "kvm1" { check_command = "dummy"; vars.qemu_host = true }
object Service "yank-lab" {
  host_name = "kvm1"
  check_command = "yank"
  vars.yank_socket = [ ${JSON.stringify(vm1.socket)}, ${JSON.stringify(vm2.socket)} ]
}
`,
  );
  let objects: IcingaObject[] = [];

  await t.step("icinga2 daemon -C accepts it", async () => {
    const output = await new Deno.Command("icinga2", {
      args: [
        "daemon",
        "-C",
        "-c",
        main,
        "-DRunAsUser=root",
        "-DRunAsGroup=root",
        `-DCacheDir=${cache}`,
        // Icinga 2.14 (Debian 13) writes the objects file only when asked; 2.13 has no flag.
        ...(await dumpsObjectsOnlyWhenAsked() ? ["--dump-objects"] : []),
      ],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const text = new TextDecoder().decode(output.stdout) + new TextDecoder().decode(output.stderr);
    assert.equal(output.code, 0, text);
    assert.match(text, /Finished validating the configuration/);
    objects = readObjects(await Deno.readFile(`${cache}/icinga2.debug`));
  });

  const command = () => objects.find((o) => o.type === "CheckCommand" && o.name === "yank")!;

  await t.step("the apply rule gives a host with qemu_host its yank service", () => {
    const service = objects.find((o) =>
      o.type === "Service" && o.properties.__name === "kvm1!yank"
    );
    assert.ok(service, "service kvm1!yank");
    assert.equal(service.properties.check_command, "yank");
  });

  await t.step("every flag is one yank check declares", () => {
    assert.deepEqual(command().properties.command, ["/usr/local/bin/yank", "check"]);
    const flags = Object.keys(command().properties.arguments as Record<string, unknown>);
    assert.ok(flags.length > 0);
    for (const flag of flags) {
      const declared = (OPTIONS as Record<string, { commands: readonly string[] }>)[
        flag.replace(/^--/, "")
      ];
      assert.ok(declared?.commands.includes("check"), `yank check takes no ${flag}`);
    }
  });

  await t.step("the command line Icinga builds checks both VMs: OK", async () => {
    const service = objects.find((o) => o.properties.__name === "kvm1!yank-lab")!;
    const argv = commandLine(command(), [service.properties.vars, command().properties.vars]);
    assert.deepEqual(argv.slice(0, 2), ["/usr/local/bin/yank", "check"]);
    assert.deepEqual(argv.slice(2), [
      "--socket",
      vm1.socket,
      "--socket",
      vm2.socket,
      "--timeout",
      "5",
    ]);
    const run = await runMain(argv.slice(1));
    assert.equal(run.code, 0, run.stdout);
    assert.match(run.stdout, /^YANK OK - 2 sockets: 0 CRITICAL, 0 WARNING, 0 UNKNOWN, 2 OK \| /);
  });
});

/** The objects in Icinga's objects file: netstrings (`LENGTH:JSON,`), one per object. */
function readObjects(bytes: Uint8Array): IcingaObject[] {
  const decoder = new TextDecoder();
  const objects: IcingaObject[] = [];
  let at = 0;
  while (at < bytes.length) {
    const colon = bytes.indexOf(0x3a, at);
    const length = Number(decoder.decode(bytes.subarray(at, colon)));
    objects.push(JSON.parse(decoder.decode(bytes.subarray(colon + 1, colon + 1 + length))));
    at = colon + 1 + length + 1;
  }
  return objects;
}

/**
 * The command line as Icinga's plugin check builds it: the command, then each argument by
 * `order` and name, its `$macro$` value resolved from the first vars that have it; an array
 * repeats the key (`repeat_key`), and an argument whose value resolves to nothing is left out.
 */
function commandLine(command: IcingaObject, varsChain: unknown[]): string[] {
  const argv = [...command.properties.command as string[]];
  const args = command.properties.arguments as Record<string, IcingaArgument>;
  const keys = Object.keys(args).sort((a, b) =>
    (args[a]!.order ?? 0) - (args[b]!.order ?? 0) || (a < b ? -1 : a > b ? 1 : 0)
  );
  const resolve = (value: string): unknown => {
    const macro = /^\$([a-z_]+)\$$/.exec(value);
    if (macro === null) return value;
    for (const vars of varsChain) {
      const found = (vars as Record<string, unknown> | null)?.[macro[1]!];
      if (found !== undefined) return found;
    }
    return undefined;
  };
  for (const key of keys) {
    const value = resolve(args[key]!.value ?? "");
    if (value === undefined || value === "") continue;
    for (const item of Array.isArray(value) ? value : [value]) argv.push(key, String(item));
    assert.ok(!Array.isArray(value) || args[key]!.repeat_key, `${key} takes a list`);
  }
  return argv;
}
