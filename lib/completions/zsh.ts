/**
 * The zsh completion script, built on `_arguments`. Instance names come from
 * `yank completions --list-names TYPE`, run with the sockets on the line (or $YANK_SOCKET)
 * and a 1 s timeout.
 */

import {
  type CommandSpec,
  type CompletionSpec,
  type OptionSpec,
  type ValueCompletion,
  valueOptions,
} from "./spec.ts";

/** Quotes text for a single-quoted zsh word. */
function quote(text: string): string {
  return `'${text.replace(/'/g, `'\\''`)}'`;
}

/** Escapes text inside an `_arguments` spec, where `[`, `]` and `:` are special. */
function escapeSpec(text: string): string {
  return text.replace(/[\\[\]:]/g, (c) => `\\${c}`);
}

function action(value: ValueCompletion): string {
  switch (value.kind) {
    case "none":
      return " ";
    case "file":
      return "_files";
    case "names":
      return `_yank_names ${value.type}`;
    case "words":
      return `(${value.words.join(" ")})`;
  }
}

function optionSpecs(option: OptionSpec): string[] {
  const forms = option.short ? [`-${option.short}`, `--${option.long}`] : [`--${option.long}`];
  const exclusive = option.repeatable ? "*" : forms.length > 1 ? `(${forms.join(" ")})` : "";
  const summary = `[${escapeSpec(option.summary)}]`;
  const value = option.value ? `:${escapeSpec(option.value.label)}:${action(option.value)}` : "";
  return forms.map((form) => {
    const glue = !option.value ? "" : form.startsWith("--") ? "=" : "+";
    return quote(`${exclusive}${form}${glue}${summary}${value}`);
  });
}

function argumentsCall(command: CommandSpec, extra: string[], flags = "-s -S"): string {
  const specs = [...command.options.flatMap(optionSpecs), ...extra];
  return `_arguments ${flags} : \\\n        ${specs.join(" \\\n        ")}`;
}

function operandSpec(command: CommandSpec): string[] {
  const operands = command.operands;
  if (!operands) return [];
  const many = operands.kind === "names" ? "*" : "1";
  return [quote(`${many}:${escapeSpec(operands.label)}:${action(operands)}`)];
}

/** Renders the zsh script. */
export function zshScript(spec: CompletionSpec): string {
  const commandList = spec.commands.map((c) => `    ${quote(`${c.name}:${c.summary}`)}`).join(
    "\n",
  );
  const skipValue = valueOptions(spec).flatMap((o) =>
    o.short ? [`--${o.long}`, `-${o.short}`] : [`--${o.long}`]
  ).join("|");
  const arms = spec.commands.map((command) =>
    `    ${command.name})\n      ${argumentsCall(command, operandSpec(command))} && ret=0\n      ;;`
  ).join("\n");
  return `#compdef yank
# zsh completion for yank, written by "yank completions zsh".
# Install: yank completions zsh > "\${fpath[1]}/_yank"     (then start a new shell)
#      or: source <(yank completions zsh)                 (in ~/.zshrc, after compinit)

# Completes the names of yank instances of the type given last (_arguments puts compadd
# options first) from the QEMU behind the sockets on the line (or $YANK_SOCKET), asking yank
# itself with a 1 s timeout so a hung VM never hangs the shell.
_yank_names() {
  local type=\${@[-1]}
  local -a sockets names
  local i w program=\${(Q)_yank_words[1]}
  for ((i = 2; i < _yank_current; i++)); do
    w=\${(Q)_yank_words[i]}
    case $w in
      --socket=*) sockets+=(--socket "\${\${w#--socket=}/#\\~/$HOME}") ;;
      -s?*) sockets+=(--socket "\${\${w#-s}/#\\~/$HOME}") ;;
      --socket|-s)
        ((i++))
        ((i < _yank_current)) && sockets+=(--socket "\${\${(Q)_yank_words[i]}/#\\~/$HOME}")
        ;;
    esac
  done
  names=(\${(f)"$(\${program/#\\~/$HOME} completions --list-names $type --timeout 1 "\${sockets[@]}" 2>/dev/null)"})
  compadd "\${@[1,-2]}" -a names
}

_yank() {
  local -a _yank_words=("\${words[@]}")
  local _yank_current=$CURRENT
  local curcontext=$curcontext state state_descr line ret=1 i at=0
  typeset -A opt_args
  local -a commands=(
${commandList}
  )
  # The command word, if one comes before the cursor: options may precede it.
  for ((i = 2; i < CURRENT; i++)); do
    case \$words[i] in
      ${skipValue}) ((i++)) ;;
      -*) ;;
      *) at=$i; break ;;
    esac
  done
  if ((at == 0)); then
    ${argumentsCall(spec.selectorForm, ["'1: :->command'"], "-C -s -S")} && ret=0
    if [[ $state == command ]]; then
      _describe -t commands 'yank command' commands && ret=0
    fi
    return ret
  fi
  # Complete as if the line started at the command word.
  words=("\${(@)words[at,-1]}")
  ((CURRENT -= at - 1))
  curcontext=\${curcontext%:*:*}:yank-\$words[1]:
  case \$words[1] in
${arms}
  esac
  return ret
}

if [[ \${zsh_eval_context[-1]} == loadautofunc ]]; then
  _yank "$@"
else
  compdef _yank yank
fi
`;
}
