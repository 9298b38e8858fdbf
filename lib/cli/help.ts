/**
 * Help: each topic is data (help/yanking.ts, help/watching.ts), rendered here as the text
 * `--help` prints and by man.ts as the manual pages. Usage lines and option blocks are generated
 * from the declarations in options.ts; the prose and examples are written in the topics.
 * tests/cli_help_test.ts runs the `$ ` examples, check's, watch's and reattach's first against a
 * real QEMU, and parses every example with the real parser.
 */

import type { CommandName } from "./options.ts";
import type { Topic } from "./help/model.ts";
import { BLOCK_NODE, CHARDEV, COMPLETIONS, LIST, MIGRATION, OVERVIEW } from "./help/yanking.ts";
import { CHECK, REATTACH, WATCH } from "./help/watching.ts";
import { renderText } from "./help/text.ts";

export { VERSION } from "./help/model.ts";

/** Every topic: the overview ("yank") and one per command; "help" shows the overview. */
export const TOPICS: readonly Topic[] = [
  OVERVIEW,
  LIST,
  CHARDEV,
  BLOCK_NODE,
  MIGRATION,
  CHECK,
  WATCH,
  REATTACH,
  COMPLETIONS,
];

/** The topic of a command ("yank" and "help" for the overview). */
export function helpTopic(command: CommandName): Topic {
  return TOPICS.find((topic) => topic.command === command) ?? OVERVIEW;
}

/** The help text for a command ("yank" for the overview). */
export function helpText(command: CommandName): string {
  return renderText(helpTopic(command));
}
