/**
 * Yank operations over a QMP client: list the instances, pick the ones the user means, and yank
 * them in one all-or-nothing command, naming whatever QEMU could not find.
 */

import type { QmpClient } from "../qmp/client.ts";
import { formatVersion } from "../qmp/greeting.ts";
import { QmpCommandError, QmpDisconnectedError } from "../qmp/errors.ts";
import { type RemedyAction, YankError } from "../errors.ts";
import {
  canonicalInstance,
  describeInstances,
  MalformedYankReplyError,
  parseYankInstances,
  sameInstance,
  type YankInstance,
} from "./instances.ts";
import { isGlob } from "../glob.ts";
import {
  type InstanceMatch,
  matchInstances,
  monitorLikeness,
  type SelectorMatch,
  type YankSelectors,
} from "./match.ts";
import { type DiskAlias, queryDisks } from "./disks.ts";

/** This QEMU has no yank (older than 6.0, or a build without it). */
export class YankUnsupportedError extends YankError {
  override name = "YankUnsupportedError";
  override readonly kind = "unsupported";
  constructor(readonly socket: string, version: string) {
    super(`QEMU ${version} at ${JSON.stringify(socket)} does not support yank`, [
      "it needs QEMU 6.0 or newer; upgrade QEMU",
    ]);
  }
}

const LIST_INSTANCES: RemedyAction = { action: "list-instances" };

/** Some requested instances do not exist (or vanished); the message names them. */
export class InstanceNotFoundError extends YankError {
  override name = "InstanceNotFoundError";
  override readonly kind = "not-found";
  constructor(readonly socket: string, readonly missing: YankInstance[], detail = "") {
    super(
      `No yank instance ${describeInstances(missing)} on ${JSON.stringify(socket)}${detail}`,
      [LIST_INSTANCES],
    );
  }
}

/** Selectors matched nothing; the message names them. */
export class NothingMatchedError extends YankError {
  override name = "NothingMatchedError";
  override readonly kind = "not-found";
  constructor(finding: string) {
    super(finding, [LIST_INSTANCES]);
  }
}

/**
 * The user named, without --force, the chardev of a monitor: the one yank is talking through
 * (`own`), or one that carries a monitor by its name or a `--spare` pattern.
 */
export class MonitorChardevRefusedError extends YankError {
  override name = "MonitorChardevRefusedError";
  override readonly kind = "usage";
  constructor(readonly socket: string, readonly chardev: string, own = true) {
    super(
      `Refusing to yank chardev ${JSON.stringify(chardev)}: ${
        own
          ? `it carries the monitor ${
            JSON.stringify(socket)
          } that yank is talking through, so yanking it cuts this connection`
          : `on ${JSON.stringify(socket)} ${
            monitorLikeness(chardev)
          }, and yanking it cuts that monitor's client`
      }`,
      [{ action: "force" }],
    );
  }
}

/** `query-yank` returned something that is not a list of instances. */
export class MalformedReplyError extends YankError {
  override name = "MalformedReplyError";
  override readonly kind = "connection";
  constructor(readonly socket: string, detail: string) {
    super(`${JSON.stringify(socket)} sent a malformed reply: ${detail}`, ["is this really QEMU?"]);
  }
}

function unsupportedOr(client: QmpClient, error: unknown): unknown {
  if (error instanceof QmpCommandError && error.errorClass === "CommandNotFound") {
    return new YankUnsupportedError(client.socket, formatVersion(client.greeting.version));
  }
  return error;
}

/** Runs `query-yank`, out-of-band when negotiated, and checks the reply. */
export async function queryYank(client: QmpClient): Promise<YankInstance[]> {
  let reply: unknown;
  try {
    reply = await client.execute("query-yank", undefined, { oob: client.oob });
  } catch (error) {
    throw unsupportedOr(client, error);
  }
  try {
    return parseYankInstances(reply);
  } catch (error) {
    if (error instanceof MalformedYankReplyError) {
      throw new MalformedReplyError(client.socket, error.message);
    }
    throw error;
  }
}

/**
 * Sends one `yank` for all instances. When they include the chardev carrying this very
 * connection, QEMU cuts it before replying; that end is the success it looks like.
 */
export async function yankInstances(
  client: QmpClient,
  instances: readonly YankInstance[],
  options: { cutsOwnConnection?: boolean } = {},
): Promise<void> {
  try {
    await client.execute("yank", { instances: instances.map(canonicalInstance) }, {
      oob: client.oob,
    });
  } catch (error) {
    if (options.cutsOwnConnection && error instanceof QmpDisconnectedError) return;
    throw unsupportedOr(client, error);
  }
}

/**
 * Finds the chardev id of the monitor this client is connected to, from `query-chardev`
 * (in-band). Undefined when QEMU does not say (e.g. behind yank's own proxy).
 */
export async function findMonitorChardev(client: QmpClient): Promise<string | undefined> {
  let reply: unknown;
  try {
    reply = await client.execute("query-chardev");
  } catch (error) {
    if (error instanceof QmpCommandError) return undefined;
    throw error;
  }
  if (!Array.isArray(reply)) return undefined;
  const candidates: { label: string; path: string }[] = [];
  for (const chardev of reply) {
    if (typeof chardev?.label !== "string" || typeof chardev?.filename !== "string") continue;
    // A listening unix socket chardev with a client reads "unix:PATH,server=on";
    // without one, "disconnected:unix:PATH,server=on".
    const match = /^unix:(.*),server(=on)?$/.exec(chardev.filename);
    if (match) candidates.push({ label: chardev.label, path: match[1]! });
  }
  const ours = realPath(client.socket);
  const exact = candidates.find((c) => c.path === client.socket || realPath(c.path) === ours);
  if (exact) return exact.label;
  const base = (path: string) => path.slice(path.lastIndexOf("/") + 1);
  const sameName = candidates.filter((c) => base(c.path) === base(client.socket));
  return sameName.length === 1 ? sameName[0]!.label : undefined;
}

function realPath(path: string): string | undefined {
  try {
    return Deno.realPathSync(path);
  } catch {
    return undefined;
  }
}

/** What a yank request did. */
export interface YankOutcome {
  /** What was matched (and, unless a dry run, yanked), in `query-yank` order. */
  yanked: YankInstance[];
  /** Matched instances that vanished before the yank (e.g. a migration that ended). */
  vanished: YankInstance[];
  /** The selector matching, for reports. */
  match: InstanceMatch;
}

/** Options of `yankSelected`. */
export interface YankSelectedOptions {
  /** Allow yanking a monitor's chardev named exactly. */
  force?: boolean;
  /** More chardev globs to spare like monitors (`--spare`). */
  spare?: readonly string[];
  /** libvirt's disk names (target, alias) to add to QEMU's, for disk selectors. */
  diskAliases?: readonly DiskAlias[];
  /** Only plan: query and match, but do not yank. */
  dryRun?: boolean;
  /**
   * Fail when a selector matches nothing here (the default). Across many VMs a selector need
   * only match somewhere; the caller then checks that, and a VM with no match is left alone.
   */
  requireEveryMatch?: boolean;
}

/**
 * Queries the instances, matches the selectors and yanks every match in one command.
 * Throws NothingMatchedError when a selector matches nothing, MonitorChardevRefusedError when
 * the own monitor is named without force, and InstanceNotFoundError when instances vanish.
 * If an instance vanishes between the query and the yank, it queries again and retries once.
 */
export async function yankSelected(
  client: QmpClient,
  selectors: YankSelectors,
  options: YankSelectedOptions = {},
): Promise<YankOutcome> {
  // One round trip for both: query-yank overtakes out-of-band, query-chardev runs in-band.
  const [instances, monitorChardev, disks] = await Promise.all([
    queryYank(client),
    selectors.chardev.length > 0 ? findMonitorChardev(client) : undefined,
    (selectors.disk ?? []).length > 0 ? queryDisks(client, options.diskAliases) : undefined,
  ]);
  const match = matchInstances(instances, selectors, {
    monitorChardev,
    spare: options.spare ?? [],
    disks: disks ?? [],
    force: options.force ?? false,
  });
  const refused = match.refused[0];
  if (refused !== undefined) {
    throw new MonitorChardevRefusedError(client.socket, refused, refused === monitorChardev);
  }
  if (options.requireEveryMatch ?? true) checkEverySelectorMatched(client.socket, match);
  if (options.dryRun || match.instances.length === 0) {
    return { yanked: match.instances, vanished: [], match };
  }

  const { yanked, vanished } = await yankRetryingOnce(client, match.instances, monitorChardev);
  return { yanked, vanished, match };
}

/**
 * Yanks `instances` in one command. QEMU's "Instance not found" does not say which is missing,
 * so on that error it lists the instances again and retries once with those still present.
 * Returns what was yanked and what had vanished; throws InstanceNotFoundError if all vanished.
 * `monitorChardev` is the chardev carrying this connection, whose yank ends it without a reply.
 */
export async function yankRetryingOnce(
  client: QmpClient,
  instances: readonly YankInstance[],
  monitorChardev?: string,
): Promise<{ yanked: YankInstance[]; vanished: YankInstance[] }> {
  const cutsOwnConnection = (list: readonly YankInstance[]) =>
    list.some((i) => i.type === "chardev" && i.id === monitorChardev);
  try {
    await yankInstances(client, instances, { cutsOwnConnection: cutsOwnConnection(instances) });
    return { yanked: [...instances], vanished: [] };
  } catch (error) {
    if (!isDeviceNotFound(error)) throw error;
  }
  const current = await queryYank(client);
  const present = instances.filter((i) => current.some((c) => sameInstance(i, c)));
  const vanished = instances.filter((i) => !present.includes(i));
  if (present.length === 0) {
    throw new InstanceNotFoundError(client.socket, vanished, " any more (it vanished)");
  }
  try {
    await yankInstances(client, present, { cutsOwnConnection: cutsOwnConnection(present) });
  } catch (error) {
    if (isDeviceNotFound(error)) {
      throw new InstanceNotFoundError(client.socket, present, " any more (it vanished)");
    }
    throw error;
  }
  return { yanked: present, vanished };
}

function isDeviceNotFound(error: unknown): boolean {
  return error instanceof QmpCommandError && error.errorClass === "DeviceNotFound";
}

function checkEverySelectorMatched(socket: string, match: InstanceMatch): void {
  const empty = match.selectors.filter((s) => s.matched.length === 0);
  if (empty.length > 0) throw nothingMatched(empty, `on ${JSON.stringify(socket)}`);
}

/** The error for selectors that matched nothing `where` ("on "/run/vm1.qmp""). */
export function nothingMatched(
  empty: readonly SelectorMatch[],
  where: string,
): NothingMatchedError {
  const names = empty.map((s) => {
    if (s.type === "migration") return "migration (none is running)";
    const what = `${s.type} ${JSON.stringify(s.pattern)}`;
    return s.spared.length > 0
      ? `${what} (it matched only monitor chardevs, which a glob never yanks: ${
        s.spared.map((id) => JSON.stringify(id)).join(", ")
      })`
      : what;
  });
  const onlyExact = empty.every((s) => s.type !== "migration" && !isGlob(s.pattern));
  const lead = onlyExact ? "No yank instance" : "Nothing matches";
  return new NothingMatchedError(`${lead} ${names.join(", ")} ${where}`);
}
