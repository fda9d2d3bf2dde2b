// The primary as a resynchronization source, over its Replication service. Every call carries
// the epoch this replica was fenced into: a primary of another epoch refuses, and the resync
// fails visibly instead of copying from the wrong history.
import { Metadata } from '@grpc/grpc-js';
import { fromGrpcError, type ReplicationClient } from '@bunker/proto';
import type { Seq } from '@bunker/proto/ids';
import type { ByteRange } from '../replication/index.js';
import type { DivergenceInfo, ResyncSource } from './resync-runner.js';

const CALL_DEADLINE_MS = 30_000;

export class GrpcResyncSource implements ResyncSource {
  constructor(readonly node: string, private readonly client: ReplicationClient, private readonly volume: string, private readonly epoch: number) {}

  private options(): { deadline: Date } {
    return { deadline: new Date(Date.now() + CALL_DEADLINE_MS) };
  }

  divergenceInfo(): Promise<DivergenceInfo> {
    return new Promise((resolve, reject) => {
      this.client.divergenceInfo({ volume: this.volume, epoch: this.epoch }, new Metadata(), this.options(), (error, response) => {
        if (error !== null) return reject(fromGrpcError(error, `divergence info of ${this.volume} from ${this.node}`));
        resolve({
          divergenceSeq: response.hasDivergence ? (response.divergenceSeq as Seq) : null,
          changedRegions: response.changedRegions,
          regionBytes: response.regionBytes,
          appliedSeq: response.appliedSeq as Seq,
          sizeBytes: response.sizeBytes,
        });
      });
    });
  }

  checksums(ranges: readonly ByteRange[], blockBytes: number): Promise<{ checksums: Uint8Array[]; appliedSeq: Seq }> {
    return new Promise((resolve, reject) => {
      this.client.regionChecksums({ volume: this.volume, epoch: this.epoch, regions: [...ranges], blockBytes }, new Metadata(), this.options(), (error, response) => {
        if (error !== null) return reject(fromGrpcError(error, `checksums of ${this.volume} from ${this.node}`));
        resolve({ checksums: response.checksums, appliedSeq: response.appliedSeq as Seq });
      });
    });
  }

  read(range: ByteRange): Promise<Uint8Array> {
    return new Promise((resolve, reject) => {
      this.client.readRegion({ volume: this.volume, epoch: this.epoch, region: range }, new Metadata(), this.options(), (error, response) => {
        if (error !== null) return reject(fromGrpcError(error, `read of ${this.volume} from ${this.node}`));
        resolve(response.data);
      });
    });
  }
}
