// The module's public surface stays what docs/log.md documents.
import * as log from './index.js';

describe('agent/src/log public surface', () => {
  it('exports the log, the change map, the storages and the error', () => {
    expect(Object.keys(log).sort()).toEqual(['ChangeLog', 'ChangeMap', 'FileStorage', 'LogError', 'MemoryStorage', 'seededRandom']);
  });
});
