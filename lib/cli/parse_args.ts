/**
 * The strict subset of node:util's `parseArgs` that yank uses, with the same tokens, values and
 * error messages. Importing any `node:` module costs Deno about 6 ms of start-up (it boots the
 * Node compatibility layer), a third of a bare `deno run`; a one-shot CLI cannot afford that.
 * tests/parse_args_test.ts checks this against node:util on thousands of command lines.
 */

/** How one option is spelled and what it holds. */
export interface OptionConfig {
  type: "string" | "boolean";
  short?: string;
  multiple?: boolean;
}

type OptionValue<C extends OptionConfig> = C["type"] extends "boolean"
  ? (C["multiple"] extends true ? boolean[] : boolean)
  : (C["multiple"] extends true ? string[] : string);

/** One parsed item of the command line, as node:util's `tokens: true` reports it. */
export type ArgToken =
  | {
    kind: "option";
    name: string;
    rawName: string;
    index: number;
    value: string | undefined;
    inlineValue: boolean | undefined;
  }
  | { kind: "positional"; index: number; value: string }
  | { kind: "option-terminator"; index: number };

/** What `parseArgs` takes: always strict, positionals allowed, tokens returned. */
export interface ParseArgsConfig<O extends Record<string, OptionConfig>> {
  args: string[];
  options: O;
  allowPositionals: true;
  strict: true;
  tokens: true;
}

/** The parsed command line. */
export interface ParsedArgs<O extends Record<string, OptionConfig>> {
  values: { [K in keyof O]?: OptionValue<O[K]> };
  positionals: string[];
  tokens: ArgToken[];
}

/** Parses `args` like node:util's `parseArgs` in strict mode; throws TypeError as it does. */
export function parseArgs<const O extends Record<string, OptionConfig>>(
  config: ParseArgsConfig<O>,
): ParsedArgs<O> {
  const options: Record<string, OptionConfig> = config.options;
  const tokens = argsToTokens(config.args, options);
  const values: Record<string, unknown> = Object.create(null);
  const positionals: string[] = [];
  for (const token of tokens) {
    if (token.kind === "positional") {
      positionals.push(token.value);
    } else if (token.kind === "option") {
      checkOptionUsage(options, token);
      storeOption(options, token.name, token.value, values);
    }
  }
  return { values: values as ParsedArgs<O>["values"], positionals, tokens };
}

function optionOf(options: Record<string, OptionConfig>, name: string): OptionConfig | undefined {
  return Object.hasOwn(options, name) ? options[name] : undefined;
}

function longForShort(options: Record<string, OptionConfig>, short: string): string {
  for (const [name, option] of Object.entries(options)) if (option.short === short) return name;
  return short;
}

function isStringOption(options: Record<string, OptionConfig>, name: string): boolean {
  return optionOf(options, name)?.type === "string";
}

function argsToTokens(args: readonly string[], options: Record<string, OptionConfig>): ArgToken[] {
  const tokens: ArgToken[] = [];
  const remaining = [...args];
  let index = -1;
  // Args a short group expanded into share the group's index.
  let groupCount = 0;
  while (remaining.length > 0) {
    const arg = remaining.shift()!;
    const next = remaining[0];
    if (groupCount > 0) groupCount--;
    else index++;

    if (arg === "--") {
      tokens.push({ kind: "option-terminator", index });
      for (const value of remaining) tokens.push({ kind: "positional", index: ++index, value });
      break;
    }
    const short = arg.length >= 2 && arg[0] === "-" && arg[1] !== "-";
    if (short && arg.length === 2) {
      // -s, maybe followed by its value
      const name = longForShort(options, arg[1]!);
      const takesValue = isStringOption(options, name) && next !== undefined;
      const value = takesValue ? remaining.shift() : undefined;
      tokens.push({
        kind: "option",
        name,
        rawName: arg,
        index,
        value,
        inlineValue: takesValue ? false : undefined,
      });
      if (takesValue) index++;
      continue;
    }
    if (short) {
      const name = longForShort(options, arg[1]!);
      if (isStringOption(options, name)) {
        // -sVALUE
        tokens.push({
          kind: "option",
          name,
          rawName: `-${arg[1]}`,
          index,
          value: arg.slice(2),
          inlineValue: true,
        });
        continue;
      }
      // -abc: -a -b -c, where a string option in the middle takes the rest as its value.
      const expanded: string[] = [];
      for (let at = 1; at < arg.length; at++) {
        const char = arg[at]!;
        if (!isStringOption(options, longForShort(options, char)) || at === arg.length - 1) {
          expanded.push(`-${char}`);
        } else {
          expanded.push(`-${arg.slice(at)}`);
          break;
        }
      }
      remaining.unshift(...expanded);
      groupCount = expanded.length;
      continue;
    }
    if (arg.length > 2 && arg.startsWith("--")) {
      const equals = arg.indexOf("=", 3);
      if (equals < 0) {
        // --name, maybe followed by its value
        const name = arg.slice(2);
        const takesValue = isStringOption(options, name) && next !== undefined;
        const value = takesValue ? remaining.shift() : undefined;
        tokens.push({
          kind: "option",
          name,
          rawName: arg,
          index,
          value,
          inlineValue: takesValue ? false : undefined,
        });
        if (takesValue) index++;
      } else {
        // --name=value
        const name = arg.slice(2, equals);
        tokens.push({
          kind: "option",
          name,
          rawName: `--${name}`,
          index,
          value: arg.slice(equals + 1),
          inlineValue: true,
        });
      }
      continue;
    }
    tokens.push({ kind: "positional", index, value: arg });
  }
  return tokens;
}

function checkOptionUsage(
  options: Record<string, OptionConfig>,
  token: Extract<ArgToken, { kind: "option" }>,
): void {
  const option = optionOf(options, token.name);
  if (option === undefined) {
    throw new TypeError(
      `Unknown option '${token.rawName}'. To specify a positional argument starting with a '-', place it at the end of the command after '--', as in '-- ${
        JSON.stringify(token.rawName)
      }`,
    );
  }
  const shortAndLong = `${option.short ? `-${option.short}, ` : ""}--${token.name}`;
  if (option.type === "string" && typeof token.value !== "string") {
    throw new TypeError(`Option '${shortAndLong} <value>' argument missing`);
  }
  if (option.type === "boolean" && token.value !== undefined) {
    throw new TypeError(`Option '${shortAndLong}' does not take an argument`);
  }
  const value = token.value;
  if (!token.inlineValue && value !== undefined && value.length > 1 && value[0] === "-") {
    const example = token.rawName.startsWith("--")
      ? `${token.rawName}=-XYZ`
      : `--${token.name}=-XYZ' or '${token.rawName}-XYZ`;
    throw new TypeError(
      `Option '${token.rawName}' argument is ambiguous.\nDid you forget to specify the option argument for '${token.rawName}'?\nTo specify an option argument starting with a dash use '${example}'.`,
    );
  }
}

function storeOption(
  options: Record<string, OptionConfig>,
  name: string,
  value: string | undefined,
  values: Record<string, unknown>,
): void {
  if (name === "__proto__") return;
  const stored = value ?? true;
  if (optionOf(options, name)?.multiple) {
    const list = values[name] as unknown[] | undefined;
    if (list === undefined) values[name] = [stored];
    else list.push(stored);
  } else {
    values[name] = stored;
  }
}
