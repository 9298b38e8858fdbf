/**
 * `--domain`: turns libvirt domain names and globs into the sockets of their yank monitors
 * before a command runs, reporting each domain that cannot be used as one line on stderr.
 */

import type { CliArgs } from "./args.ts";
import { type CliIo, reportFailure } from "./io.ts";
import { ExitCode, exitCodeFor, messageFor } from "./exit_codes.ts";
import { findDomains } from "../libvirt/domains.ts";

/**
 * Adds the yank monitor of every domain `args.domains` names to `args.sockets` (and the domain
 * to `args.domainOf`). Each domain that cannot be used goes to `onFailure` when given (`check`
 * reports it as UNKNOWN on stdout), otherwise as a line on stderr. Returns the highest exit
 * code of those domains.
 */
export async function resolveDomains(
  args: CliArgs,
  io: CliIo,
  onFailure?: (failure: Error) => void,
): Promise<number> {
  if (args.domains.length === 0) return ExitCode.ok;
  const { found, failures } = await findDomains(args.domains);
  let code: number = ExitCode.ok;
  for (const failure of failures) {
    if (onFailure) onFailure(failure);
    else reportFailure(io, messageFor(failure));
    code = Math.max(code, exitCodeFor(failure, args.command));
  }
  for (const { domain, socket } of found) {
    if (!args.sockets.includes(socket)) args.sockets.push(socket);
    args.domainOf.set(socket, domain);
  }
  return code;
}
