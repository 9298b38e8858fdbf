/**
 * Runs the real CLI the way users get it: `main.ts` under exactly the permission flags that
 * `deno task compile` bakes into the binary (read from deno.json, the one place they live).
 */

const ROOT = new URL("../../", import.meta.url);

/** The `--allow-*` / `--deny-*` flags of the `compile` task in deno.json. */
export function compilePermissionFlags(): string[] {
  const config = JSON.parse(Deno.readTextFileSync(new URL("deno.json", ROOT)));
  const task: string = config.tasks.compile;
  return task.split(/\s+/).filter((word) => /^--(allow|deny)-/.test(word));
}

/** What a CLI run produced. */
export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
  /** Wall time in milliseconds. */
  elapsedMs: number;
}

/** Options of `runCli`. */
export interface RunCliOptions {
  /** Extra environment variables (the rest is inherited, less YANK_SOCKET and NO_COLOR). */
  env?: Record<string, string>;
  /** Kill the CLI after this many milliseconds (a safety net; tests assert on elapsedMs). */
  killAfterMs?: number;
  /** Called once the child runs, e.g. to watch its memory. */
  onSpawn?: (child: Deno.ChildProcess) => void;
}

/** Spawns `deno run <compile flags> main.ts ARGS` and collects its output. */
export async function runCli(args: string[], options: RunCliOptions = {}): Promise<CliRun> {
  const env = { ...Deno.env.toObject(), ...options.env };
  if (!options.env?.YANK_SOCKET) delete env.YANK_SOCKET;
  if (!options.env?.NO_COLOR) delete env.NO_COLOR;
  const command = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--quiet",
      ...compilePermissionFlags(),
      new URL("main.ts", ROOT).pathname,
      ...args,
    ],
    env,
    clearEnv: true,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  });
  const started = performance.now();
  const child = command.spawn();
  options.onSpawn?.(child);
  const timer = setTimeout(() => child.kill("SIGKILL"), options.killAfterMs ?? 60_000);
  try {
    const output = await child.output();
    const decoder = new TextDecoder();
    return {
      code: output.code,
      stdout: decoder.decode(output.stdout),
      stderr: decoder.decode(output.stderr),
      elapsedMs: performance.now() - started,
    };
  } finally {
    clearTimeout(timer);
  }
}
