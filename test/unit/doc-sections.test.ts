// Method: docs/benchmarks.md-like documents rewritten section by section, as each benchmark does.
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { replacePreamble, replaceSectionTitled, writeSectionTitled } from '../../bench/doc-sections.js';

const doc = ['# Benchmarks', '', 'preamble', '', '## Change log', '', 'old log', '', '## Data path', '', '```', '## not a heading', '```', 'old path', '', '## Resync', '', 'old resync', ''].join('\n');

describe('bench/doc-sections', () => {
  it('replaces one section and keeps the others, a heading inside a code fence included', () => {
    const out = replaceSectionTitled(doc, '## Data path', '## Data path\n\nnew path\n');
    expect(out).toContain('old log');
    expect(out).toContain('new path');
    expect(out).not.toContain('old path');
    expect(out).not.toContain('## not a heading');
    expect(out).toContain('## Resync\n\nold resync');
    expect(replaceSectionTitled(out, '## Data path', '## Data path\n\nnew path\n')).toBe(out);
  });

  it('appends a section the document lacks, and starts a document that is empty', () => {
    expect(replaceSectionTitled(doc, '## Soak', '## Soak\n\nnew')).toMatch(/old resync\n\n## Soak\n\nnew\n$/);
    expect(replaceSectionTitled('', '## Soak', '## Soak\n\nnew')).toBe('# Benchmarks\n\n## Soak\n\nnew\n');
  });

  it('replaces the preamble only', () => {
    expect(replacePreamble(doc, 'machine and method')).toBe(doc.replace('preamble', 'machine and method'));
  });

  it('writes a section into a file, creating it when missing', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'bunker-doc-sections-'));
    try {
      const path = join(dir, 'benchmarks.md');
      await writeSectionTitled(path, '## Change log', '## Change log\n\nfirst\n');
      await writeFile(path, `${await readFile(path, 'utf8')}\n## Data path\n\nkept\n`);
      await writeSectionTitled(path, '## Change log', '## Change log\n\nsecond\n');
      expect(await readFile(path, 'utf8')).toBe('# Benchmarks\n\n## Change log\n\nsecond\n\n## Data path\n\nkept\n');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
