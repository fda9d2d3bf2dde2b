// Charts for docs/benchmarks.md: Vega-Lite specifications compiled to Vega and rendered to SVG
// headless (vega's View with renderer "none" and toSVG(): no browser, no canvas). Each chart
// function takes plain rows and returns the SVG text; the benchmarks write it under docs/img/.
import { parse, View } from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';

/** Renders a Vega-Lite specification to an SVG document. */
export async function renderSvg(spec: TopLevelSpec): Promise<string> {
  const { spec: vegaSpec } = compile(spec);
  const view = new View(parse(vegaSpec), { renderer: 'none' });
  try {
    const svg = await view.toSVG();
    return svg.startsWith('<?xml') ? svg : `<?xml version="1.0" encoding="UTF-8"?>\n${svg}\n`;
  } finally {
    view.finalize();
  }
}

const base = {
  $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
  background: 'white',
  width: 520,
  height: 260,
  config: { font: 'sans-serif', axis: { labelFontSize: 11, titleFontSize: 12 }, legend: { labelFontSize: 11, titleFontSize: 12, labelLimit: 0 } },
} as const;

export interface TakeoverPoint {
  readonly backlogMiB: number;
  /** "kill → serving (measured)" or "durationSeconds (operator)". */
  readonly series: string;
  readonly seconds: number;
}

/** Takeover time against the bunker's backlog, one line per series, with the goal as a rule. */
export function takeoverChart(points: readonly TakeoverPoint[], goalSeconds: number): Promise<string> {
  return renderSvg({
    ...base,
    title: `Takeover time vs bunker backlog (goal ≤ ${goalSeconds} s at 64 MiB; lower is better)`,
    layer: [
      {
        data: { values: points.map((p) => ({ ...p })) },
        mark: { type: 'line', point: true },
        encoding: {
          x: { field: 'backlogMiB', type: 'quantitative', title: 'bunker backlog (MiB)' },
          y: { field: 'seconds', type: 'quantitative', title: 'seconds' },
          color: { field: 'series', type: 'nominal', title: null, legend: { orient: 'top-left' } },
        },
      },
      {
        data: { values: [{ goal: goalSeconds, label: `goal (grace + 5 s) = ${goalSeconds} s` }] },
        layer: [
          { mark: { type: 'rule', strokeDash: [6, 4], color: '#c0392b' }, encoding: { y: { field: 'goal', type: 'quantitative' } } },
          { mark: { type: 'text', align: 'right', dy: -6, color: '#c0392b', x: 'width' }, encoding: { y: { field: 'goal', type: 'quantitative' }, text: { field: 'label' } } },
        ],
      },
    ],
  } as TopLevelSpec);
}

export interface TimelineBucket {
  /** Seconds since the writer's first write. */
  readonly t: number;
  readonly iops: number;
  /** Mean completion latency of the writes acknowledged in the bucket, ms (absent: none). */
  readonly latencyMs?: number;
}

export interface TimelineEvent {
  readonly t: number;
  readonly label: string;
}

/** Write IOPS and latency per bucket over time, with the events (kill, failback, migrate) as rules. */
export function timelineChart(buckets: readonly TimelineBucket[], events: readonly TimelineEvent[], bucketMs: number): Promise<string> {
  const eventLayer = {
    data: { values: events.map((e) => ({ ...e })) },
    layer: [
      { mark: { type: 'rule', color: '#c0392b', strokeDash: [4, 3] }, encoding: { x: { field: 't', type: 'quantitative' } } },
      { mark: { type: 'text', angle: 270, align: 'right', baseline: 'bottom', dx: -4, dy: -2, y: 0, fontSize: 10, color: '#c0392b' }, encoding: { x: { field: 't', type: 'quantitative' }, text: { field: 'label' } } },
    ],
  };
  const values = buckets.map((b) => ({ t: b.t, iops: b.iops, latencyMs: b.latencyMs ?? null }));
  return renderSvg({
    ...base,
    title: `Consumer's writes (QD1, 4 KiB) per ${bucketMs} ms bucket across a takeover, a failback and a migration`,
    vconcat: [
      {
        width: 720, height: 180,
        layer: [
          {
            data: { values },
            mark: { type: 'area', interpolate: 'step-after', opacity: 0.8, line: true },
            encoding: {
              x: { field: 't', type: 'quantitative', title: 'seconds since the first write' },
              y: { field: 'iops', type: 'quantitative', title: 'write IOPS (higher is better)' },
            },
          },
          eventLayer,
        ],
      },
      {
        width: 720, height: 140,
        layer: [
          {
            data: { values },
            mark: { type: 'point', filled: true, size: 12 },
            encoding: {
              x: { field: 't', type: 'quantitative', title: 'seconds since the first write' },
              y: { field: 'latencyMs', type: 'quantitative', title: 'mean write latency, ms (log; lower is better)', scale: { type: 'log' } },
            },
          },
          eventLayer,
        ],
      },
    ],
  } as TopLevelSpec);
}

export interface FarLinkPoint {
  readonly delayMs: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly lagEntries: number;
  readonly lagSeconds: number;
}

/** Primary write latency (p50, p99) and the secondary's lag (seconds, entries) against the far link's one-way delay. */
export function farLinkChart(points: readonly FarLinkPoint[]): Promise<string> {
  const latency = points.flatMap((p) => [
    { delayMs: p.delayMs, series: 'primary write p50', ms: p.p50Ms },
    { delayMs: p.delayMs, series: 'primary write p99', ms: p.p99Ms },
  ]);
  const rows = points.map((p) => ({ ...p }));
  const x = { field: 'delayMs', type: 'quantitative', title: 'far-link delay, ms each way' } as const;
  return renderSvg({
    ...base,
    title: 'Far-link delay (primary ↔ secondary): primary latency must stay flat, the secondary\'s lag grows',
    hconcat: [
      {
        width: 260, height: 220,
        data: { values: latency },
        mark: { type: 'line', point: true },
        encoding: {
          x,
          y: { field: 'ms', type: 'quantitative', title: 'primary write latency, ms (lower is better)' },
          color: { field: 'series', type: 'nominal', title: null, legend: { orient: 'top' } },
        },
      },
      {
        width: 220, height: 220,
        data: { values: rows },
        mark: { type: 'line', point: true, color: '#e67e22' },
        encoding: { x, y: { field: 'lagSeconds', type: 'quantitative', title: 'secondary lag, s (mean; lower is better)' } },
      },
      {
        width: 220, height: 220,
        data: { values: rows },
        mark: { type: 'line', point: true, color: '#8e44ad' },
        encoding: { x, y: { field: 'lagEntries', type: 'quantitative', title: 'secondary lag, entries (mean; lower is better)' } },
      },
    ],
  } as TopLevelSpec);
}
