import assert from "node:assert/strict";
import { deadline, delay, remaining } from "../lib/qmp/deadline.ts";

class Late extends Error {}

Deno.test("deadline() bounds a wait", async (t) => {
  await t.step("settles as the promise does when it settles first", async () => {
    assert.equal(await deadline(Promise.resolve(7), 1000, () => new Late()), 7);
    await assert.rejects(
      deadline(Promise.reject(new RangeError("no")), 1000, () => new Late()),
      RangeError,
    );
  });

  await t.step("rejects with the caller's error once the time is up", async () => {
    const never = new Promise<never>(() => {});
    const started = performance.now();
    await assert.rejects(deadline(never, 50, () => new Late()), Late);
    assert.ok(performance.now() - started >= 45, "it waited the 50 ms");
  });

  await t.step("rejects at once when no time is left", async () => {
    await assert.rejects(deadline(new Promise(() => {}), 0, () => new Late()), Late);
    await assert.rejects(deadline(new Promise(() => {}), -5, () => new Late()), Late);
  });

  await t.step("Infinity waits as long as the promise takes", async () => {
    const late = delay(60).then(() => "done");
    assert.equal(await deadline(late, Infinity, () => new Late()), "done");
  });

  await t.step("a promise that settles later than the deadline changes nothing", async () => {
    const { promise, resolve } = Promise.withResolvers<string>();
    await assert.rejects(deadline(promise, 10, () => new Late()), Late);
    resolve("too late");
  });
});

Deno.test("a wait that ended keeps no process alive for its timer", async () => {
  // A timer still armed would hold the child for an hour; the safety net kills it long before.
  const script = `
    import { deadline } from ${JSON.stringify(new URL("../lib/qmp/deadline.ts", import.meta.url))};
    console.log(await deadline(Promise.resolve("done"), 3_600_000, () => new Error("late")));
  `;
  const child = new Deno.Command(Deno.execPath(), {
    args: ["eval", script],
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const killer = setTimeout(() => child.kill("SIGKILL"), 30_000);
  const { code, stdout } = await child.output();
  clearTimeout(killer);
  assert.equal(new TextDecoder().decode(stdout), "done\n");
  assert.equal(code, 0, "the child ended on its own, not killed");
});

Deno.test("delay() resolves after the time given", async () => {
  const started = performance.now();
  await delay(30);
  assert.ok(performance.now() - started >= 25);
});

Deno.test("remaining() is the smaller of the step's timeout and what is left of the deadline", () => {
  const now = () => 1000;
  assert.equal(remaining(500, undefined, now), 500);
  assert.equal(remaining(500, 1200, now), 200);
  assert.equal(remaining(500, 9000, now), 500);
  assert.equal(remaining(500, 900, now), 0);
  assert.equal(remaining(Infinity, undefined, now), Infinity);
  assert.equal(remaining(Infinity, 1300, now), 300);
});
