/**
 * QMP messages written to a connection as lines, one after another: each write starts once every
 * earlier one is done, so two commands' bytes never interleave. What `conn.writable.getWriter()`
 * would do, but the first use of a web stream loads Deno's streams implementation, about 7 ms of
 * a one-shot command's start-up (Deno 2.9).
 */

const encoder = new TextEncoder();

/** Writes lines to one connection in the order asked, each whole. */
export class LineWriter {
  #conn: { write(bytes: Uint8Array): Promise<number> };
  /** The last write queued: the next starts after it. */
  #lastWrite: Promise<void> = Promise.resolve();

  constructor(conn: { write(bytes: Uint8Array): Promise<number> }) {
    this.#conn = conn;
  }

  /** Writes `text` and QMP's line end (CR LF) once every earlier line is written. */
  writeLine(text: string): Promise<void> {
    const bytes = encoder.encode(`${text}\r\n`);
    const written = this.#lastWrite.then(async () => {
      for (let offset = 0; offset < bytes.length;) {
        offset += await this.#conn.write(bytes.subarray(offset));
      }
    });
    this.#lastWrite = written.catch(() => {});
    return written;
  }
}
