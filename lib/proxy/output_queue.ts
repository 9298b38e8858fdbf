/**
 * A proxy client's replies on their way out. One writer per client takes whatever is queued,
 * in batches, so a client that never reads stalls only its own writer: nothing else ever waits
 * for its writes, and the queue's size says how much it leaves unread.
 */

/** Largest single write: enough to empty a socket buffer's worth of small replies at once. */
const BATCH_BYTES = 64 * 1024;

/** The queued output of one connection, written in order by a single writer. */
export class OutputQueue {
  #writer: WritableStreamDefaultWriter<Uint8Array>;
  #chunks: Uint8Array[] = [];
  /** Index of the first chunk not yet taken by the writer. */
  #head = 0;
  #unreadBytes = 0;
  #writing = false;
  #failed = false;
  #drained: PromiseWithResolvers<void> | undefined;

  constructor(conn: Deno.Conn) {
    this.#writer = conn.writable.getWriter();
  }

  /** Bytes queued and not yet taken by the kernel for the client. */
  get unreadBytes(): number {
    return this.#unreadBytes;
  }

  /** Queues `bytes` after everything queued before; never waits. */
  push(bytes: Uint8Array): void {
    if (this.#failed) return;
    this.#chunks.push(bytes);
    this.#unreadBytes += bytes.length;
    if (!this.#writing) this.#writeAll();
  }

  /** Resolves once everything queued so far is written, or the connection failed. */
  drained(): Promise<void> {
    if (!this.#writing) return Promise.resolve();
    this.#drained ??= Promise.withResolvers<void>();
    return this.#drained.promise;
  }

  async #writeAll(): Promise<void> {
    this.#writing = true;
    try {
      while (this.#head < this.#chunks.length) {
        const batch = this.#takeBatch();
        await this.#writer.write(batch);
        this.#unreadBytes -= batch.length;
      }
    } catch {
      // The connection is gone: whoever owns it sees that on its reads.
      this.#failed = true;
      this.#unreadBytes = 0;
    } finally {
      this.#chunks = [];
      this.#head = 0;
      this.#writing = false;
      this.#drained?.resolve();
      this.#drained = undefined;
    }
  }

  /** The queued chunks from the head, joined up to BATCH_BYTES (at least one whole chunk). */
  #takeBatch(): Uint8Array {
    const first = this.#chunks[this.#head++]!;
    let size = first.length;
    let end = this.#head;
    while (end < this.#chunks.length && size + this.#chunks[end]!.length <= BATCH_BYTES) {
      size += this.#chunks[end++]!.length;
    }
    if (end === this.#head) return this.#compact(first);
    const batch = new Uint8Array(size);
    batch.set(first);
    let offset = first.length;
    for (; this.#head < end; this.#head++) {
      batch.set(this.#chunks[this.#head]!, offset);
      offset += this.#chunks[this.#head]!.length;
    }
    return this.#compact(batch);
  }

  /** Drops taken chunks once they are half the array, so the queue stays linear in cost. */
  #compact<T>(value: T): T {
    if (this.#head > 1024 && this.#head * 2 > this.#chunks.length) {
      this.#chunks = this.#chunks.slice(this.#head);
      this.#head = 0;
    }
    return value;
  }
}
