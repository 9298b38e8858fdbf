/**
 * An environment in which Deno cannot get any npm package: an empty DENO_DIR and an npm
 * registry that refuses connections. A CLI run that loads cli-table3 fails in it; one that
 * never loads it is unaffected. That is how tests and the bench check that only the paths that
 * print a table pay for the table library.
 */

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
