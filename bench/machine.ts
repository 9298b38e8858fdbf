/**
 * What the numbers came from: CPU, cores, memory, Deno and QEMU versions, and the load average
 * (other work on the machine makes every ratio noisier).
 */

/** A description of the machine, for the report and the JSON result. */
export interface Machine {
  cpu: string;
  cores: number;
  memoryGiB: number;
  deno: string;
  qemu: string;
  loadAverage: string;
}

async function output(program: string, args: string[]): Promise<string> {
  try {
    const run = await new Deno.Command(program, { args, stdout: "piped", stderr: "null" })
      .output();
    return new TextDecoder().decode(run.stdout).trim();
  } catch {
    return "unknown";
  }
}

/** Reads /proc and asks QEMU for its version. */
export async function describeMachine(): Promise<Machine> {
  const cpuinfo = await Deno.readTextFile("/proc/cpuinfo").catch(() => "");
  const meminfo = await Deno.readTextFile("/proc/meminfo").catch(() => "");
  const loadavg = await Deno.readTextFile("/proc/loadavg").catch(() => "");
  const memKiB = Number(/^MemTotal:\s+(\d+)/m.exec(meminfo)?.[1] ?? NaN);
  const qemu = (await output("qemu-system-x86_64", ["--version"])).split("\n")[0] ?? "unknown";
  return {
    cpu: /^model name\s*:\s*(.*)$/m.exec(cpuinfo)?.[1]?.trim() ?? "unknown",
    cores: navigator.hardwareConcurrency,
    memoryGiB: Math.round(memKiB / 1024 / 1024 * 10) / 10,
    deno: `Deno ${Deno.version.deno}`,
    qemu,
    loadAverage: loadavg.split(" ").slice(0, 3).join(" "),
  };
}
