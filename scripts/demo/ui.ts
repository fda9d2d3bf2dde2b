// How the demo talks: numbered steps with their duration, indented detail lines wrapped to
// fit a 100-column terminal, and a clear failure line naming the step that failed.
export const WIDTH = 100;

const tty = process.stdout.isTTY === true;
const bold = (text: string): string => (tty ? `\u001b[1m${text}\u001b[0m` : text);

let current: { title: string; startedAt: number } | undefined;
const storyStartedAt = Date.now();

/** Wraps `text` to `width` columns, continuing lines with `indent`. */
export function wrap(text: string, width = WIDTH, indent = ''): string {
  const out: string[] = [];
  for (const paragraph of text.split('\n')) {
    const lead = /^ */.exec(paragraph)?.[0] ?? '';
    let line = lead;
    for (const word of paragraph.slice(lead.length).split(' ')) {
      if (line.trim() !== '' && line.length + 1 + word.length > width) {
        out.push(line);
        line = indent + word;
      } else {
        line = line.trim() === '' ? `${line}${word}` : `${line} ${word}`;
      }
    }
    out.push(line);
  }
  return out.join('\n');
}

export function write(text: string): void {
  process.stdout.write(`${text}\n`);
}

/** A detail line under the current step; wrapped lines hang by `hang` columns more. */
export function say(text: string, hang = 2): void {
  const lead = /^ */.exec(text)?.[0].length ?? 0;
  write(wrap(`  ${text}`, WIDTH, ' '.repeat(2 + lead + hang)));
}

/** A timeline line: `+12.3s what happened`, wrapped lines aligned under what happened. */
export function sayAt(time: string, text: string): void {
  write(wrap(`  ${time} ${text}`, WIDTH, ' '.repeat(3 + time.length)));
}

/** Runs one numbered step of the story; a failure names the step, then propagates. */
export async function step<T>(number: string, title: string, body: () => Promise<T>): Promise<T> {
  current = { title: `${number}. ${title}`, startedAt: Date.now() };
  write('');
  write(bold(wrap(`\u25b6 ${number}. ${title}`, WIDTH, '    ')));
  try {
    const result = await body();
    say(`done in ${((Date.now() - current.startedAt) / 1000).toFixed(1)} s`);
    return result;
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    const failed = new Error(`step ${number} (${title}) failed: ${message}`);
    (failed as Error & { reported?: boolean }).reported = true;
    write(wrap(`\u2717 step ${number} (${title}) failed after ${((Date.now() - current.startedAt) / 1000).toFixed(1)} s:`, WIDTH, '    '));
    for (const line of message.split('\n').slice(0, 30)) write(wrap(`    ${line}`, WIDTH, '      '));
    throw failed;
  }
}

/** Seconds since the demo started, for the final line. */
export function elapsedSeconds(): number {
  return (Date.now() - storyStartedAt) / 1000;
}

export function isTty(): boolean {
  return tty;
}
