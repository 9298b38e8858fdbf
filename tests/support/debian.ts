/**
 * Programs the tests, the demo and the bench need from Debian: found on PATH, or installed with
 * apt-get when missing and we are root; otherwise an error that says how. Tests never skip.
 */

/** Whether `program` is on PATH (or, given as an absolute path, exists). */
export function isInstalled(program: string): boolean {
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

/**
 * Makes sure every program (key) is installed, installing its Debian package (value) when it is
 * missing and we are root. Throws an Error whose message says what to run otherwise.
 */
export async function ensurePrograms(programs: Record<string, string>): Promise<void> {
  const missing = Object.keys(programs).filter((program) => !isInstalled(program));
  if (missing.length === 0) return;
  const packages = [...new Set(missing.map((program) => programs[program]!))];
  if (Deno.uid() !== 0 || !isInstalled("apt-get")) {
    throw new Error(
      `${missing.join(", ")} missing: install with "sudo apt-get install -y ${
        packages.join(" ")
      }", then run this again`,
    );
  }
  console.error(`Installing ${packages.join(", ")} from Debian's packages...`);
  const ok = await apt(["update", "-qq"]) &&
    await apt(["install", "-y", "-qq", "--no-install-recommends", ...packages]);
  const still = missing.filter((program) => !isInstalled(program));
  if (!ok || still.length > 0) {
    throw new Error(`Could not install ${still.join(", ") || packages.join(", ")} with apt-get`);
  }
}
