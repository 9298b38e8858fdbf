/**
 * Hostile clients of the yank-only proxy, shared by the attack tests and the bench: a flood of
 * requests whose replies are never read, and a burst of silent connections.
 */

/** A running attack; `stop()` ends it and closes its connections. */
export interface Attack {
  stop(): void;
}

const encoder = new TextEncoder();

/** Closes `conn`, ignoring a connection that is already closed. */
export function tryClose(conn: Deno.Conn): void {
  try {
    conn.close();
  } catch {
    // Already closed.
  }
}

/**
 * Every `everyMs` a new client negotiates and sends 10,000 query-chardev requests (about
 * 280 KB) in one go, and never reads a reply.
 */
export function flood(proxy: string, everyMs = 200): Attack {
  const requests = encoder.encode(
    `{"execute":"qmp_capabilities"}\n${'{"execute":"query-chardev"}\n'.repeat(10_000)}`,
  );
  const conns: Deno.Conn[] = [];
  let stopped = false;
  const loop = (async () => {
    while (!stopped) {
      try {
        const conn = await Deno.connect({ transport: "unix", path: proxy });
        conns.push(conn);
        (async () => {
          for (let offset = 0; offset < requests.length;) {
            offset += await conn.write(requests.subarray(offset));
          }
        })().catch(() => {});
      } catch {
        // Turned away or cut off: try again.
      }
      await new Promise((resolve) => setTimeout(resolve, everyMs));
    }
  })();
  return {
    stop() {
      stopped = true;
      for (const conn of conns) tryClose(conn);
      loop.catch(() => {});
    },
  };
}

/** `count` connections at once, held open and silent until `stop()`. */
export async function descriptorBurst(proxy: string, count: number): Promise<Attack> {
  const held: Deno.Conn[] = [];
  await Promise.allSettled(
    Array.from(
      { length: count },
      () => Deno.connect({ transport: "unix", path: proxy }).then((conn) => held.push(conn)),
    ),
  );
  return {
    stop() {
      for (const conn of held.splice(0)) tryClose(conn);
    },
  };
}
