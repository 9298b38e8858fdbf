/**
 * Makes sure QEMU is installed before the tests or the demo run: when it is missing and we are
 * root on Debian, installs it with apt-get; otherwise says how, and fails. Tests never skip.
 * zsh and fish come along (a few MB): the completion tests run their scripts in them.
 */

const PROGRAMS = ["qemu-system-x86_64", "qemu-img", "qemu-nbd", "zsh", "fish"];
const PACKAGES = ["qemu-system-x86", "qemu-utils", "zsh", "fish"];

function onPath(program: string): boolean {
  return (Deno.env.get("PATH") ?? "").split(":").some((dir) => {
    try {
      return Deno.statSync(`${dir}/${program}`).isFile;
    } catch {
      return false;
    }
  });
}

async function run(program: string, args: string[]): Promise<boolean> {
  const child = new Deno.Command(program, {
    args,
    stdin: "null",
    stdout: "inherit",
    stderr: "inherit",
    env: { DEBIAN_FRONTEND: "noninteractive" },
  }).spawn();
  return (await child.status).success;
}

const missing = PROGRAMS.filter((p) => !onPath(p));
if (missing.length > 0) {
  if (Deno.uid() !== 0 || !onPath("apt-get")) {
    console.error(
      `QEMU is missing (${missing.join(", ")}): install it with "sudo apt-get install -y ${
        PACKAGES.join(" ")
      }", then run this again.`,
    );
    Deno.exit(1);
  }
  console.error(`Installing QEMU from Debian's packages (${PACKAGES.join(", ")})...`);
  const ok = await run("apt-get", ["update", "-qq"]) &&
    await run("apt-get", ["install", "-y", "-qq", "--no-install-recommends", ...PACKAGES]);
  const still = PROGRAMS.filter((p) => !onPath(p));
  if (!ok || still.length > 0) {
    console.error(`Could not install QEMU (${still.join(", ") || "apt-get failed"}).`);
    Deno.exit(1);
  }
}
