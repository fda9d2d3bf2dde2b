// Preloaded into an agent by the data-path benchmark (NODE_OPTIONS=--import=<this file>;
// Node 20 refuses --cpu-prof in NODE_OPTIONS). With BENCH_CPU_PROFILE_DIR set, SIGUSR2 starts
// the V8 sampling profiler and the next SIGUSR2 stops it and writes
// <dir>/<BENCH_CPU_PROFILE_NAME>-<n>.cpuprofile (written to a temporary name, then renamed), so
// the benchmark can profile exactly the window it measures. Without the variable it does nothing.
import { Session } from 'node:inspector';
import { renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const dir = process.env.BENCH_CPU_PROFILE_DIR;
const name = process.env.BENCH_CPU_PROFILE_NAME ?? `pid-${process.pid}`;

if (dir !== undefined && dir !== '') {
  const session = new Session();
  session.connect();
  session.post('Profiler.enable');
  session.post('Profiler.setSamplingInterval', { interval: 1000 });
  let running = false;
  let count = 0;
  process.on('SIGUSR2', () => {
    if (!running) {
      running = true;
      session.post('Profiler.start');
      return;
    }
    running = false;
    session.post('Profiler.stop', (error, result) => {
      if (error !== null && error !== undefined) {
        process.stderr.write(`cpu-profiler: ${String(error)}\n`);
        return;
      }
      count += 1;
      const path = join(dir, `${name}-${count}.cpuprofile`);
      writeFileSync(`${path}.partial`, JSON.stringify(result.profile));
      renameSync(`${path}.partial`, path);
    });
  });
}
