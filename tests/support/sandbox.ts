/**
 * What yank-watch.service's directives do, reproduced without systemd as PID 1: a private mount
 * namespace (unshare) with the unit's paths bound in, everything else read-only, a private /tmp,
 * no /home or /root, a /dev of pseudo devices, read-only /proc/sys and /sys, no kernel log, own
 * UTS and IPC namespaces; then setpriv to QEMU's user with no capability and no_new_privs.
 */

/** The repository's top directory, where main.ts is. */
const CHECKOUT = new URL("../..", import.meta.url).pathname.replace(/\/$/, "");

/** The paths of the unit, bound to directories of a test. */
export interface SandboxOptions {
  /**
   * Stands for /run/yank (ReadWritePaths), at its own path: a unix socket's address is the path
   * it was bound at, which ss reports and watch matches, so the path must not change.
   */
  runDir: string;
  /** Bound to /var/lib/node_exporter/textfile (ReadWritePaths). */
  textfileDir: string;
  /** User= (and Group=, its primary group). */
  user: string;
  /** UMask=, in octal. */
  umask: string;
}

// Runs as root in the new mount namespace; $1..$5 are the options, the rest the CLI's argv.
const SCRIPT = String.raw`set -eu
run_dir=$1 text_dir=$2 user=$3 mask=$4 checkout=$5
shift 5
mount -n --bind "$run_dir" "$run_dir"
# The checkout the CLI runs from may sit under /tmp or /root (a CI clone), which the unit hides;
# an installed yank is a binary under /usr. Bind it read-only inside the run dir instead, and
# point the CLI's arguments there.
mkdir -p "$run_dir/.checkout"
mount -n --bind "$checkout" "$run_dir/.checkout"
for arg; do
  case "$arg" in
  "$checkout"/*) arg=$run_dir/.checkout/${"${"}arg#"$checkout"/} ;;
  esac
  set -- "$@" "$arg"
  shift
done
mount -n -t tmpfs -o mode=0755 yank-var-lib /var/lib
mkdir -p /var/lib/node_exporter/textfile
mount -n --bind "$text_dir" /var/lib/node_exporter/textfile
# The CLI's program (deno, which may live under /root) stays reachable, read-only.
program=$run_dir/.program
touch "$program"
mount -n --bind "$1" "$program"
shift
set -- "$program" "$@"
# ProtectSystem=strict: every mount read-only, but the API file systems and ReadWritePaths.
# Namespace handles (nsfs, such as /run/netns/*, which tests beside this one add and remove) are
# no file system to write to; a mount gone meanwhile needs nothing either.
findmnt -rno TARGET,FSTYPE | while read -r m type; do
  case "$m" in
  /proc | /proc/* | /sys | /sys/* | /dev | /dev/* | "$run_dir" | /var/lib/node_exporter/textfile) ;;
  *)
    [ "$type" = nsfs ] && continue
    mount -n -o remount,bind,ro "$m" 2>/dev/null || ! mountpoint -q "$m" ||
      echo "sandbox: cannot make $m read-only" >&2
    ;;
  esac
done
# PrivateDevices=yes: a /dev of the pseudo devices only, a fresh /dev/shm; no /dev/kmsg.
mount -n -t tmpfs yank-stage /mnt
devices=/mnt
for d in null zero full random urandom tty; do touch "$devices/$d"; mount -n --bind "/dev/$d" "$devices/$d"; done
mount -n -t tmpfs -o mode=0755,nosuid yank-dev /dev
for d in null zero full random urandom tty; do touch "/dev/$d"; mount -n --move "$devices/$d" "/dev/$d"; done
mkdir /dev/shm /dev/pts
mount -n -t tmpfs -o mode=1777,nosuid,nodev yank-shm /dev/shm
# ProtectKernelTunables=, ProtectControlGroups=: /proc/sys, /sys (and its cgroup tree) read-only.
for m in /proc/sys /sys /sys/fs/cgroup; do
  mount -n --bind "$m" "$m"
  mount -n -o remount,bind,ro "$m"
done
# ProtectKernelLogs=: no /proc/kmsg (and no /dev/kmsg, above).
mount -n --bind /dev/null /proc/kmsg
# PrivateTmp=yes
mount -n -t tmpfs -o mode=1777 yank-tmp /tmp
mount -n -t tmpfs -o mode=1777 yank-var-tmp /var/tmp
# ProtectHome=yes
mount -n -t tmpfs -o ro,mode=000 yank-home /home
mount -n -t tmpfs -o ro,mode=000 yank-root /root
# ProtectHostname= (a UTS namespace, from unshare --uts), PrivateIPC= (unshare --ipc).
hostname yank-sandbox
# The working directory, like the checkout, may be hidden now (Deno resolves --allow-run there).
cd "$run_dir/.checkout"
umask "$mask"
exec setpriv --reuid="$user" --regid="$user" --init-groups --no-new-privs \
  --bounding-set=-all --inh-caps=-all -- \
  env HOME=/tmp DENO_DIR=/tmp/deno XDG_CACHE_HOME=/tmp bash -c '
    fail() { echo "sandbox: $*" >&2; exit 99; }
    touch /usr/yank-sandbox 2>/dev/null && fail "/usr is writable"
    echo 1 2>/dev/null >/proc/sys/kernel/yama_test && fail "/proc/sys is writable"
    [ -e /dev/kmsg ] && fail "/dev/kmsg is there"
    [ -s /proc/kmsg ] && fail "/proc/kmsg is readable"
    [ "$(hostname)" = yank-sandbox ] || fail "not in a UTS namespace of its own"
    touch /etc/yank-sandbox 2>/dev/null && fail "/etc is writable"
    ls /root >/dev/null 2>&1 && fail "/root is readable"
    [ -z "$(ls -A /tmp)" ] || fail "/tmp is not private"
    grep -q "^CapBnd:\s*0*$" /proc/self/status || fail "capabilities are left"
    grep -q "^NoNewPrivs:\s*1$" /proc/self/status || fail "no_new_privs is not set"
    [ "$(id -u)" != 0 ] || fail "still root"
    echo "sandbox: read-only /, /proc/sys and /sys, pseudo devices only, private /tmp, no /root, uid $(id -u) groups $(id -G), no capabilities, no_new_privs, umask $(umask)" >&2
    exec "$@"' sandbox "$@"
`;

/** The wrapper argv for spawnCli: the CLI then runs confined as described above. */
export function sandboxWrapper(options: SandboxOptions): string[] {
  return [
    "unshare",
    "--mount",
    "--uts",
    "--ipc",
    "--propagation",
    "private",
    "--",
    "bash",
    "-c",
    SCRIPT,
    "sandbox",
    options.runDir,
    options.textfileDir,
    options.user,
    options.umask,
    CHECKOUT,
  ];
}

// Runs as root in a new mount namespace: $1 the user, $2 the capabilities ("" or "+a,+b"), $3 a
// directory of the test's that the user may enter, $4 the checkout; the rest is the CLI's argv.
const AS_USER_SCRIPT = String.raw`set -eu
user=$1 caps=$2 dir=$3 checkout=$4
shift 4
# The checkout and Deno may sit under /root (a CI clone), which QEMU's user cannot enter: bind
# them into the test's directory and point the CLI's arguments there.
mkdir -p "$dir/.checkout" "$dir/.home"
chown "$user" "$dir/.home"
mount -n --bind "$checkout" "$dir/.checkout"
for arg; do
  case "$arg" in
  "$checkout"/*) arg=$dir/.checkout/${"${"}arg#"$checkout"/} ;;
  esac
  set -- "$@" "$arg"
  shift
done
program=$dir/.program
touch "$program"
mount -n --bind "$1" "$program"
shift
cd "$dir/.checkout"
if [ -z "$caps" ]; then
  set -- --bounding-set=-all --inh-caps=-all -- "$program" "$@"
else
  set -- "--bounding-set=-all,$caps" "--inh-caps=-all,$caps" "--ambient-caps=$caps" -- "$program" "$@"
fi
exec env HOME="$dir/.home" DENO_DIR="$dir/.home/deno" XDG_CACHE_HOME="$dir/.home" \
  setpriv --reuid="$user" --regid="$user" --init-groups --no-new-privs "$@"
`;

/**
 * The wrapper argv for runCli that runs the CLI as `user` with only `capabilities` (names such
 * as "dac_read_search"), no_new_privs, and nothing else of root's: what User= and
 * CapabilityBoundingSet=/AmbientCapabilities= give a unit. `dir` is a directory of the test's
 * that `user` may enter (0755).
 */
export function asUserWrapper(user: string, capabilities: string[], dir: string): string[] {
  const caps = capabilities.map((c) => `+${c}`).join(",");
  return [
    "unshare",
    "--mount",
    "--propagation",
    "private",
    "--",
    "bash",
    "-c",
    AS_USER_SCRIPT,
    "as-user",
    user,
    caps,
    dir,
    CHECKOUT,
  ];
}
