/**
 * The world a command runs in: output streams, environment, clock. Tests pass their own.
 */

import { paint } from "../render/colour.ts";
import { osErrorText } from "../qmp/os_error.ts";
import { YankError } from "../errors.ts";

/** What a command may touch outside itself. */
export interface CliIo {
  /** Writes data to stdout. */
  stdout(text: string): void;
  /** Writes diagnostics to stderr. */
  stderr(text: string): void;
  /** Reads an environment variable. */
  env(name: string): string | undefined;
  /** Whether stdout / stderr are terminals (for colour). */
  stdoutIsTerminal: boolean;
  stderrIsTerminal: boolean;
  /** Wall clock in milliseconds. */
  now(): number;
  /** Aborted on SIGINT or SIGTERM; long-running commands end cleanly. */
  signal?: AbortSignal;
}

/**
 * Writes all of `text` before returning. Synchronous on purpose, so not a stream writer: a
 * command's exit code goes to `Deno.exit` as soon as it returns, which would drop writes still
 * queued, and stdout and stderr lines keep their order on a shared terminal.
 */
function writeAll(file: { writeSync(p: Uint8Array): number }, text: string): void {
  const bytes = new TextEncoder().encode(text);
  for (let offset = 0; offset < bytes.length;) offset += file.writeSync(bytes.subarray(offset));
}

/** Standard output cannot be written (a full disk, a closed file): the data is lost. */
export class OutputError extends YankError {
  override name = "OutputError";
  override readonly kind = "failed";
  constructor(detail: string) {
    super(`Cannot write to standard output: ${osErrorText(detail)}`, [
      "check where the output goes",
    ]);
  }
}

/**
 * The real process's streams and environment. Its `signal` aborts on SIGINT or SIGTERM; the
 * listeners are installed only when a command first reads it, so that one-shot commands keep
 * the default behaviour (Ctrl-C ends them at once).
 */
export function denoIo(): CliIo {
  let controller: AbortController | undefined;
  return {
    stdout: (text) => {
      try {
        writeAll(Deno.stdout, text);
      } catch (error) {
        // The reader went away (`yank list | head -1`): nobody is left to read the data.
        if (error instanceof Deno.errors.BrokenPipe) return;
        throw new OutputError(error instanceof Error ? error.message : String(error));
      }
    },
    stderr: (text) => {
      try {
        writeAll(Deno.stderr, text);
      } catch {
        // Nowhere left to say anything; the exit code still tells.
      }
    },
    env: (name) => Deno.env.get(name),
    stdoutIsTerminal: Deno.stdout.isTerminal(),
    stderrIsTerminal: Deno.stderr.isTerminal(),
    now: () => Date.now(),
    get signal(): AbortSignal {
      if (controller === undefined) {
        const ours = new AbortController();
        controller = ours;
        const signals: Deno.Signal[] = ["SIGINT", "SIGTERM"];
        const stop = () => {
          for (const name of signals) Deno.removeSignalListener(name, stop);
          ours.abort();
        };
        for (const name of signals) Deno.addSignalListener(name, stop);
      }
      return controller.signal;
    },
  };
}

/** Whether to colour a stream: only on a terminal, and never with NO_COLOR set. */
export function useColour(io: CliIo, stream: "stdout" | "stderr"): boolean {
  const terminal = stream === "stdout" ? io.stdoutIsTerminal : io.stderrIsTerminal;
  const noColour = io.env("NO_COLOR");
  return terminal && (noColour === undefined || noColour === "");
}

/** Writes a failure as one line on stderr, `yank: MESSAGE`, the prefix red on a colour terminal. */
export function reportFailure(io: CliIo, message: string): void {
  io.stderr(`${paint("yank:", "red", useColour(io, "stderr"))} ${message}\n`);
}

/** Writes a warning as one line on stderr, `yank: warning: MESSAGE`. */
export function reportWarning(io: CliIo, message: string): void {
  io.stderr(`yank: ${paint("warning:", "yellow", useColour(io, "stderr"))} ${message}\n`);
}
