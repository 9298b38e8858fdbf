/**
 * Two ways to show that a path of the CLI loads no npm package and no Node built-in (`node:`),
 * since either boots Deno's Node compatibility layer, which costs the one-shot commands
 * milliseconds and megabytes:
 *
 * - `withoutNpm()`: an environment in which Deno cannot get any npm package (an empty DENO_DIR
 *   and an npm registry that refuses connections), to run the CLI in;
 * - `moduleGraph()`: the modules Deno reads when it starts an entry point, from `deno info`: the
 *   static imports and the literal dynamic ones (which Deno reads ahead too), with the `node:`
 *   and `npm:` modules among them;
 * - `nodeModulesLoaded()`: the Node and npm modules a real run of the CLI loaded, from Deno's
 *   debug log, which names every module it loads (Node's as `ext:deno_node/...`), however it
 *   was imported.
 */

import { compilePermissionFlags } from "./cli.ts";

/** Environment variables for `runCli`, and a cleanup. */
export interface NoNpmEnv extends AsyncDisposable {
  env: Record<string, string>;
}

/** Makes an empty DENO_DIR and points npm at a closed port. */
export async function withoutNpm(): Promise<NoNpmEnv> {
  const dir = await Deno.makeTempDir({ prefix: "yank-deno-dir-" });
  // Port 9 (discard) on 127.0.0.1: nothing listens there, so a fetch fails at once.
  return {
    env: { DENO_DIR: dir, NPM_CONFIG_REGISTRY: "http://127.0.0.1:9/" },
    [Symbol.asyncDispose]: () => Deno.remove(dir, { recursive: true }).catch(() => {}),
  };
}

/** The modules Deno reads at the start of one entry point. */
export interface ModuleGraph {
  /** Every module's specifier: `file:///...`, `node:util`, `npm:...`. */
  modules: string[];
  /** The `node:` and `npm:` modules among them. */
  nodeOrNpm: string[];
}

interface InfoDependency {
  code?: { specifier: string };
  isDynamic?: boolean;
}

interface InfoModule {
  specifier: string;
  dependencies?: InfoDependency[];
}

interface DenoInfo {
  roots: string[];
  modules: InfoModule[];
  redirects: Record<string, string>;
}

/**
 * The modules Deno reads when it starts `entry` (a path or file URL): what `deno info` finds
 * through imports, less type-only ones. A dynamic import whose specifier is not a literal is
 * beyond it, as it is beyond Deno's start-up.
 */
export async function moduleGraph(entry: string | URL): Promise<ModuleGraph> {
  const path = entry instanceof URL ? entry.pathname : entry;
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json", path],
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!output.success) {
    throw new Error(`deno info ${path} failed: ${new TextDecoder().decode(output.stderr)}`);
  }
  const info: DenoInfo = JSON.parse(new TextDecoder().decode(output.stdout));
  const bySpecifier = new Map(info.modules.map((module) => [module.specifier, module]));
  const seen = new Set<string>();
  const pending = [...info.roots];
  while (pending.length > 0) {
    const specifier = pending.pop()!;
    const resolved = info.redirects[specifier] ?? specifier;
    if (seen.has(resolved)) continue;
    seen.add(resolved);
    for (const dependency of bySpecifier.get(resolved)?.dependencies ?? []) {
      if (dependency.code) pending.push(dependency.code.specifier);
    }
  }
  const modules = [...seen].sort();
  return {
    modules,
    nodeOrNpm: modules.filter((specifier) => /^(node|npm):/.test(specifier)),
  };
}

/** A CLI run with the Node and npm modules it loaded. */
export interface LoadedModules {
  code: number;
  stdout: string;
  /** `node:util`, `ext:deno_node/util.ts`, `npm:...`, `.../node_modules/...`: each once. */
  modules: string[];
}

/**
 * Runs `deno run --log-level=debug <the compile task's flags> main.ts ARGS` (or `entry` instead
 * of main.ts) and lists the Node and npm modules the debug log says were loaded.
 */
export async function nodeModulesLoaded(
  args: string[],
  options: { env?: Record<string, string>; entry?: string } = {},
): Promise<LoadedModules> {
  const main = options.entry ?? new URL("../../main.ts", import.meta.url).pathname;
  const env = options.env ?? {};
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--log-level=debug", ...compilePermissionFlags(), main, ...args],
    env,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const log = new TextDecoder().decode(output.stderr);
  const modules = log.matchAll(/(?:node:|npm:|ext:deno_node\/|\/node_modules\/)[^\s",\]]*/g);
  return {
    code: output.code,
    stdout: new TextDecoder().decode(output.stdout),
    modules: [...new Set([...modules].map((match) => match[0]))].sort(),
  };
}
