/**
 * The programs the bench needs besides QEMU: socat (the baseline one-liner) and GNU time
 * (peak RSS). When one is missing and we are root on Debian, installs it with apt-get, like
 * tests/support/ensure_qemu.ts does for QEMU; otherwise says how, and fails.
 */

/** Program → Debian package. */
const TOOLS: Record<string, string> = { "socat": "socat", "/usr/bin/time": "time" };

function installed(program: string): boolean {
  const candidates = program.startsWith("/")
    ? [program]
    : (Deno.env.get("PATH") ?? "").split(":").map((dir) => `${dir}/${program}`);
  return candidates.some((path) => {
    try {
      return Deno.statSync(path).isFile;
    } catch {
      return false;
    }
  });
}

async function apt(args: string[]): Promise<boolean> {
  const child = new Deno.Command("apt-get", {
    args,
    stdin: "null",
    stdout: "inherit",
    stderr: "inherit",
    env: { DEBIAN_FRONTEND: "noninteractive" },
  }).spawn();
  return (await child.status).success;
}

/** Installs socat and GNU time if missing; throws with the remedy when it cannot. */
export async function ensureBenchTools(): Promise<void> {
  const missing = Object.keys(TOOLS).filter((program) => !installed(program));
  if (missing.length === 0) return;
  const packages = missing.map((program) => TOOLS[program]!);
  if (Deno.uid() !== 0 || !installed("apt-get")) {
    throw new Error(
      `${missing.join(" and ")} missing: install with "sudo apt-get install -y ${
        packages.join(" ")
      }", then run the bench again`,
    );
  }
  console.error(`Installing ${packages.join(", ")} from Debian's packages...`);
  const ok = await apt(["update", "-qq"]) &&
    await apt(["install", "-y", "-qq", "--no-install-recommends", ...packages]);
  const still = missing.filter((program) => !installed(program));
  if (!ok || still.length > 0) {
    throw new Error(`Could not install ${still.join(", ") || packages.join(", ")}`);
  }
}
