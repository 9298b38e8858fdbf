/**
 * A CliIo that captures what a command writes, so in-process CLI tests can assert stdout,
 * stderr and the exit code together.
 */

import type { CliIo } from "../../lib/cli/io.ts";

/** A CliIo whose output is kept in strings. */
export interface CapturedIo extends CliIo {
  readonly out: { stdout: string; stderr: string };
}

/**
 * Creates a captured CliIo; `env` stands in for the environment (nothing is inherited), and
 * `signal`, when given, ends a long-running command (watch).
 */
export function captureIo(env: Record<string, string> = {}, signal?: AbortSignal): CapturedIo {
  const out = { stdout: "", stderr: "" };
  return {
    out,
    stdout: (text) => void (out.stdout += text),
    stderr: (text) => void (out.stderr += text),
    env: (name) => env[name],
    stdoutIsTerminal: false,
    stderrIsTerminal: false,
    now: () => Date.now(),
    ...(signal === undefined ? {} : { signal }),
  };
}
