/**
 * Which yank instances a user means: selectors of exact names or shell-style globs.
 */

import { instanceName, type YankInstance, type YankInstanceType } from "./instances.ts";

/** What the user asked to yank. */
export interface YankSelectors {
  /** Chardev ids or globs. */
  chardev: string[];
  /** Block node-names or globs. */
  blockNode: string[];
  /** Whether the migration is meant. */
  migration: boolean;
}

/** A selector that is not a well-formed glob. */
export class GlobSyntaxError extends Error {
  override name = "GlobSyntaxError";
}

/** Whether a pattern uses glob syntax (`*`, `?`, `[...]`) rather than naming one instance. */
export function isGlob(pattern: string): boolean {
  return /[*?[]/.test(pattern);
}

/**
 * Compiles a shell-style glob: `*` any run of characters, `?` one character, `[abc]`, `[a-z]`
 * and `[!abc]` a class, `\x` a literal x. Throws GlobSyntaxError for an unclosed class or a
 * trailing backslash.
 */
export function compileGlob(pattern: string): RegExp {
  let source = "";
  for (let i = 0; i < pattern.length; i++) {
    const char = pattern[i]!;
    if (char === "*") {
      source += "[\\s\\S]*";
    } else if (char === "?") {
      source += "[\\s\\S]";
    } else if (char === "\\") {
      if (i + 1 >= pattern.length) {
        throw new GlobSyntaxError(`${JSON.stringify(pattern)} ends with a lone backslash`);
      }
      source += escapeRegExp(pattern[++i]!);
    } else if (char === "[") {
      const end = pattern.indexOf("]", i + 2);
      if (end < 0) {
        throw new GlobSyntaxError(`${JSON.stringify(pattern)} has an unclosed "["`);
      }
      let body = pattern.slice(i + 1, end);
      const negated = body.startsWith("!") || body.startsWith("^");
      if (negated) body = body.slice(1);
      if (body === "") throw new GlobSyntaxError(`${JSON.stringify(pattern)} has an empty "[]"`);
      source += `[${negated ? "^" : ""}${body.replace(/[\\\]^]/g, "\\$&")}]`;
      i = end;
    } else {
      source += escapeRegExp(char);
    }
  }
  try {
    return new RegExp(`^${source}$`, "u");
  } catch {
    throw new GlobSyntaxError(`${JSON.stringify(pattern)} has an invalid character class`);
  }
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
}

/** One selector and what it matched. */
export interface SelectorMatch {
  type: YankInstanceType;
  /** The pattern as given; "" for migration. */
  pattern: string;
  matched: YankInstance[];
  /** The monitor's own chardev, which a glob matched but which was left out. */
  sparedMonitor: boolean;
}

/** The outcome of matching selectors against `query-yank`. */
export interface InstanceMatch {
  /** Every instance to yank, in `query-yank` order, each once. */
  instances: YankInstance[];
  /** One entry per selector, in the order given. */
  selectors: SelectorMatch[];
  /** Selectors naming the monitor's own chardev exactly, refused without `force`. */
  refusedMonitor: boolean;
}

/** Options of `matchInstances`. */
export interface MatchOptions {
  /** The chardev id of the monitor this connection goes through, if known. */
  monitorChardev?: string | undefined;
  /** Allow naming the monitor's own chardev exactly. */
  force?: boolean;
}

/**
 * Matches selectors against the instances `query-yank` listed. A glob never matches the
 * monitor's own chardev (yanking it cuts this very connection); an exact name does, with `force`.
 */
export function matchInstances(
  instances: readonly YankInstance[],
  selectors: YankSelectors,
  options: MatchOptions = {},
): InstanceMatch {
  const chosen = new Set<YankInstance>();
  const results: SelectorMatch[] = [];
  let refusedMonitor = false;
  const select = (type: YankInstanceType, pattern: string) => {
    const glob = isGlob(pattern) ? compileGlob(pattern) : undefined;
    const result: SelectorMatch = { type, pattern, matched: [], sparedMonitor: false };
    for (const instance of instances) {
      if (instance.type !== type) continue;
      const name = instanceName(instance);
      if (glob ? !glob.test(name) : name !== pattern) continue;
      if (type === "chardev" && name === options.monitorChardev) {
        if (glob) {
          result.sparedMonitor = true;
          continue;
        }
        if (!options.force) {
          refusedMonitor = true;
          continue;
        }
      }
      result.matched.push(instance);
      chosen.add(instance);
    }
    results.push(result);
  };
  if (selectors.migration) select("migration", "");
  for (const pattern of selectors.chardev) select("chardev", pattern);
  for (const pattern of selectors.blockNode) select("block-node", pattern);
  return {
    instances: instances.filter((instance) => chosen.has(instance)),
    selectors: results,
    refusedMonitor,
  };
}

/** Whether any selector was given at all. */
export function hasSelectors(selectors: YankSelectors): boolean {
  return selectors.migration || selectors.chardev.length > 0 || selectors.blockNode.length > 0;
}
