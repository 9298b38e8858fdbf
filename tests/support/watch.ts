/**
 * `yank watch` under test: its command line from named options, a start that waits for the line
 * saying it is up (and kills the process when that line never comes), and a stop that checks a
 * clean exit.
 */

import assert from "node:assert/strict";
import { type ShellLimits, spawnCli, type SpawnedCli } from "./cli.ts";

/** The options of `yank watch`, by name; an option left undefined is not passed. */
export interface WatchOptions {
  /** `--socket`, once per entry, in this order. */
  socket?: string | string[];
  domain?: string;
  disk?: string;
  blockNode?: string;
  migration?: boolean;
  reattach?: boolean;
  dryRun?: boolean;
  /** `--interval` in seconds: 0.2 unless given; null passes none (watch's own default). */
  interval?: number | null;
  hangAfter?: number;
  stallAfter?: number;
  timeout?: number;
  listen?: string;
  listenDir?: string;
  textfile?: string;
}

/** How `startWatch` runs the process and what it waits for. */
export interface StartWatchOptions {
  /** The stderr line that says the watch is up: `/state=connected/` unless given; null waits for none. */
  until?: RegExp | null;
  /** How long to wait for `until`, in milliseconds (waitForLine's default unless given). */
  untilMs?: number;
  limits?: ShellLimits;
  env?: Record<string, string>;
  /** Spawns the CLI (NetLab's `spawnCli` runs it in the VM's namespace); `spawnCli` unless given. */
  spawn?: (args: string[]) => SpawnedCli;
  /** Called once the process runs, before the wait for `until`. */
  onSpawn?: (watch: SpawnedCli) => void;
}

/** `watch` and its options as a command line. */
export function watchArgs(options: WatchOptions): string[] {
  const args = ["watch"];
  const value = (flag: string, given: string | number | undefined | null) => {
    if (given !== undefined && given !== null) args.push(flag, String(given));
  };
  for (const socket of [options.socket ?? []].flat()) value("--socket", socket);
  value("--domain", options.domain);
  value("--disk", options.disk);
  value("--block-node", options.blockNode);
  if (options.migration) args.push("--migration");
  if (options.reattach) args.push("--reattach");
  if (options.dryRun) args.push("--dry-run");
  value("--interval", options.interval === undefined ? 0.2 : options.interval);
  value("--hang-after", options.hangAfter);
  value("--stall-after", options.stallAfter);
  value("--timeout", options.timeout);
  value("--listen", options.listen);
  value("--listen-dir", options.listenDir);
  value("--textfile", options.textfile);
  return args;
}

/**
 * Spawns `yank watch` with `options`, or with a whole command line as given (a help example's),
 * and waits for its `until` line. When that line never comes, the process is killed before the
 * error goes on, so that no failed start leaves a watch behind.
 */
export async function startWatch(
  options: WatchOptions | string[],
  start: StartWatchOptions = {},
): Promise<SpawnedCli> {
  const args = Array.isArray(options) ? options : watchArgs(options);
  const watch = start.spawn?.(args) ?? spawnCli(args, start.limits, start.env);
  const until = start.until === undefined ? /state=connected/ : start.until;
  try {
    start.onSpawn?.(watch);
    if (until !== null) await watch.waitForLine(until, start.untilMs);
  } catch (error) {
    await watch.stop("SIGKILL");
    throw error;
  }
  return watch;
}

/** One log line of `yank watch` on stderr. */
export const WATCH_LOG_LINE =
  /^time=\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z socket=\S+ state=[a-z-]+ instances=(\d+|-) msg=/;

/**
 * Stops a watch with SIGTERM and checks the clean end: exit 0, nothing on stdout, only log lines
 * on stderr, the last one `state=stopped`.
 */
export async function stopWatch(watch: SpawnedCli) {
  const result = await watch.stop("SIGTERM");
  assert.equal(result.code, 0, result.stderr);
  assert.equal(result.stdout, "");
  for (const line of result.stderr.split("\n")) assert.match(line, WATCH_LOG_LINE);
  assert.match(result.stderr.split("\n").at(-1)!, /state=stopped/);
  return result;
}
