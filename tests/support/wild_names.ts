/**
 * Odd but legal names, as seeded fast-check generators: every name yank reads from QEMU or
 * libvirt or takes from the user. Each generator keeps to what its source allows and no more:
 * QEMU's id rules for chardev ids, node-names and device ids; what NBD and QEMU take as an
 * export name; what Linux takes as a file name; what libvirt takes as a domain name or disk
 * target. Within those rules they lean on what has broken parsers before: `%` and `+` (URL
 * decoding), `?socket=` and ` <-> ` (QEMU's filename formats), `,` (QEMU's option syntax), glob
 * characters, quotes, control characters and bidirectional overrides (terminals), non-ASCII,
 * and lengths past the limits of a unix socket address.
 */

import fc from "./fast_check.ts";

/** Pieces that have broken, or could break, a parser of QEMU's strings or yank's output. */
export const ODD_PIECES: readonly string[] = [
  " ",
  "  ",
  "%",
  "%25",
  "%zz",
  "%2F",
  "+",
  "'",
  '"',
  "?",
  "#",
  "&",
  "=",
  "?socket=",
  "?socket=/x",
  "\\",
  "[",
  "]",
  "[!a]",
  "*",
  ",",
  ",,",
  ",server=on",
  " <-> ",
  ":",
  ":10809",
  "@",
  "~",
  "!",
  "$",
  "$(x)",
  "`",
  "(",
  ")",
  "{",
  "}",
  "<",
  ">",
  "&amp;",
  "|",
  ";",
  "-",
  ".",
  "..",
  "é",
  "ß",
  "Ω",
  "漢字",
  "🦀",
  "e\u0301",
  "\u00a0",
  "\u200b",
  "\t",
  "\n",
  "\r",
  "\u001b[31m",
  "\u007f",
  "\u0085",
  "\u202e",
  "\u2066",
  "json:",
  "nbd://",
  "unix:",
  "disconnected:",
  "mon",
  "YANK OK - ",
  "msg=",
];

/** Odd text: pieces and random graphemes, at least one piece, joined. */
function oddText(maxParts: number): fc.Arbitrary<string> {
  return fc.array(
    fc.oneof(
      { weight: 3, arbitrary: fc.constantFrom(...ODD_PIECES) },
      { weight: 2, arbitrary: fc.string({ unit: "grapheme", minLength: 1, maxLength: 6 }) },
      { weight: 2, arbitrary: fc.string({ unit: "grapheme-ascii", minLength: 1, maxLength: 8 }) },
    ),
    { minLength: 1, maxLength: maxParts },
  ).map((parts) => parts.join(""));
}

const encoder = new TextEncoder();

/** The length of `text` in UTF-8 bytes. */
export function byteLength(text: string): number {
  return encoder.encode(text).length;
}

/** `text` cut, at a code point, to at most `bytes` UTF-8 bytes. */
export function clipBytes(text: string, bytes: number): string {
  let out = "";
  let used = 0;
  for (const char of text) {
    const size = byteLength(char);
    if (used + size > bytes) break;
    out += char;
    used += size;
  }
  return out;
}

/**
 * A file name Linux takes: no `/`, no NUL, not `.` or `..`, 1 to `maxBytes` bytes (NAME_MAX is
 * 255).
 */
export function fileName(maxBytes = 40): fc.Arbitrary<string> {
  return oddText(6).map((text) => {
    const name = clipBytes(text.replace(/[/\0]/g, "_"), maxBytes);
    return name === "" || name === "." || name === ".." ? `${name}_` : name;
  });
}

const ID_FIRST = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ".split("");
const ID_REST = [...ID_FIRST, ..."0123456789-._".split("")];
/** Pieces of ids that mean something to yank or QEMU: monitor-like words, mux suffixes. */
const ID_PIECES = ["mon", "Mon", "QMP", "qmp", "hmp", "-base", "..", "__", "--", "charmonitor"];

/**
 * An id as QEMU's `id_wellformed` (util/id.c) accepts it: a letter, then letters, digits, `-`,
 * `.` and `_`. QEMU takes such ids for chardevs and devices; a node-name must also be shorter
 * than 32 bytes (block.c), so `maxLength` 31 for those.
 */
export function qemuId(maxLength = 40): fc.Arbitrary<string> {
  return fc.tuple(
    fc.constantFrom(...ID_FIRST),
    fc.array(
      fc.oneof(
        { weight: 6, arbitrary: fc.constantFrom(...ID_REST) },
        { weight: 1, arbitrary: fc.constantFrom(...ID_PIECES) },
      ),
      { maxLength: 12 },
    ),
  ).map(([first, rest]) => `${first}${rest.join("")}`.slice(0, maxLength));
}

/** Whether QEMU's `id_wellformed` takes `id`. */
export function isWellFormedId(id: string): boolean {
  return /^[A-Za-z][A-Za-z0-9._-]*$/.test(id);
}

/**
 * An NBD export name: NBD takes any UTF-8 string up to 4096 bytes, and QEMU passes it on
 * unchanged (`-blockdev ...,export=`, `block-export-add name=`). Not empty: that is the default
 * export, which QEMU does not write in a filename. Now and then long (past the 4096 bytes of
 * QEMU's `exact_filename` together with the socket path, so QEMU reports `json:{...}` instead).
 */
export function nbdExportName(): fc.Arbitrary<string> {
  return fc.oneof(
    { weight: 8, arbitrary: oddText(8) },
    {
      weight: 1,
      arbitrary: fc.tuple(oddText(4), fc.integer({ min: 100, max: 4090 })).map(([text, bytes]) =>
        clipBytes(text.repeat(Math.ceil(bytes / Math.max(1, byteLength(text)))), bytes)
      ),
    },
  ).map((name) => clipBytes(name.replace(/\0/g, "0"), 4096)).filter((name) => name !== "");
}

/**
 * How a user may spell the path of a monitor socket: directly, through a symlink, relative to
 * the working directory, through a symlinked directory (as `/var/run` is to `/run`), with `..`,
 * or longer than a unix socket address (108 bytes) holds. `names` are the directories and the
 * final name the spelling goes through, each a fileName().
 */
export interface SocketSpelling {
  kind: "direct" | "symlink" | "relative" | "dir-link" | "dotdot" | "long";
  names: string[];
}

/** A SocketSpelling. */
export function socketSpelling(): fc.Arbitrary<SocketSpelling> {
  return fc.record({
    kind: fc.constantFrom<SocketSpelling["kind"]>(
      "direct",
      "symlink",
      "relative",
      "dir-link",
      "dotdot",
      "long",
    ),
    names: fc.array(fileName(40), { minLength: 2, maxLength: 4 }),
  });
}

/** Where an NBD server listens: a unix socket of an odd name, or loopback (QEMU writes ::1 bare). */
export type NbdServerSpelling = { type: "unix"; name: string } | {
  type: "inet";
  host: "127.0.0.1" | "::1";
};

/** A NbdServerSpelling; unix names are short enough for a socket address in a lab directory. */
export function nbdServerSpelling(): fc.Arbitrary<NbdServerSpelling> {
  return fc.oneof(
    { weight: 4, arbitrary: fileName(50).map((name) => ({ type: "unix" as const, name })) },
    {
      weight: 1,
      arbitrary: fc.constantFrom("127.0.0.1" as const, "::1" as const).map((host) => ({
        type: "inet" as const,
        host,
      })),
    },
  );
}

/** Everything one sweep case names: what QEMU is given, and how the user spells the socket. */
export interface NameCase {
  /** A socket chardev QEMU listens on. */
  chardev: string;
  /** The file name of that chardev's socket. */
  chardevSocket: string;
  /** An NBD node. */
  node: string;
  /** The guest disk (scsi-hd) on that node. */
  device: string;
  /** The export the node reads. */
  export: string;
  /** Where its NBD server listens. */
  server: NbdServerSpelling;
  /** How the user names the monitor socket. */
  monitor: SocketSpelling;
}

/** The ids QEMU's own monitors and devices take in the sweep's QEMU; generated ids avoid them. */
const TAKEN = /^(compat_monitor\d+|scsi0)$/;

/** A NameCase. */
export function nameCase(): fc.Arbitrary<NameCase> {
  return fc.record({
    chardev: qemuId(48),
    chardevSocket: fileName(50),
    node: qemuId(31),
    device: qemuId(40),
    export: nbdExportName(),
    server: nbdServerSpelling(),
    monitor: socketSpelling(),
  }).filter((c) =>
    !TAKEN.test(c.chardev) && !TAKEN.test(c.device) && !TAKEN.test(c.node) &&
    // QEMU refuses a node-name that is also a device's id.
    c.node !== c.device
  );
}

/**
 * A libvirt domain name: libvirt refuses `/` and a newline in it; the XML that holds it takes
 * no other C0 control but tab and carriage return. Everything else is legal, glob characters
 * and quotes included.
 */
export function domainName(): fc.Arbitrary<string> {
  return oddText(6).map((text) =>
    // deno-lint-ignore no-control-regex -- XML 1.0 has no other C0 control characters.
    clipBytes(text.replace(/[/\n\u0000-\u0008\u000b\u000c\u000e-\u001f]/g, "_"), 100)
  ).filter((name) => name.trim() !== "");
}

/**
 * A libvirt disk target as libvirt takes it (`virDiskNameParse`): a bus prefix and letters
 * (`vda`, `sdaa`, `xvdb`, `hdc`).
 */
export function diskTarget(): fc.Arbitrary<string> {
  return fc.tuple(
    fc.constantFrom("vd", "sd", "hd", "xvd", "ubd", "fd"),
    fc.string({
      unit: fc.constantFrom(..."abcdefghijklmnopqrstuvwxyz".split("")),
      minLength: 1,
      maxLength: 3,
    }),
  ).map(([prefix, letters]) => `${prefix}${letters}`);
}

/** A libvirt user alias (`ua-` then QEMU id characters), which becomes QEMU's device id. */
export function userAlias(): fc.Arbitrary<string> {
  return qemuId(30).map((id) => `ua-${id}`);
}

/** `text` escaped for an XML attribute or text node. */
export function xmlEscape(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;")
    .replace(/"/g, "&quot;").replace(/'/g, "&apos;").replace(/\t/g, "&#9;")
    .replace(/\r/g, "&#13;");
}

/** The seed of a run: `--seed`/YANK_FUZZ_SEED when given, else a fresh one (printed on failure). */
export function seedFrom(text: string | undefined): number {
  const seed = text === undefined || text === "" ? Date.now() % 2_147_483_647 : Number(text);
  if (!Number.isSafeInteger(seed)) throw new Error(`a seed is an integer, got ${text}`);
  return seed;
}
