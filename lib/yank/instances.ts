/**
 * Yank instances as QEMU reports them in `query-yank` and accepts them in `yank`.
 */

import { isJsonObject } from "../qmp/json_object.ts";

/** The instance types QEMU 6.0 to 7.2 know. */
export type YankInstanceType = "chardev" | "block-node" | "migration";

/** A yank instance, kept exactly as QEMU sent it so that JSON output can echo it. */
export type YankInstance =
  | { type: "chardev"; id: string }
  | { type: "block-node"; "node-name": string }
  | { type: "migration" };

/** The yank instance types, in order of least harm to yank. */
export const YANK_INSTANCE_TYPES: readonly YankInstanceType[] = [
  "migration",
  "chardev",
  "block-node",
];

/** A `query-yank` result that is not a list of well-formed instances. */
export class MalformedYankReplyError extends Error {
  override name = "MalformedYankReplyError";
}

/**
 * Checks a `query-yank` return value. Instances of types this version does not know are
 * skipped rather than rejected: a newer QEMU may add some.
 */
export function parseYankInstances(value: unknown): YankInstance[] {
  if (!Array.isArray(value)) {
    throw new MalformedYankReplyError("query-yank did not return a list");
  }
  const instances: YankInstance[] = [];
  for (const item of value) {
    if (!isJsonObject(item) || typeof item.type !== "string") {
      throw new MalformedYankReplyError("query-yank returned an instance without a type");
    }
    if (item.type === "chardev" && typeof item.id !== "string") {
      throw new MalformedYankReplyError("query-yank returned a chardev without an id");
    }
    if (item.type === "block-node" && typeof item["node-name"] !== "string") {
      throw new MalformedYankReplyError("query-yank returned a block-node without a node-name");
    }
    if (YANK_INSTANCE_TYPES.includes(item.type as YankInstanceType)) {
      instances.push(item as YankInstance);
    }
  }
  return instances;
}

/** The instance's name: chardev id, block node-name, or "" for migration. */
export function instanceName(instance: YankInstance): string {
  switch (instance.type) {
    case "chardev":
      return instance.id;
    case "block-node":
      return instance["node-name"];
    case "migration":
      return "";
  }
}

/** Builds an instance from a type and a name. */
export function makeInstance(type: YankInstanceType, name: string): YankInstance {
  switch (type) {
    case "chardev":
      return { type, id: name };
    case "block-node":
      return { type, "node-name": name };
    case "migration":
      return { type };
  }
}

/** Whether two instances denote the same thing (key order does not matter). */
export function sameInstance(a: YankInstance, b: YankInstance): boolean {
  return a.type === b.type && instanceName(a) === instanceName(b);
}

/** For messages: `chardev "charnet0"`, `block-node "nbd0"`, `migration`. */
export function describeInstance(instance: YankInstance): string {
  return instance.type === "migration"
    ? "migration"
    : `${instance.type} ${JSON.stringify(instanceName(instance))}`;
}

/** For messages: a comma-separated list of described instances. */
export function describeInstances(instances: readonly YankInstance[]): string {
  return instances.map(describeInstance).join(", ");
}

/** The instance in the canonical form `yank` takes (fixed key order, no extra keys). */
export function canonicalInstance(instance: YankInstance): YankInstance {
  return makeInstance(instance.type, instanceName(instance));
}
