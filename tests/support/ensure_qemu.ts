/**
 * Run before the tests and the demo: makes sure QEMU is installed, installing it from Debian's
 * packages when it is missing and we are root; otherwise says how, and fails. zsh and fish come
 * along (a few MB): the completion tests run their scripts in them; so do man (the manual pages
 * are rendered), systemd-analyze (README's unit is verified) and setpriv (a test drops root's
 * right to read every directory). libvirt's daemon and client let the suite check yank against
 * a libvirt-managed QEMU; nbdkit and qemu-storage-daemon are NBD servers whose death it judges.
 * promtool (from prometheus) and icinga2 check the monitoring files in docs/monitoring/.
 * iproute2's `ip` and iptables build the network lab, where remote peers vanish for real.
 */

import { ensurePrograms } from "./debian.ts";

/** Every program the suite and the demo run (key), with the Debian package that brings it. */
export const SUITE_PROGRAMS: Readonly<Record<string, string>> = {
  "qemu-system-x86_64": "qemu-system-x86",
  "qemu-img": "qemu-utils",
  "qemu-nbd": "qemu-utils",
  // Peer judgement is tested against every kind of NBD server QEMU meets.
  "qemu-storage-daemon": "qemu-system-common",
  "nbdkit": "nbdkit",
  "zsh": "zsh",
  "fish": "fish",
  "man": "man-db",
  "systemd-analyze": "systemd",
  "setpriv": "util-linux",
  // yank watch judges peers from ss's view of QEMU's sockets; a minbase root lacks it.
  "ss": "iproute2",
  // The network lab: namespaces and veth pairs (ip), faults (iptables' nf_tables backend).
  "ip": "iproute2",
  "iptables-nft": "iptables",
  "libvirtd": "libvirt-daemon-system",
  "virtlogd": "libvirt-daemon-system",
  "virsh": "libvirt-clients",
  // --no-install-recommends leaves out libvirt's QEMU driver.
  "/usr/lib/x86_64-linux-gnu/libvirt/connection-driver/libvirt_driver_qemu.so":
    "libvirt-daemon-driver-qemu",
  // The watch textfile is linted, and the shipped alerting rules unit-tested, with promtool.
  "promtool": "prometheus",
  // The shipped Icinga 2 CheckCommand is validated by Icinga 2's own config check.
  "icinga2": "icinga2-bin",
};

if (import.meta.main) {
  try {
    await ensurePrograms(SUITE_PROGRAMS);
  } catch (error) {
    console.error(error instanceof Error ? error.message : error);
    Deno.exit(1);
  }
}
