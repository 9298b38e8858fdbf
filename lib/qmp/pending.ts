/**
 * The replies a QMP client waits for, by command id. Ids carry a random nonce per connection: a
 * reply left over from a client that disconnected mid-command is delivered to the next client
 * (another process, or our own reconnection), and must never match one of our commands.
 */

/** A reply (or the greeting) being waited for. */
export interface PendingReply extends PromiseWithResolvers<unknown> {
  command: string;
}

/** A waiter for `command`'s reply; an early failure is observed later, never unhandled. */
export function pendingReply(command: string): PendingReply {
  const pending = { command, ...Promise.withResolvers<unknown>() };
  pending.promise.catch(() => {});
  return pending;
}

function makeIdPrefix(): string {
  const nonce = crypto.getRandomValues(new Uint8Array(6));
  return `yank-${Array.from(nonce, (b) => b.toString(16).padStart(2, "0")).join("")}`;
}

/** Commands sent and not yet answered, by id, oldest first. */
export class PendingReplies {
  #waiting = new Map<string, PendingReply>();
  #idPrefix = makeIdPrefix();
  #idCounter = 0;

  /** A fresh id, and the waiter for `command`'s reply under it. */
  add(command: string): { id: string; reply: PendingReply } {
    const id = `${this.#idPrefix}-${++this.#idCounter}`;
    const reply = pendingReply(command);
    this.#waiting.set(id, reply);
    return { id, reply };
  }

  /** The waiter for `id`, no longer waiting; undefined for an id not ours (stale, absent). */
  take(id: unknown): PendingReply | undefined {
    if (typeof id !== "string") return undefined;
    const reply = this.#waiting.get(id);
    this.#waiting.delete(id);
    return reply;
  }

  /** Stops waiting under `id`: the command ended, answered or not. */
  delete(id: string): void {
    this.#waiting.delete(id);
  }

  /** The command whose reply has been waited for longest; undefined when none is. */
  get oldest(): string | undefined {
    return this.#waiting.values().next().value?.command;
  }

  /** Rejects every waiter with the error `errorFor` gives for its command, and forgets them. */
  rejectAll(errorFor: (command: string) => Error): void {
    for (const reply of this.#waiting.values()) reply.reject(errorFor(reply.command));
    this.#waiting.clear();
  }
}
