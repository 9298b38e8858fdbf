/**
 * Run before the tests and the demo: makes sure QEMU is installed, installing it from Debian's
 * packages when it is missing and we are root; otherwise says how, and fails. zsh and fish come
 * along (a few MB): the completion tests run their scripts in them; so do man (the manual pages
 * are rendered), systemd-analyze (README's unit is verified) and setpriv (a test drops root's
 * right to read every directory).
 */

import { ensurePrograms } from "./debian.ts";

try {
  await ensurePrograms({
    "qemu-system-x86_64": "qemu-system-x86",
    "qemu-img": "qemu-utils",
    "qemu-nbd": "qemu-utils",
    "zsh": "zsh",
    "fish": "fish",
    "man": "man-db",
    "systemd-analyze": "systemd",
    "setpriv": "util-linux",
  });
} catch (error) {
  console.error(error instanceof Error ? error.message : error);
  Deno.exit(1);
}
