/**
 * Turning textfiles a real `yank watch` wrote into `promtool test rules` input: each captured
 * textfile becomes the scrapes of some minutes, as node_exporter would serve it, and promtool
 * evaluates the shipped alerting rules over them. Also reads the rules file's alerts and
 * annotations (the subset of YAML it is written in), so a test can expect the text it renders.
 */

/** One sample line of a textfile: the series as PromQL writes it, and its value. */
export interface TextfileSample {
  name: string;
  /** `label="value"` pairs as the textfile escapes them (PromQL escapes the same way). */
  labels: string[];
  value: string;
}

/** A textfile captured at a moment, and whether the watch kept rewriting it afterwards. */
export interface Capture {
  name: string;
  text: string;
  samples: TextfileSample[];
  /** Whether the file's mtime moved after the capture: a running watch rewrites it. */
  rewritten: boolean;
}

/** The samples of a textfile in the text exposition format (comments skipped). */
export function parseTextfile(text: string): TextfileSample[] {
  const samples: TextfileSample[] = [];
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (match === null) throw new Error(`not a sample line: ${line}`);
    const labels = [...(match[2] ?? "").matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)]
      .map((m) => `${m[1]}="${m[2]}"`);
    samples.push({ name: match[1]!, labels, value: match[3]! });
  }
  return samples;
}

/** The value of the sample of `name` whose labels include every one of `labels`. */
export function sampleValue(
  capture: Pick<Capture, "samples">,
  name: string,
  labels: Record<string, string>,
): number | undefined {
  const wanted = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  const sample = capture.samples.find((s) =>
    s.name === name && wanted.every((pair) => s.labels.includes(pair))
  );
  return sample === undefined ? undefined : Number(sample.value);
}

/** The labels node_exporter and Prometheus add to every series of a textfile. */
export const SCRAPE_LABELS = ['instance="host1:9100"', 'job="node"'];

/**
 * promtool input series for a timeline of captures, each held for some one-minute scrapes: a
 * series absent from a scrape after being present gets a staleness marker, as Prometheus
 * records it. `node_textfile_mtime_seconds{file}` follows what node_exporter would report: the
 * time of each scrape while the watch rewrote the file, else the time the capture was written.
 */
export function inputSeries(
  timeline: readonly [Capture, number][],
  file: string,
): { series: string; values: string }[] {
  const steps = timeline.flatMap(([capture, minutes]) => Array(minutes).fill(capture) as Capture[]);
  const keys = new Map<string, (string | undefined)[]>();
  steps.forEach((capture, step) => {
    for (const sample of capture.samples) {
      const key = `${sample.name}{${[...SCRAPE_LABELS, ...sample.labels].join(",")}}`;
      if (!keys.has(key)) keys.set(key, Array(steps.length).fill(undefined));
      keys.get(key)![step] = sample.value;
    }
  });
  const series = [...keys].map(([key, values]) => ({
    series: key,
    values: values.map((value, step) =>
      value ?? (step > 0 && values[step - 1] !== undefined ? "stale" : "_")
    ).join(" "),
  }));
  let mtime = 0;
  const mtimes = steps.map((capture, step) => {
    if (capture.rewritten || step === 0 || steps[step - 1] !== capture) mtime = step * 60;
    return String(mtime);
  });
  series.push({
    series: `node_textfile_mtime_seconds{${[...SCRAPE_LABELS, `file="${file}"`].join(",")}}`,
    values: mtimes.join(" "),
  });
  return series;
}

/** An alert of the rules file: its name, severity and annotation templates. */
export interface RuleAlert {
  alert: string;
  severity: string;
  annotations: Record<string, string>;
}

/**
 * The alerts of a rules file written as docs/monitoring/yank.rules.yml is: `- alert:` items with
 * `labels:` and `annotations:` maps whose values are double-quoted or folded (`>-`) scalars.
 */
export function readRuleAlerts(yaml: string): RuleAlert[] {
  const alerts: RuleAlert[] = [];
  const lines = yaml.split("\n");
  let current: RuleAlert | undefined;
  let section = "";
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    const alert = /^\s*- alert: (\S+)$/.exec(line);
    if (alert) {
      current = { alert: alert[1]!, severity: "", annotations: {} };
      alerts.push(current);
      section = "";
      continue;
    }
    if (current === undefined) continue;
    const key = /^(\s*)([a-z_]+):\s*(.*)$/.exec(line);
    if (key === null) continue;
    const [, indent, name, rest] = key as unknown as [string, string, string, string];
    if (rest === "") {
      section = name;
      continue;
    }
    // A key at the rule's own level (expr, for) ends the labels or annotations before it.
    if (indent.length <= 8) section = "";
    let value = rest;
    if (rest === ">-") {
      const folded: string[] = [];
      while (i + 1 < lines.length && /^\s*$/.test(lines[i + 1]!) === false) {
        const next = lines[i + 1]!;
        if (next.length - next.trimStart().length <= indent.length) break;
        folded.push(next.trim());
        i++;
      }
      value = folded.join(" ");
    } else if (rest.startsWith('"')) {
      value = JSON.parse(rest);
    }
    if (section === "annotations") current.annotations[name] = value;
    if (section === "labels" && name === "severity") current.severity = value;
  }
  return alerts;
}

/**
 * Renders an annotation template as Prometheus does for the templates the rules use:
 * `{{ $labels.NAME }}`, and `{{ $value | ... }}` replaced by `value` as the test expects it.
 */
export function renderTemplate(
  template: string,
  labels: Record<string, string>,
  value = "",
): string {
  return template.replace(/\{\{ *\$labels\.([a-z_]+) *\}\}/g, (_, name) => {
    const label = labels[name];
    if (label === undefined) throw new Error(`no label ${name} for ${template}`);
    return label;
  }).replace(/\{\{ *\$value[^}]*\}\}/g, value);
}

/** Runs `promtool test rules` on a test file; the output says what failed. */
export async function promtoolTestRules(path: string): Promise<{ ok: boolean; output: string }> {
  const output = await new Deno.Command("promtool", {
    args: ["test", "rules", path],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const decoder = new TextDecoder();
  return {
    ok: output.success,
    output: `${decoder.decode(output.stdout)}${decoder.decode(output.stderr)}`,
  };
}
