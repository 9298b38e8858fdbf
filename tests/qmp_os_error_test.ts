import assert from "node:assert/strict";
import { osErrorText } from "../lib/qmp/os_error.ts";

Deno.test("osErrorText() drops Deno's errno from a message", async (t) => {
  await t.step("at the end, as in a connect or write error", () => {
    assert.equal(osErrorText(new Error("Connection refused (os error 111)")), "Connection refused");
    assert.equal(osErrorText("Broken pipe (os error 32)"), "Broken pipe");
  });

  await t.step("before the operation's context, which it keeps", () => {
    assert.equal(
      osErrorText(new Error("No such file or directory (os error 2): chmod '/run/x'")),
      "No such file or directory: chmod '/run/x'",
    );
  });

  await t.step("with the context, when asked, for messages that name the file already", () => {
    assert.equal(
      osErrorText(new Error("Permission denied (os error 13): rename '/a' -> '/b'"), {
        context: false,
      }),
      "Permission denied",
    );
  });

  await t.step("leaves other messages as they are", () => {
    assert.equal(osErrorText(new Error("Invalid argument")), "Invalid argument");
    assert.equal(osErrorText(42), "42");
  });

  await t.step("as Deno words a real failure", async () => {
    const error = await Deno.chmod("/nonexistent-yank-test/x", 0o600).catch((e) => e);
    assert.equal(osErrorText(error), "No such file or directory: chmod '/nonexistent-yank-test/x'");
  });
});
