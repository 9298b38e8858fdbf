/**
 * A TCP relay that holds every segment it reads for a fixed delay before passing it on, in both
 * directions and in order: a peer that is slow but alive. It reads (so its kernel acknowledges)
 * at once, so from QEMU's side of the wire nothing ever sits unacknowledged: this is what a slow
 * link or a slow server looks like, not a dead one. The kernel here has no netem, hence a process.
 *
 *   deno run --allow-net delay_relay.ts LISTEN_HOST LISTEN_PORT TARGET_HOST TARGET_PORT DELAY_MS
 *
 * The net lab runs it in a peer's network namespace; it serves until it is killed.
 */

/** Copies `from` to `to`, writing each chunk `delayMs` after it was read; closes `to` at EOF. */
async function relay(from: Deno.Conn, to: Deno.Conn, delayMs: number): Promise<void> {
  let writes = Promise.resolve();
  const buffer = new Uint8Array(64 * 1024);
  try {
    for (;;) {
      const n = await from.read(buffer);
      if (n === null) break;
      const chunk = buffer.slice(0, n);
      const due = performance.now() + delayMs;
      writes = writes.then(async () => {
        await new Promise((resolve) => setTimeout(resolve, Math.max(0, due - performance.now())));
        await writeAll(to, chunk);
      });
    }
  } catch {
    // A reset ends this direction as EOF does.
  }
  await writes.catch(() => {});
  try {
    await to.closeWrite();
  } catch {
    // The other side is gone already.
  }
}

async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  for (let written = 0; written < bytes.length;) {
    written += await conn.write(bytes.subarray(written));
  }
}

async function serve(client: Deno.Conn, target: Deno.ConnectOptions, delayMs: number) {
  let server: Deno.Conn;
  try {
    server = await Deno.connect(target);
  } catch {
    client.close();
    return;
  }
  await Promise.all([relay(client, server, delayMs), relay(server, client, delayMs)]);
  for (const conn of [client, server]) {
    try {
      conn.close();
    } catch {
      // Already closed.
    }
  }
}

if (import.meta.main) {
  const [listenHost, listenPort, targetHost, targetPort, delay] = Deno.args;
  const delayMs = Number(delay);
  if (targetPort === undefined || !(delayMs >= 0)) {
    console.error("usage: delay_relay.ts LISTEN_HOST LISTEN_PORT TARGET_HOST TARGET_PORT DELAY_MS");
    Deno.exit(2);
  }
  const listener = Deno.listen({ hostname: listenHost!, port: Number(listenPort) });
  const target = { hostname: targetHost!, port: Number(targetPort) };
  for await (const client of listener) serve(client, target, delayMs);
}
