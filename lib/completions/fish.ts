/**
 * The fish completion script: one `complete` line per command and option. Instance names come
 * from `yank completions --list-names TYPE`, run with the sockets on the line (or $YANK_SOCKET)
 * and a 1 s timeout.
 */

import {
  type CommandSpec,
  type CompletionSpec,
  type OptionSpec,
  type ValueCompletion,
  valueOptions,
} from "./spec.ts";

/** Quotes text for a single-quoted fish word. */
function quote(text: string): string {
  return `'${text.replace(/[\\']/g, (c) => `\\${c}`)}'`;
}

function valueArgs(value: ValueCompletion): string {
  switch (value.kind) {
    case "none":
      return "-x";
    case "file":
      return "-r -F";
    case "names":
      return `-x -a ${quote(`(__yank_names ${value.type})`)}`;
    case "words":
      return `-x -a ${quote(value.words.join(" "))}`;
  }
}

function condition(command: CommandSpec): string {
  return `-n ${quote(`__yank_command_is ${command.name === "yank" ? "''" : command.name}`)}`;
}

function optionLine(command: CommandSpec, option: OptionSpec): string {
  const parts = ["complete -c yank", condition(command)];
  if (option.short) parts.push(`-s ${option.short}`);
  parts.push(`-l ${option.long}`);
  if (option.value) parts.push(valueArgs(option.value));
  parts.push(`-d ${quote(option.summary)}`);
  return parts.join(" ");
}

/** Renders the fish script. */
export function fishScript(spec: CompletionSpec): string {
  const skipValue = valueOptions(spec).filter((o) => o.long !== "socket").flatMap((o) =>
    o.short ? [`--${o.long}`, `-${o.short}`] : [`--${o.long}`]
  ).join(" ");
  const lines: string[] = [];
  for (const command of spec.commands) {
    lines.push(
      `complete -c yank ${condition(spec.selectorForm)} -a ${command.name} -d ${
        quote(command.summary)
      }`,
    );
  }
  for (const command of [spec.selectorForm, ...spec.commands]) {
    for (const option of command.options) lines.push(optionLine(command, option));
    if (command.operands) {
      const operands = command.operands.kind === "names"
        ? quote(`(__yank_names ${command.operands.type})`)
        : quote(command.operands.kind === "words" ? command.operands.words.join(" ") : "");
      lines.push(`complete -c yank ${condition(command)} -a ${operands}`);
    }
  }
  return `# fish completion for yank, written by "yank completions fish".
# Install: yank completions fish > ~/.config/fish/completions/yank.fish
#      or: yank completions fish | source

# The command word on the line ("" for the selector form), skipping options and their values.
function __yank_command
    set -l skip 0
    for token in (commandline -opc)[2..-1]
        if test $skip = 1
            set skip 0
            continue
        end
        switch $token
            case --socket -s ${skipValue}
                set skip 1
            case '-*'
            case '*'
                echo $token
                return
        end
    end
end

function __yank_command_is
    set -l command (__yank_command)
    test "$command" = "$argv[1]"
end

# Expands a leading ~ as the shell will when it runs the line.
function __yank_expand
    string replace -r -- '^~(?=/|$)' $HOME $argv[1]
end

# The names of yank instances of type $argv[1] from the QEMU behind the sockets on the line
# (or $YANK_SOCKET), asked of yank itself with a 1 s timeout so a hung VM never hangs the shell.
function __yank_names
    set -l tokens (commandline -opc)
    set -l sockets
    set -l i 2
    while test $i -le (count $tokens)
        set -l token $tokens[$i]
        switch $token
            case --socket -s
                set i (math $i + 1)
                test $i -le (count $tokens); and set -a sockets --socket (__yank_expand $tokens[$i])
            case '--socket=*'
                set -a sockets --socket (__yank_expand (string replace -- --socket= '' $token))
            case '-s?*'
                set -a sockets --socket (__yank_expand (string sub -s 3 -- $token))
        end
        set i (math $i + 1)
    end
    set -l program (__yank_expand $tokens[1])
    $program completions --list-names $argv[1] --timeout 1 $sockets 2>/dev/null
end

complete -c yank -f
${lines.join("\n")}
`;
}
