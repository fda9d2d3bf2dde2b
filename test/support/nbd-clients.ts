// Helpers to talk to the NBD server from tests: a raw-socket client that can send anything,
// including what no real client would (bad magic, unknown commands, truncated messages), a
// runner for the real Debian clients (nbdinfo, nbdcopy, nbdsh, fio, qemu-img, qemu-io) with a
// time limit on every run, and a file-backed export on a loopback port.
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileBlockDevice } from '../../agent/src/nbd/file-block-device.js';
import { NbdServer, type NbdServerOptions } from '../../agent/src/nbd/nbd-server.js';
import {
  NBD_INFO_BLOCK_SIZE,
  NBD_INFO_EXPORT,
  NBD_OPTION_MAGIC,
  NBD_OPT_GO,
  NBD_REP_ACK,
  NBD_REP_INFO,
  NBD_REQUEST_MAGIC,
} from '../../agent/src/nbd/protocol-constants.js';

export interface OptionReply {
  readonly option: number;
  readonly type: number;
  readonly data: Buffer;
}

export interface SimpleReply {
  readonly magic: number;
  readonly errno: number;
  readonly cookie: bigint;
  readonly data: Buffer;
}

export interface RequestFields {
  readonly type: number;
  readonly flags?: number;
  readonly cookie?: bigint;
  readonly offset?: bigint;
  readonly length?: number;
  readonly magic?: number;
}

/** A client that speaks raw bytes; every wait is bounded so a broken server fails the test, not hangs it. */
export class RawNbdClient {
  private buffered = Buffer.alloc(0);
  private ended = false;
  private waiter: (() => void) | null = null;
  readonly closed: Promise<void>;

  private constructor(readonly socket: Socket) {
    socket.on('data', (chunk: Buffer) => {
      this.buffered = Buffer.concat([this.buffered, chunk]);
      this.notify();
    });
    socket.on('error', () => undefined);
    this.closed = new Promise((resolve) => socket.once('close', () => {
      this.ended = true;
      this.notify();
      resolve();
    }));
    socket.once('end', () => {
      this.ended = true;
      this.notify();
    });
  }

  static connect(port: number, host = '127.0.0.1'): Promise<RawNbdClient> {
    return new Promise((resolve, reject) => {
      const socket = connect({ port, host, noDelay: true });
      socket.once('connect', () => resolve(new RawNbdClient(socket)));
      socket.once('error', reject);
    });
  }

  /** Connects, reads the greeting, sends client flags (fixed newstyle + no zeroes by default). */
  static async handshake(port: number, clientFlags = 0b11): Promise<{ client: RawNbdClient; greeting: Buffer }> {
    const client = await RawNbdClient.connect(port);
    const greeting = await client.read(18);
    client.write(u32(clientFlags));
    return { client, greeting };
  }

  write(bytes: Uint8Array): void {
    this.socket.write(bytes);
  }

  async read(length: number, timeoutMs = 5_000): Promise<Buffer> {
    const deadline = Date.now() + timeoutMs;
    while (this.buffered.length < length) {
      if (this.ended) throw new Error(`connection ended with ${this.buffered.length} of ${length} bytes`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for ${length} bytes (have ${this.buffered.length})`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiter = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
    const bytes = this.buffered.subarray(0, length);
    this.buffered = this.buffered.subarray(length);
    return Buffer.from(bytes);
  }

  /** Resolves true if the server closes the connection within `timeoutMs` (nothing else may arrive). */
  async closedByServer(timeoutMs = 5_000): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<false>((resolve) => {
      timer = setTimeout(() => resolve(false), timeoutMs);
    });
    const result = await Promise.race([this.closed.then(() => true as const), timedOut]);
    clearTimeout(timer);
    return result && this.buffered.length === 0;
  }

  sendOption(option: number, data: Uint8Array = new Uint8Array(0)): void {
    const header = Buffer.alloc(16);
    header.writeBigUInt64BE(NBD_OPTION_MAGIC, 0);
    header.writeUInt32BE(option, 8);
    header.writeUInt32BE(data.length, 12);
    this.write(Buffer.concat([header, data]));
  }

  async readOptionReply(): Promise<OptionReply> {
    const header = await this.read(20);
    const length = header.readUInt32BE(16);
    return { option: header.readUInt32BE(8), type: header.readUInt32BE(12), data: await this.read(length) };
  }

  /** NBD_OPT_GO for `name`; returns every reply up to and including the final one. */
  async go(name: string, infoTypes: readonly number[] = [NBD_INFO_BLOCK_SIZE]): Promise<OptionReply[]> {
    this.sendOption(NBD_OPT_GO, goData(name, infoTypes));
    const replies: OptionReply[] = [];
    for (;;) {
      const reply = await this.readOptionReply();
      replies.push(reply);
      if (reply.type !== NBD_REP_INFO) return replies;
    }
  }

  /** Handshake + GO; throws unless the server accepted the export. */
  static async transmission(port: number, name: string): Promise<{ client: RawNbdClient; sizeBytes: bigint; flags: number }> {
    const { client } = await RawNbdClient.handshake(port);
    const replies = await client.go(name);
    const last = replies.at(-1);
    if (last?.type !== NBD_REP_ACK) throw new Error(`GO ${name} refused with reply type ${last?.type}`);
    const exportInfo = replies.find((reply) => reply.type === NBD_REP_INFO && reply.data.readUInt16BE(0) === NBD_INFO_EXPORT);
    if (exportInfo === undefined) throw new Error('GO succeeded without NBD_INFO_EXPORT');
    return { client, sizeBytes: exportInfo.data.readBigUInt64BE(2), flags: exportInfo.data.readUInt16BE(10) };
  }

  sendRequest(fields: RequestFields, payload: Uint8Array = new Uint8Array(0)): void {
    this.write(Buffer.concat([encodeRequest(fields), payload]));
  }

  /** Reads a simple reply; `dataBytes` of data follow it when the reply is a successful read. */
  async readSimpleReply(dataBytes = 0): Promise<SimpleReply> {
    const header = await this.read(16);
    const errno = header.readUInt32BE(4);
    const data = errno === 0 && dataBytes > 0 ? await this.read(dataBytes) : Buffer.alloc(0);
    return { magic: header.readUInt32BE(0), errno, cookie: header.readBigUInt64BE(8), data };
  }

  destroy(): void {
    this.socket.destroy();
  }

  private notify(): void {
    const waiter = this.waiter;
    this.waiter = null;
    waiter?.();
  }
}

export function encodeRequest(fields: RequestFields): Buffer {
  const bytes = Buffer.alloc(28);
  bytes.writeUInt32BE(fields.magic ?? NBD_REQUEST_MAGIC, 0);
  bytes.writeUInt16BE(fields.flags ?? 0, 4);
  bytes.writeUInt16BE(fields.type, 6);
  bytes.writeBigUInt64BE(fields.cookie ?? 1n, 8);
  bytes.writeBigUInt64BE(fields.offset ?? 0n, 16);
  bytes.writeUInt32BE(fields.length ?? 0, 24);
  return bytes;
}

export function goData(name: string, infoTypes: readonly number[]): Buffer {
  const nameBytes = Buffer.from(name, 'utf8');
  const data = Buffer.alloc(4 + nameBytes.length + 2 + 2 * infoTypes.length);
  data.writeUInt32BE(nameBytes.length, 0);
  nameBytes.copy(data, 4);
  data.writeUInt16BE(infoTypes.length, 4 + nameBytes.length);
  infoTypes.forEach((type, index) => data.writeUInt16BE(type, 6 + nameBytes.length + 2 * index));
  return data;
}

export function u32(value: number): Buffer {
  const bytes = Buffer.alloc(4);
  bytes.writeUInt32BE(value, 0);
  return bytes;
}

export interface ClientRun {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
  readonly durationMs: number;
}

/**
 * Runs a client to completion, killing it after `timeoutMs`. `/usr/bin` goes first on PATH:
 * nbdsh runs `python3 -m nbd`, and the libnbd bindings are installed for the system Python only.
 */
export function runClient(command: string, args: readonly string[], options: { timeoutMs?: number; cwd?: string } = {}): Promise<ClientRun> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn(command, [...args], {
      cwd: options.cwd,
      env: { ...process.env, PATH: `/usr/bin:/bin:${process.env['PATH'] ?? ''}` },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 30_000);
    child.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, durationMs: Date.now() - started });
    });
  });
}

/** Throws with the client's output unless it exited with status 0. */
export async function runClientOk(command: string, args: readonly string[], options: { timeoutMs?: number; cwd?: string } = {}): Promise<ClientRun> {
  const run = await runClient(command, args, options);
  if (run.code !== 0) {
    throw new Error(`${command} ${args.join(' ')} exited with ${run.code ?? run.signal}\nstdout:\n${run.stdout}\nstderr:\n${run.stderr}`);
  }
  return run;
}

export interface FileExport {
  readonly server: NbdServer;
  readonly device: FileBlockDevice;
  readonly port: number;
  readonly dir: string;
  readonly name: string;
  uri(name?: string): string;
  /** Closes the server and the device and removes the temporary folder. */
  close(): Promise<void>;
}

/** A file-backed export on a loopback port chosen by the kernel. */
export async function startFileExport(options: {
  name?: string;
  sizeBytes: number;
  minimumBlockBytes?: number;
  maximumPayloadBytes?: number;
  server?: NbdServerOptions;
}): Promise<FileExport> {
  const dir = await mkdtemp(join(tmpdir(), 'bunker-nbd-'));
  const name = options.name ?? 'vol';
  const device = await FileBlockDevice.open({
    path: join(dir, 'volume.img'),
    sizeBytes: options.sizeBytes,
    ...(options.minimumBlockBytes === undefined ? {} : { minimumBlockBytes: options.minimumBlockBytes }),
    ...(options.maximumPayloadBytes === undefined ? {} : { maximumPayloadBytes: options.maximumPayloadBytes }),
  });
  const server = new NbdServer(options.server ?? {});
  server.addExport(name, device, { description: `test volume ${name}` });
  const { port } = await server.listen(0);
  return {
    server,
    device,
    port,
    dir,
    name,
    uri: (exportName = name) => `nbd://127.0.0.1:${port}/${exportName}`,
    close: async () => {
      await server.close({ signal: AbortSignal.timeout(5_000) });
      await device.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
