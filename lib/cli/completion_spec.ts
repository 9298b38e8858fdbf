/**
 * What the completion scripts complete, filled in from the command and option declarations
 * (command_names.ts, options.ts) for the generators in lib/completions/, which know no flag by
 * name.
 */

import { type CompletionSpec, SHELLS, type ValueCompletion } from "../completions/spec.ts";
import { COMMAND_SUMMARIES, type CommandName, COMMANDS } from "./command_names.ts";
import { COMMAND_OPTIONS, option } from "./options.ts";

/** What the operands of each command that takes some are. */
const COMMAND_OPERANDS: Partial<Record<CommandName, ValueCompletion>> = {
  "chardev": { kind: "names", label: "chardev id", type: "chardev" },
  "block-node": { kind: "names", label: "node-name", type: "block-node" },
  "completions": { kind: "words", label: "shell", words: SHELLS },
  "help": { kind: "words", label: "command", words: COMMANDS },
};

/** What the completion scripts complete, for this version of yank. */
export function completionSpec(): CompletionSpec {
  const commandSpec = (name: CommandName) => ({
    name,
    summary: COMMAND_SUMMARIES[name],
    options: COMMAND_OPTIONS[name].filter((o) => !option(o).hidden).map((long) => {
      const { short, summary, repeatable, type, completion } = option(long);
      return {
        long,
        short,
        summary,
        repeatable: repeatable === true,
        value: type === "string" ? (completion ?? { kind: "none", label: "value" }) : undefined,
      };
    }),
    operands: COMMAND_OPERANDS[name],
  });
  return { selectorForm: commandSpec("yank"), commands: COMMANDS.map(commandSpec) };
}
