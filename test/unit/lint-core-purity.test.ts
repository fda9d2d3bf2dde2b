// The lint rule that keeps the replication core deterministic must be live: lint an impure
// fixture as if it lived in the core folder and expect each rule to fire; lint the same
// text outside the core and expect none of them.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { ESLint } from 'eslint';

const root = fileURLToPath(new URL('../..', import.meta.url));
const fixture = readFileSync(fileURLToPath(new URL('../fixtures/lint/impure-core.ts', import.meta.url)), 'utf8');

async function ruleIdsFor(filePath: string): Promise<string[]> {
  const eslint = new ESLint({ cwd: root });
  const [result] = await eslint.lintText(fixture, { filePath });
  return (result?.messages ?? []).map((m) => m.ruleId ?? 'parse-error');
}

describe('core purity lint', () => {
  it('rejects node:* imports, clocks, randomness and await in agent/src/replication', async () => {
    const ids = await ruleIdsFor(`${root}/agent/src/replication/impure.ts`);
    expect(ids).toEqual(expect.arrayContaining(['no-restricted-imports', 'no-restricted-globals', 'no-restricted-syntax']));
    expect(ids.filter((id) => id === 'no-restricted-syntax').length).toBeGreaterThanOrEqual(3);
  }, 60_000);

  it('applies to operator/src/failover too', async () => {
    const ids = await ruleIdsFor(`${root}/operator/src/failover/impure.ts`);
    expect(ids).toContain('no-restricted-imports');
  }, 60_000);

  it('leaves I/O code outside the core alone', async () => {
    const ids = await ruleIdsFor(`${root}/agent/src/log/io.ts`);
    expect(ids.filter((id) => id.startsWith('no-restricted'))).toEqual([]);
  }, 60_000);
});
