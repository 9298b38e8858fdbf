/**
 * The bash completion script. It needs no bash-completion package and no jq: commands and
 * options are baked in; instance names come from `yank completions --list-names TYPE`, run with
 * the sockets on the line being completed (or $YANK_SOCKET) and a 1 s timeout.
 */

import {
  type CompletionSpec,
  type OptionSpec,
  type ValueCompletion,
  valueOptions,
} from "./spec.ts";

function flags(option: OptionSpec): string[] {
  return option.short ? [`--${option.long}`, `-${option.short}`] : [`--${option.long}`];
}

/** Shell code that fills COMPREPLY for `$cur`. */
function completeValue(value: ValueCompletion): string {
  switch (value.kind) {
    case "none":
      return "COMPREPLY=()";
    case "file":
      return 'compopt -o filenames 2>/dev/null; mapfile -t COMPREPLY < <(compgen -f -- "$cur")';
    case "names":
      return `_yank_complete_names ${value.type}`;
    case "words":
      return `mapfile -t COMPREPLY < <(compgen -W "${value.words.join(" ")}" -- "$cur")`;
  }
}

/** Renders the bash script. */
export function bashScript(spec: CompletionSpec): string {
  const valued = valueOptions(spec);
  const skipValue = valued.filter((o) => o.long !== "socket").flatMap(flags).join("|");
  const valueArms = valued.map((o) => `    ${flags(o).join("|")}) ${completeValue(o.value!)} ;;`)
    .join("\n");
  const optionArms = [spec.selectorForm, ...spec.commands].map((command) => {
    const key = command.name === "yank" ? '""' : command.name;
    const words = command.options.map((o) => `--${o.long}`).join(" ");
    return `      ${key}) mapfile -t COMPREPLY < <(compgen -W "${words}" -- "$cur") ;;`;
  }).join("\n");
  const commandWords = spec.commands.map((c) => c.name).join(" ");
  const operandArms = spec.commands.filter((c) => c.operands).map((command) =>
    `      ${command.name}) ${completeValue(command.operands!)} ;;`
  ).join("\n");

  return `# bash completion for yank, written by "yank completions bash".
# Install: yank completions bash > ~/.local/share/bash-completion/completions/yank
#      or: source <(yank completions bash)      (in ~/.bashrc)

# Strips one level of quotes and expands a leading ~, as the shell will when it runs the line.
_yank_unquote() {
  local w=$1
  case $w in
    \\'*\\') w=\${w:1:\${#w}-2} ;;
    \\"*\\") w=\${w:1:\${#w}-2} ;;
  esac
  case $w in
    "~"|"~/"*) w=$HOME\${w:1} ;;
  esac
  printf '%s\\n' "$w"
}

# Completes the names of yank instances of type $1 from the QEMU behind the sockets on the
# line (or $YANK_SOCKET), asking yank itself with a 1 s timeout so a hung VM never hangs the shell.
_yank_complete_names() {
  local program names
  program=$(_yank_unquote "\${_yank_words[0]}")
  names=$("$program" completions --list-names "$1" --timeout 1 "\${_yank_sockets[@]}" 2>/dev/null)
  mapfile -t COMPREPLY < <(compgen -W "$names" -- "$cur")
}

_yank() {
  # Rejoin "--option=value", which COMP_WORDBREAKS splits into "--option" "=" "value".
  local -a _yank_words=() _yank_sockets=()
  local i w glue=0
  for ((i = 0; i <= COMP_CWORD; i++)); do
    w=\${COMP_WORDS[i]}
    if ((glue)); then
      _yank_words[-1]+=$w
      glue=0
    elif [[ $w == "=" && \${#_yank_words[@]} -gt 1 && \${_yank_words[-1]} == --* ]]; then
      _yank_words[-1]+=$w
      glue=1
    else
      _yank_words+=("$w")
    fi
  done
  local last=$((\${#_yank_words[@]} - 1))
  local cur=\${_yank_words[last]} option="" prefix="" command=""

  # The command word and the sockets given so far.
  for ((i = 1; i < last; i++)); do
    w=\${_yank_words[i]}
    case $w in
      --socket=*) _yank_sockets+=(--socket "$(_yank_unquote "\${w#--socket=}")") ;;
      -s?*) _yank_sockets+=(--socket "$(_yank_unquote "\${w#-s}")") ;;
      --socket|-s)
        i=$((i + 1))
        ((i < last)) && _yank_sockets+=(--socket "$(_yank_unquote "\${_yank_words[i]}")")
        ;;
      ${skipValue}) i=$((i + 1)) ;;
      -*) ;;
      *) [[ -z $command ]] && command=$w ;;
    esac
  done

  # Completing an option's value, as "--option VALUE" or "--option=VALUE"?
  if [[ $cur == --*=* ]]; then
    option=\${cur%%=*}
    prefix=$option=
    cur=\${cur#*=}
  elif ((last > 1)); then
    option=\${_yank_words[last - 1]}
  fi
  COMPREPLY=()
  case $option in
${valueArms}
    *)
      option=""
      prefix=""
      if [[ $cur == -* ]]; then
        case $command in
${optionArms}
        esac
      elif [[ -z $command ]]; then
        mapfile -t COMPREPLY < <(compgen -W "${commandWords}" -- "$cur")
      else
        case $command in
${operandArms}
        esac
      fi
      ;;
  esac

  # With "--option=VALUE", bash replaces only its own current word ("=", "VALUE", or the whole
  # "--option=VALUE" when "=" is not a word break): cut each reply to match.
  if [[ -n $prefix ]]; then
    local keep=$((\${#prefix} + \${#cur} - \${#COMP_WORDS[COMP_CWORD]}))
    for i in "\${!COMPREPLY[@]}"; do
      w=$prefix\${COMPREPLY[i]}
      COMPREPLY[i]=\${w:keep}
    done
  fi
  return 0
}

complete -F _yank yank
`;
}
