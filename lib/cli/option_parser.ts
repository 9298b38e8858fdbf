/**
 * Splits a command line into options and operands by the option declarations (options.ts), in
 * the POSIX utility conventions that node:util's parseArgs follows: `--name value`,
 * `--name=value`, `-s value`, `-sVALUE`, grouped flags (`-hV`), and `--` ending the options. It
 * is small enough that the one-shot commands need not load Node's compatibility layer for it.
 */

/** What the parser needs to know of an option. */
export interface OptionSyntax {
  readonly type: "boolean" | "string";
  readonly short?: string;
  readonly repeatable?: boolean;
}

/** The values of the options given: true for a flag, the last value, or every value. */
export type OptionValues<T extends Record<string, OptionSyntax>> = {
  -readonly [K in keyof T]?: T[K]["type"] extends "boolean" ? boolean
    : T[K] extends { readonly repeatable: true } ? string[]
    : string;
};

/** A command line split into options and operands. */
export interface ParsedOptions<T extends Record<string, OptionSyntax>> {
  values: OptionValues<T>;
  /** The operands, in order: words that are not options, and everything after `--`. */
  positionals: string[];
  /** The options given, by their long names. */
  given: Set<keyof T & string>;
}

/** A command line that does not fit the declarations; the message says what is wrong. */
export class OptionSyntaxError extends Error {
  override name = "OptionSyntaxError";
}

/**
 * Parses `args` by the declarations. Strictly (the default), an unknown option, a missing
 * value, a value given to a flag, or a value that looks like an option throws an
 * OptionSyntaxError. Leniently, such options are skipped, so that the operands can still be read.
 */
export function parseOptions<T extends Record<string, OptionSyntax>>(
  args: readonly string[],
  declared: T,
  strict = true,
): ParsedOptions<T> {
  const values: Record<string, boolean | string | string[]> = {};
  const positionals: string[] = [];
  const given = new Set<keyof T & string>();
  const remaining = [...args];
  const declaration = (name: string) => Object.hasOwn(declared, name) ? declared[name] : undefined;

  const store = (name: string, raw: string, value: string | undefined, inline: boolean) => {
    const option = declaration(name);
    const problem = option === undefined
      ? `Unknown option ${JSON.stringify(raw)}`
      : misuse(name, option, value, inline);
    if (problem !== undefined) {
      if (strict) throw new OptionSyntaxError(problem);
      return;
    }
    if (option!.type === "boolean") values[name] = true;
    else if (!option!.repeatable) values[name] = value!;
    else {
      const list = values[name];
      values[name] = Array.isArray(list) ? [...list, value!] : [value!];
    }
    given.add(name as keyof T & string);
  };

  while (remaining.length > 0) {
    const arg = remaining.shift()!;
    if (arg === "--") {
      positionals.push(...remaining);
      break;
    }
    if (arg.length < 2 || !arg.startsWith("-")) {
      positionals.push(arg);
    } else if (arg.startsWith("--")) {
      const equals = arg.indexOf("=", 3);
      const name = equals < 0 ? arg.slice(2) : arg.slice(2, equals);
      const takesValue = declaration(name)?.type === "string";
      const value = equals >= 0
        ? arg.slice(equals + 1)
        : takesValue && remaining.length > 0
        ? remaining.shift()
        : undefined;
      store(name, `--${name}`, value, equals >= 0);
    } else {
      const letter = arg[1]!;
      const name = Object.keys(declared).find((long) => declared[long]!.short === letter) ??
        letter;
      const takesValue = declaration(name)?.type === "string";
      if (arg.length === 2) {
        store(name, arg, takesValue && remaining.length > 0 ? remaining.shift() : undefined, false);
      } else if (takesValue) {
        store(name, `-${letter}`, arg.slice(2), true);
      } else {
        // A group of flags, `-hV`: the rest of the group is read as if it came next, `-V`.
        remaining.unshift(`-${letter}`, `-${arg.slice(2)}`);
      }
    }
  }
  return { values: values as OptionValues<T>, positionals, given };
}

/** What is wrong with the value given to a known option, if anything. */
function misuse(
  name: string,
  option: OptionSyntax,
  value: string | undefined,
  inline: boolean,
): string | undefined {
  const spelled = `--${name}${option.short ? ` (-${option.short})` : ""}`;
  if (option.type === "boolean") {
    return value === undefined ? undefined : `${spelled} takes no value`;
  }
  if (value === undefined) return `${spelled} needs a value`;
  // Most likely the value was forgotten and the next option taken for it.
  if (!inline && value.length > 1 && value.startsWith("-")) {
    return `--${name} needs a value; to give one that starts with "-", write --${name}=VALUE`;
  }
  return undefined;
}
