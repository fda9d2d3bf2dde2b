// A diagnostic target for the data-path benchmark: the agent's own NBD server (the built code
// in agent/dist, as the agent binary runs it) serving a plain file, with no replication and no
// change log. Writes land in the page cache like `nbdkit file`; so the gap between this and
// nbdkit is the cost of the NBD front end in Node, and the gap between this and Bunker is the
// cost of the write path behind it (log, bunker round trip, apply).
//
// Usage: node --import tsx bench/datapath/file-export-server.ts FILE SIZE_BYTES
// Prints one JSON line {"msg":"ready","port":N} and serves until SIGTERM.
import { FileBlockDevice, NbdServer } from '../../agent/dist/nbd/index.js';

async function main(): Promise<void> {
  const [path, size] = process.argv.slice(2);
  if (path === undefined || size === undefined) throw new Error('usage: file-export-server.ts FILE SIZE_BYTES');
  const device = await FileBlockDevice.open({ path, sizeBytes: Number(size) });
  const server = new NbdServer({});
  server.addExport('file', device, { description: 'plain file, no replication' });
  const { port } = await server.listen(0, '127.0.0.1');
  process.stdout.write(`${JSON.stringify({ msg: 'ready', port })}\n`);
  const stop = (): void => {
    server.close({ signal: AbortSignal.timeout(5_000) }).then(() => device.close()).then(
      () => undefined,
      (error: unknown) => {
        process.stderr.write(`file-export-server: ${String(error)}\n`);
        process.exitCode = 1;
      },
    );
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}

main().catch((error: unknown) => {
  process.stderr.write(`file-export-server: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 1;
});
