/**
 * A streaming splitter for QMP's wire format.
 *
 * QMP sends JSON objects back to back. They usually end with CRLF, but a `pretty=on` monitor
 * spreads one object over many lines, and a single reply can be hundreds of kilobytes, so the
 * stream is cut by tracking JSON nesting byte by byte rather than by looking for newlines. Bytes
 * are kept until a value is complete, so UTF-8 sequences split across reads decode correctly.
 */

/** Limits that keep a hostile or broken peer from exhausting memory or the stack. */
export interface JsonStreamLimits {
  /** Largest single message, in bytes. QEMU's biggest (`query-qmp-schema`) is about 200 KB. */
  maxMessageBytes: number;
  /** Deepest nesting of objects and arrays. QMP replies nest a handful of levels. */
  maxDepth: number;
}

/** Defaults generous enough for any real QMP reply. */
export const DEFAULT_JSON_STREAM_LIMITS: JsonStreamLimits = {
  maxMessageBytes: 16 * 1024 * 1024,
  maxDepth: 128,
};

/** The stream is not valid QMP framing; the connection cannot be trusted any more. */
export class JsonStreamError extends Error {
  override name = "JsonStreamError";
  /** Values completed in the same chunk before the bad input; they are still valid. */
  values: unknown[] = [];
}

const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;

function isWhitespace(byte: number): boolean {
  return byte === 0x20 || byte === 0x0a || byte === 0x0d || byte === 0x09;
}

/** Cuts a byte stream into parsed JSON objects; feed it chunks as they arrive. */
export class JsonStreamParser {
  #limits: JsonStreamLimits;
  #decoder = new TextDecoder("utf-8", { fatal: true });
  #buffer = new Uint8Array(4096);
  #length = 0;
  /** Offset of the first byte of the value being read, or -1 between values. */
  #start = -1;
  /** Offset of the next byte to scan. */
  #scan = 0;
  #depth = 0;
  #inString = false;
  #escaped = false;

  constructor(limits: Partial<JsonStreamLimits> = {}) {
    this.#limits = { ...DEFAULT_JSON_STREAM_LIMITS, ...limits };
  }

  /** Bytes held for a value that has not ended yet. */
  get pendingBytes(): number {
    return this.#start < 0 ? 0 : this.#length - this.#start;
  }

  /** Adds a chunk and returns every value it completes. Throws JsonStreamError on bad input. */
  push(chunk: Uint8Array): unknown[] {
    this.#append(chunk);
    const values: unknown[] = [];
    try {
      this.#scanValues(values);
    } catch (error) {
      if (error instanceof JsonStreamError) error.values = values;
      throw error;
    }
    this.#compact();
    return values;
  }

  #scanValues(values: unknown[]): void {
    const buffer = this.#buffer;
    for (; this.#scan < this.#length; this.#scan++) {
      const byte = buffer[this.#scan]!;
      if (this.#start < 0) {
        if (isWhitespace(byte)) continue;
        if (byte !== OPEN_BRACE && byte !== OPEN_BRACKET) {
          throw new JsonStreamError(`unexpected ${describeByte(byte)} between JSON messages`);
        }
        this.#start = this.#scan;
        this.#depth = 1;
        continue;
      }
      if (this.#inString) {
        if (this.#escaped) this.#escaped = false;
        else if (byte === BACKSLASH) this.#escaped = true;
        else if (byte === QUOTE) this.#inString = false;
        continue;
      }
      if (byte === QUOTE) {
        this.#inString = true;
      } else if (byte === OPEN_BRACE || byte === OPEN_BRACKET) {
        if (++this.#depth > this.#limits.maxDepth) {
          throw new JsonStreamError(`message nests deeper than ${this.#limits.maxDepth} levels`);
        }
      } else if (byte === CLOSE_BRACE || byte === CLOSE_BRACKET) {
        if (--this.#depth === 0) {
          values.push(this.#parse(this.#start, this.#scan + 1));
          this.#start = -1;
        }
      }
    }
    if (this.pendingBytes > this.#limits.maxMessageBytes) {
      throw new JsonStreamError(`message longer than ${this.#limits.maxMessageBytes} bytes`);
    }
  }

  #parse(from: number, to: number): unknown {
    if (to - from > this.#limits.maxMessageBytes) {
      throw new JsonStreamError(`message longer than ${this.#limits.maxMessageBytes} bytes`);
    }
    let text: string;
    try {
      text = this.#decoder.decode(this.#buffer.subarray(from, to));
    } catch {
      throw new JsonStreamError("message is not valid UTF-8");
    }
    try {
      return JSON.parse(text);
    } catch {
      throw new JsonStreamError(`invalid JSON: ${abbreviate(text)}`);
    }
  }

  #append(chunk: Uint8Array): void {
    const needed = this.#length + chunk.length;
    if (needed > this.#buffer.length) {
      let size = this.#buffer.length * 2;
      while (size < needed) size *= 2;
      const grown = new Uint8Array(size);
      grown.set(this.#buffer.subarray(0, this.#length));
      this.#buffer = grown;
    }
    this.#buffer.set(chunk, this.#length);
    this.#length = needed;
  }

  /** Drops consumed bytes so the buffer holds only the unfinished value. */
  #compact(): void {
    const keepFrom = this.#start < 0 ? this.#length : this.#start;
    if (keepFrom === 0) return;
    this.#buffer.copyWithin(0, keepFrom, this.#length);
    this.#length -= keepFrom;
    this.#scan -= keepFrom;
    if (this.#start >= 0) this.#start -= keepFrom;
    if (this.#length === 0 && this.#buffer.length > 65536) this.#buffer = new Uint8Array(4096);
  }
}

function describeByte(byte: number): string {
  return byte >= 0x20 && byte < 0x7f
    ? `character ${JSON.stringify(String.fromCharCode(byte))}`
    : `byte 0x${byte.toString(16).padStart(2, "0")}`;
}

function abbreviate(text: string): string {
  const flat = JSON.stringify(text.length > 60 ? `${text.slice(0, 60)}...` : text);
  return flat;
}
