// The benchmark charts (bench/plots/plots.ts) render headless to SVG with vega + vega-lite: a
// small dataset per chart must give a well-formed SVG document that carries the axis titles, so
// a broken or incompatible chart library fails CI rather than the next benchmark run.
import { farLinkChart, takeoverChart, timelineChart } from '../../bench/plots/plots.js';

/** Checks XML well-formedness (tags nest and close, attributes quoted); returns the root element's name. */
function parseXml(text: string): string {
  let at = 0;
  const stack: string[] = [];
  let root = '';
  const fail = (why: string): never => { throw new Error(`malformed XML at ${at}: ${why}: ${JSON.stringify(text.slice(at, at + 60))}`); };
  while (at < text.length) {
    const open = text.indexOf('<', at);
    if (open < 0) {
      if (text.slice(at).trim() !== '') fail('text after the root element');
      break;
    }
    if (stack.length === 0 && text.slice(at, open).trim() !== '') fail('text outside the root element');
    at = open;
    if (text.startsWith('<?', at)) {
      const end = text.indexOf('?>', at);
      if (end < 0) fail('unclosed declaration');
      at = end + 2;
    } else if (text.startsWith('<!--', at)) {
      const end = text.indexOf('-->', at);
      if (end < 0) fail('unclosed comment');
      at = end + 3;
    } else if (text.startsWith('</', at)) {
      const match = /^<\/([A-Za-z_][\w:.-]*)\s*>/.exec(text.slice(at));
      if (match === null) fail('bad closing tag');
      const name = match?.[1] ?? '';
      if (stack.pop() !== name) fail(`closing ${name} does not match`);
      at += match?.[0].length ?? 0;
    } else {
      const match = /^<([A-Za-z_][\w:.-]*)((?:\s+[A-Za-z_][\w:.-]*\s*=\s*(?:"[^"<]*"|'[^'<]*'))*)\s*(\/?)>/.exec(text.slice(at));
      if (match === null) fail('bad opening tag');
      const name = match?.[1] ?? '';
      if (stack.length === 0) {
        if (root !== '') fail('second root element');
        root = name;
      }
      if (match?.[3] !== '/') stack.push(name);
      at += match?.[0].length ?? 0;
    }
  }
  if (stack.length > 0) throw new Error(`unclosed elements: ${stack.join(' > ')}`);
  if (root === '') throw new Error('no root element');
  return root;
}

/** Text content of the SVG's <text> elements, entities decoded. */
function texts(svg: string): string[] {
  return [...svg.matchAll(/<text[^>]*>([^<]*)<\/text>/g)].map((m) => (m[1] ?? '').replaceAll('&amp;', '&').replaceAll('&lt;', '<').replaceAll('&gt;', '>').replaceAll('&#x27;', "'").replaceAll('&quot;', '"'));
}

describe('benchmark charts', () => {
  it('renders takeover time vs backlog as SVG with its axis titles', async () => {
    const svg = await takeoverChart([
      { backlogMiB: 0, series: 'kill → serving', seconds: 3.1 },
      { backlogMiB: 16, series: 'kill → serving', seconds: 4.2 },
      { backlogMiB: 0, series: 'durationSeconds', seconds: 0.4 },
      { backlogMiB: 16, series: 'durationSeconds', seconds: 1.5 },
    ], 7);
    expect(parseXml(svg)).toBe('svg');
    expect(texts(svg)).toEqual(expect.arrayContaining(['bunker backlog (MiB)', 'seconds']));
    expect(svg).toMatch(/<path[^>]* d="M[^"]+"/);
  });

  it('renders the write time series with its axis titles and event labels', async () => {
    const buckets = Array.from({ length: 50 }, (_, i) => ({ t: i / 10, iops: i >= 20 && i < 30 ? 0 : 300, ...(i >= 20 && i < 30 ? {} : { latencyMs: 3 }) }));
    const svg = await timelineChart(buckets, [{ t: 2, label: 'primary killed' }], 100);
    expect(parseXml(svg)).toBe('svg');
    expect(texts(svg)).toEqual(expect.arrayContaining(['seconds since the first write', 'write IOPS (higher is better)', 'primary killed']));
  });

  it('renders latency and lag against far-link delay with its axis titles', async () => {
    const svg = await farLinkChart([
      { delayMs: 0, p50Ms: 2, p99Ms: 6, lagEntries: 12, lagSeconds: 0.01 },
      { delayMs: 20, p50Ms: 2.1, p99Ms: 6.5, lagEntries: 200, lagSeconds: 0.05 },
    ]);
    expect(parseXml(svg)).toBe('svg');
    expect(texts(svg)).toEqual(expect.arrayContaining(['far-link delay, ms each way', 'primary write latency, ms (lower is better)', 'secondary lag, s (mean; lower is better)', 'secondary lag, entries (mean; lower is better)']));
  });

  it('rejects malformed XML (the checker itself works)', () => {
    expect(() => parseXml('<svg><g></svg>')).toThrow();
    expect(() => parseXml('<svg a=b></svg>')).toThrow();
  });
});
