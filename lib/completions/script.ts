/**
 * The completion script for a shell, by name.
 */

import { bashScript } from "./bash.ts";
import { fishScript } from "./fish.ts";
import { type CompletionSpec, type Shell, SHELLS } from "./spec.ts";
import { zshScript } from "./zsh.ts";

/** Whether `name` is a shell yank writes completions for. */
export function isShell(name: string): name is Shell {
  return (SHELLS as readonly string[]).includes(name);
}

/** The completion script for `shell`, completing what `spec` describes. */
export function completionScript(shell: Shell, spec: CompletionSpec): string {
  switch (shell) {
    case "bash":
      return bashScript(spec);
    case "zsh":
      return zshScript(spec);
    case "fish":
      return fishScript(spec);
  }
}
