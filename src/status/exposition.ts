//! The Prometheus text exposition format 0.0.4: metric families, counters, escaping and rendering.
// Written by hand instead of pulling in prom-client: a dozen families do not justify a dependency.
// What the gateway counts and measures is metrics.ts; this file only knows the format.

export type MetricType = 'counter' | 'gauge';
export interface Sample {
  labels: Readonly<Record<string, string>>;
  value: number;
}
export interface MetricFamily {
  name: string;
  help: string;
  type: MetricType;
  samples: readonly Sample[];
}

/** The content type Prometheus expects for the 0.0.4 text format. */
export const METRICS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';
const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

export interface Counter {
  inc(labelValues: readonly string[], by?: number): void;
  family(): MetricFamily;
}

/** A counter family keyed by the ordered values of `labelNames`. */
export function counter(name: string, help: string, labelNames: readonly string[]): Counter {
  const values = new Map<string, { labels: Record<string, string>; value: number }>();
  return {
    inc(labelValues, by = 1) {
      // NUL cannot occur in our label values, so it separates them without ambiguity.
      const key = labelValues.join('\u0000');
      let s = values.get(key);
      if (!s) {
        const labels: Record<string, string> = {};
        labelNames.forEach((n, i) => (labels[n] = labelValues[i] ?? ''));
        values.set(key, (s = { labels, value: 0 }));
      }
      s.value += by;
    },
    family: () => ({ name, help, type: 'counter', samples: [...values.values()] }),
  };
}

/** Renders families in the 0.0.4 text format; throws on an invalid metric or label name (a bug). */
export function renderExposition(families: readonly MetricFamily[]): string {
  const lines: string[] = [];
  for (const f of families) {
    if (!METRIC_NAME.test(f.name)) {
      throw new Error(`Invalid metric name ${f.name}`);
    }
    lines.push(`# HELP ${f.name} ${escapeHelp(f.help)}`, `# TYPE ${f.name} ${f.type}`);
    for (const s of f.samples) {
      const labels = Object.entries(s.labels).map(([k, v]) => {
        if (!LABEL_NAME.test(k) || k.startsWith('__')) {
          throw new Error(`Invalid label name ${k}`);
        }
        return `${k}="${escapeLabelValue(v)}"`;
      });
      lines.push(`${f.name}${labels.length ? `{${labels.join(',')}}` : ''} ${formatValue(s.value)}`);
    }
  }
  return lines.join('\n') + '\n';
}

/** HELP text: backslash and line feed are escaped. */
export function escapeHelp(s: string): string {
  return s.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}

/** Label values: backslash, double quote and line feed are escaped. */
export function escapeLabelValue(s: string): string {
  return s.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

/** Go-parsable floats: Prometheus spells the specials `+Inf`, `-Inf`, `NaN`. */
export function formatValue(v: number): string {
  if (Number.isNaN(v)) {
    return 'NaN';
  }
  if (v === Infinity) {
    return '+Inf';
  }
  if (v === -Infinity) {
    return '-Inf';
  }
  return String(v);
}
