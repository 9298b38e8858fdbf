/**
 * Runs the real CLI the way users get it: `main.ts` under exactly the permission flags that
 * `deno task compile` bakes into the binary (read from deno.json, the one place they live).
 */

import { main } from "../../lib/cli/main.ts";
import { captureIo } from "./capture_io.ts";

const ROOT = new URL("../../", import.meta.url);

/**
 * How long past --timeout a run may take to end before a test says it waited too long. Generous
 * on purpose: a loaded 2-core machine can delay a timer by that much, while a run that ignored
 * --timeout overshoots it by far more.
 */
export const TIMEOUT_ALLOWANCE_MS = 2000;
/** What a spawned CLI spends on Deno's start-up, which --timeout does not cover, on a slow host. */
export const STARTUP_ALLOWANCE_MS = 8000;

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
  /** A command that execs the CLI in a sandbox it sets up (see ShellLimits.wrapper). */
  wrapper?: string[];
  /** Called once the child runs, e.g. to watch its memory. */
  onSpawn?: (child: Deno.ChildProcess) => void;
}

/**
 * `deno run <compile flags> main.ts ARGS` with piped output, in this process's environment less
 * YANK_SOCKET and NO_COLOR (a test sets those explicitly), plus `env`.
 */
function cliCommand(
  args: string[],
  env: Record<string, string> = {},
  shell: ShellLimits = {},
): Deno.Command {
  const inherited = Deno.env.toObject();
  delete inherited.YANK_SOCKET;
  delete inherited.NO_COLOR;
  const deno = [
    Deno.execPath(),
    "run",
    "--quiet",
    ...compilePermissionFlags(),
    new URL("main.ts", ROOT).pathname,
    ...args,
  ];
  const limits = [
    ...(shell.openFiles === undefined ? [] : [`ulimit -n ${shell.openFiles}`]),
    ...(shell.umask === undefined ? [] : [`umask ${shell.umask}`]),
  ];
  const [program, ...programArgs] = [
    ...(shell.wrapper ?? []),
    ...(limits.length === 0
      ? deno
      : ["bash", "-c", `${limits.join("; ")}; exec "$0" "$@"`, ...deno]),
  ];
  return new Deno.Command(program!, {
    args: programArgs,
    env: { ...inherited, ...env },
    clearEnv: true,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  });
}

/** Spawns `deno run <compile flags> main.ts ARGS` and collects its output. */
export async function runCli(args: string[], options: RunCliOptions = {}): Promise<CliRun> {
  const started = performance.now();
  const child = cliCommand(args, options.env, { wrapper: options.wrapper ?? [] }).spawn();
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

/**
 * Runs `main(args)` in this process with a captured io: the same result as `runCli`, without a
 * process start-up (about 0.3 s each). `env` is the whole environment the command sees.
 * Use `runCli` where only a process shows the behaviour: permissions, exit status, what loads.
 */
export async function runMain(args: string[], env: Record<string, string> = {}): Promise<CliRun> {
  const io = captureIo(env);
  const started = performance.now();
  const code = await main(args, io);
  return { code, ...io.out, elapsedMs: performance.now() - started };
}

/** A CLI process left running (`yank watch`), with its stderr readable line by line. */
export interface SpawnedCli {
  child: Deno.ChildProcess;
  /** Every stderr line so far. */
  lines: string[];
  /** Waits for a stderr line (seen before or after the call) that matches; throws on timeout. */
  waitForLine(pattern: RegExp, timeoutMs?: number): Promise<string>;
  /** Waits for the process to end by itself; resolves with its exit status and whole output. */
  wait(): Promise<{ code: number; stdout: string; stderr: string }>;
  /** Sends a signal and waits for the exit status and the whole output. */
  stop(signal?: Deno.Signal): Promise<{ code: number; stdout: string; stderr: string }>;
  /** `await using`: kills the process (SIGKILL) if it still runs, and waits for it. */
  [Symbol.asyncDispose](): Promise<void>;
}

/** Limits a spawned CLI runs under, set by bash before it execs deno. */
export interface ShellLimits {
  /** `ulimit -n`: the most file descriptors the process may hold. */
  openFiles?: number;
  /** `umask`, in octal, e.g. "000". */
  umask?: string;
  /** A command that execs the rest of its arguments (the CLI) in a sandbox it sets up. */
  wrapper?: string[];
}

/** Spawns `deno run <compile flags> main.ts ARGS` and keeps it running; `env` as in runCli. */
export function spawnCli(
  args: string[],
  limits: ShellLimits = {},
  env: Record<string, string> = {},
): SpawnedCli {
  const child = cliCommand(args, env, limits).spawn();
  const lines: string[] = [];
  const waiters = new Set<() => void>();
  const stdout = new Response(child.stdout).text();
  const stderrDone = (async () => {
    let pending = "";
    for await (const chunk of child.stderr.pipeThrough(new TextDecoderStream())) {
      pending += chunk;
      const parts = pending.split("\n");
      pending = parts.pop()!;
      lines.push(...parts);
      for (const wake of waiters) wake();
    }
    if (pending !== "") lines.push(pending);
    for (const wake of waiters) wake();
  })();
  // A test that fails before stop() must not leave the process behind.
  const safety = setTimeout(() => {
    try {
      child.kill("SIGKILL");
    } catch {
      // Already gone.
    }
  }, 120_000);
  let ended = false;
  child.status.then(() => {
    ended = true;
    clearTimeout(safety);
  });
  return {
    child,
    lines,
    async waitForLine(pattern, timeoutMs = 10_000) {
      const until = Date.now() + timeoutMs;
      let from = 0;
      for (;;) {
        const found = lines.slice(from).find((line) => pattern.test(line));
        if (found !== undefined) return found;
        from = lines.length;
        const left = until - Date.now();
        if (left <= 0 || ended) {
          // Once the process ended, its last lines may still be on the way; a process that is
          // still running is not waited for (its stop() or safety kill ends it).
          if (ended) await stderrDone;
          const late = lines.find((line) => pattern.test(line));
          if (late !== undefined) return late;
          throw new Error(
            `no stderr line matching ${pattern} within ${timeoutMs} ms:\n${lines.join("\n")}`,
          );
        }
        await new Promise<void>((resolve) => {
          const timer = setTimeout(done, left);
          function done() {
            clearTimeout(timer);
            waiters.delete(done);
            resolve();
          }
          waiters.add(done);
        });
      }
    },
    async wait() {
      const status = await child.status;
      await stderrDone;
      return { code: status.code, stdout: await stdout, stderr: lines.join("\n") };
    },
    stop(signal: Deno.Signal = "SIGTERM") {
      if (!ended) {
        try {
          child.kill(signal);
        } catch {
          // Already gone.
        }
      }
      return this.wait();
    },
    async [Symbol.asyncDispose]() {
      await this.stop("SIGKILL");
    },
  };
}
