// docs/benchmarks.md is written by several benchmarks, each owning one level-2 section; the
// suite (bench/run.ts) owns the preamble between the title and the first section.
import { readFile, writeFile } from 'node:fs/promises';

/** Replaces the section titled `title` (up to the next level-2 heading outside code fences) or appends it. */
export function replaceSectionTitled(document: string, title: string, section: string): string {
  const lines = document.split('\n');
  const start = lines.findIndex((l) => l.trim() === title);
  if (start < 0) {
    const base = document.trimEnd();
    return `${base === '' ? '# Benchmarks\n' : `${base}\n`}\n${section.trimEnd()}\n`;
  }
  let end = lines.length;
  let fenced = false;
  for (let i = start + 1; i < lines.length; i += 1) {
    const line = lines[i] ?? '';
    if (line.startsWith('```')) fenced = !fenced;
    if (!fenced && /^## /.test(line)) {
      end = i;
      break;
    }
  }
  const before = lines.slice(0, start).join('\n');
  const after = lines.slice(end).join('\n');
  return `${before === '' ? '' : `${before}\n`}${section.trimEnd()}\n${after === '' ? '' : `\n${after}`}`;
}

/** Replaces what lies between the "# " title and the first "## " section with `preamble`. */
export function replacePreamble(document: string, preamble: string): string {
  const lines = document.split('\n');
  const titleAt = lines.findIndex((l) => /^# /.test(l));
  const firstSection = lines.findIndex((l) => /^## /.test(l));
  const title = titleAt >= 0 ? (lines[titleAt] ?? '# Benchmarks') : '# Benchmarks';
  const rest = firstSection >= 0 ? lines.slice(firstSection).join('\n') : '';
  return `${title}\n\n${preamble.trimEnd()}\n${rest === '' ? '' : `\n${rest}`}`;
}

/** Rewrites the section titled `title` of the document at `docPath` (created if missing). */
export async function writeSectionTitled(docPath: string, title: string, section: string): Promise<void> {
  const current = await readFile(docPath, 'utf8').catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return '';
    throw error;
  });
  await writeFile(docPath, replaceSectionTitled(current, title, section));
}
