/**
 * Mutation fuzzing of the QMP stream: real transcripts (findings §1-§8) are cut, flipped,
 * spliced and re-chunked, then fed to JsonStreamParser directly and to QmpClient through a
 * fake server. The only acceptable failures are the documented error classes; anything else,
 * or a hang, is a finding. Seeded, so a failure names the seed that reproduces it.
 */

import { JsonStreamError, JsonStreamParser } from "../../lib/qmp/json_stream.ts";
import { QmpClient } from "../../lib/qmp/client.ts";
import { YankError } from "../../lib/errors.ts";
import { queryYank, yankInstances } from "../../lib/yank/yank.ts";
import { type FakeQmpConnection, qemuGreeting, startFakeQmp } from "./fake_qmp.ts";

/** A small, fast, seeded PRNG (mulberry32). */
export function makeRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type Random = () => number;

const int = (random: Random, below: number) => Math.floor(random() * below);
const pick = <T>(random: Random, items: readonly T[]): T => items[int(random, items.length)]!;

const encoder = new TextEncoder();

function pretty(message: unknown): string {
  return `${JSON.stringify(message, null, 4).replaceAll("\n", "\r\n")}\r\n`;
}

function line(message: unknown): string {
  return `${JSON.stringify(message)}\r\n`;
}

const EVENTS = [
  { event: "BLOCK_JOB_ERROR", data: { device: "job0", operation: "read", action: "report" } },
  { event: "JOB_STATUS_CHANGE", data: { status: "aborting", id: "job0" } },
  { event: "MIGRATION", data: { status: "failed" }, timestamp: { seconds: 1, microseconds: 2 } },
];

const REPLIES: Record<string, unknown> = {
  "qmp_capabilities": { return: {} },
  "query-yank": {
    return: [
      { type: "chardev", id: "compat_monitor0" },
      { "node-name": "nbd0", type: "block-node" },
      { type: "chardev", id: 'ch\u00e9\u2615\ud834\udd1e{"}' },
      { type: "migration" },
    ],
  },
  "query-chardev": { return: [{ label: "compat_monitor0", filename: "unix:q.sock,server=on" }] },
  "yank": { return: {} },
};
const UNKNOWN_COMMAND = {
  error: { class: "CommandNotFound", desc: "The command has not been found" },
};

/** Byte strings that real QEMU sends, to mutate and to splice from. */
export const TRANSCRIPT_PIECES: readonly Uint8Array[] = [
  line(qemuGreeting()),
  pretty(qemuGreeting()),
  line({ return: {}, id: "c1" }),
  pretty({ return: {}, id: "c1" }),
  line({ ...REPLIES["query-yank"] as object, id: "yank-0011223344aa-2" }),
  pretty({ ...REPLIES["query-yank"] as object, id: "x" }),
  line({ error: { class: "GenericError", desc: "JSON parse error, invalid keyword 'garbage'" } }),
  line({ return: "", id: "H-hmp-OLD" }),
  ...EVENTS.map(line),
].map((text) => encoder.encode(text));

/** Applies one to four random mutations, drawing splices from `TRANSCRIPT_PIECES`. */
export function mutate(random: Random, input: Uint8Array): Uint8Array {
  let bytes = input;
  const rounds = 1 + int(random, 4);
  for (let round = 0; round < rounds; round++) {
    const at = int(random, bytes.length + 1);
    switch (int(random, 7)) {
      case 0: { // flip a bit
        if (bytes.length === 0) break;
        bytes = bytes.slice();
        const i = int(random, bytes.length);
        bytes[i] = bytes[i]! ^ (1 << int(random, 8));
        break;
      }
      case 1: // truncate
        bytes = bytes.subarray(0, at);
        break;
      case 2: { // splice in part of another transcript
        const other = pick(random, TRANSCRIPT_PIECES);
        const from = int(random, other.length);
        const piece = other.subarray(from, from + int(random, other.length - from + 1));
        bytes = concat(bytes.subarray(0, at), piece, bytes.subarray(at));
        break;
      }
      case 3: { // insert random bytes
        const noise = Uint8Array.from({ length: 1 + int(random, 8) }, () => int(random, 256));
        bytes = concat(bytes.subarray(0, at), noise, bytes.subarray(at));
        break;
      }
      case 4: { // insert a structural character
        const char = encoder.encode(pick(random, ["{", "}", "[", "]", '"', "\\", "\r\n", ","]));
        bytes = concat(bytes.subarray(0, at), char, bytes.subarray(at));
        break;
      }
      case 5: { // delete a range
        const end = at + int(random, 16);
        bytes = concat(bytes.subarray(0, at), bytes.subarray(Math.min(end, bytes.length)));
        break;
      }
      default: { // duplicate a range
        const end = Math.min(bytes.length, at + int(random, 64));
        bytes = concat(bytes.subarray(0, end), bytes.subarray(at, end), bytes.subarray(end));
      }
    }
  }
  return bytes;
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

/** Cuts bytes into random chunks, as reads may deliver them. */
export function randomChunks(random: Random, bytes: Uint8Array): Uint8Array[] {
  const chunks: Uint8Array[] = [];
  for (let offset = 0; offset < bytes.length;) {
    const size = random() < 0.3 ? 1 : 1 + int(random, 200);
    chunks.push(bytes.subarray(offset, offset + size));
    offset += size;
  }
  return chunks;
}

/** What one fuzz iteration observed. */
export type FuzzOutcome = "ok" | "documented-error";

/** A failure that is not a documented error class, or a hang. */
export class FuzzFinding extends Error {
  override name = "FuzzFinding";
}

/** Feeds one mutated stream to JsonStreamParser; throws FuzzFinding on an undocumented error. */
export function fuzzParserOnce(seed: number): FuzzOutcome {
  const random = makeRandom(seed);
  const stream = concat(
    ...Array.from({ length: 1 + int(random, 4) }, () => pick(random, TRANSCRIPT_PIECES)),
  );
  const input = random() < 0.9 ? mutate(random, stream) : stream;
  const small = random() < 0.3;
  const parser = new JsonStreamParser(small ? { maxMessageBytes: 256, maxDepth: 4 } : {});
  try {
    for (const chunk of randomChunks(random, input)) parser.push(chunk);
    return "ok";
  } catch (error) {
    if (error instanceof JsonStreamError) return "documented-error";
    throw new FuzzFinding(`seed ${seed}: parser threw ${describe(error)}`);
  }
}

/**
 * Runs the client (connect, query-yank, yank) against a fake server whose every message is
 * possibly mutated and randomly chunked; throws FuzzFinding on an undocumented error or a hang.
 */
export async function fuzzClientOnce(seed: number, timeoutMs = 100): Promise<FuzzOutcome> {
  const random = makeRandom(seed);
  const mutationRate = 0.1 + random() * 0.4;
  const maybeMutate = (bytes: Uint8Array) =>
    random() < mutationRate ? mutate(random, bytes) : bytes;
  const writeChunked = async (connection: FakeQmpConnection, bytes: Uint8Array) => {
    for (const chunk of randomChunks(random, bytes)) {
      if (!await connection.write(chunk)) return false;
    }
    return true;
  };
  const format = random() < 0.3 ? pretty : line;
  await using server = await startFakeQmp({
    script: async (connection) => {
      const greeting = qemuGreeting(random() < 0.8 ? ["oob"] : []);
      if (!await writeChunked(connection, maybeMutate(encoder.encode(format(greeting))))) return;
      while (true) {
        const command = await connection.nextCommand();
        if (command === null) return;
        let text = "";
        if (random() < 0.2) text += format(pick(random, EVENTS));
        const reply = REPLIES[command.name] ?? UNKNOWN_COMMAND;
        const id = random() < 0.9 ? command.id : "foreign";
        text += format(id === undefined ? reply : { ...reply as object, id });
        if (!await writeChunked(connection, maybeMutate(encoder.encode(text)))) return;
        if (random() < 0.05) return connection.close();
      }
    },
  });
  const run = async (): Promise<FuzzOutcome> => {
    const client = await QmpClient.connect(server.path, { timeoutMs });
    try {
      const instances = await queryYank(client);
      await yankInstances(client, instances.slice(0, 2));
      return "ok";
    } finally {
      client.close();
    }
  };
  let timer: ReturnType<typeof setTimeout> | undefined;
  const hang = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new FuzzFinding(`seed ${seed}: the client hung`)),
      timeoutMs * 6 + 1000,
    );
  });
  try {
    return await Promise.race([run(), hang]);
  } catch (error) {
    if (error instanceof FuzzFinding) throw error;
    // A failure with a kind (a QMP one, or a malformed query-yank reply) is documented.
    if (error instanceof YankError) return "documented-error";
    throw new FuzzFinding(`seed ${seed}: client threw ${describe(error)}`);
  } finally {
    clearTimeout(timer);
  }
}

function describe(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}
