// What a replica asks its driver to do. After stepping events, the driver calls ready(),
// performs the work below, and calls advance(ready). Completions come back as events.
//
// ORDERING RULES for the driver (each one is what a checker in test/sim relies on):
//
//  1. `intent` first: persist it durably (fsync) before sending any message, answering any
//     request or configure call, or writing the logs of the same Ready. A fence must be on
//     disk before the fenced party (or the operator) is told; a restart then resumes it.
//  2. Log operations in Ready order: `logCut`, then `stagingAppend`, then `append`.
//     - `logCut.truncate`: drop every entry with seq > afterSeq. The core emits it only when
//       no earlier append is still in flight.
//     - `logCut.reset`: the data volume was resynchronized through baseSeq: fdatasync it
//       (the log that could replay earlier applies is going away), drop the whole change log,
//       record the applied mark = baseSeq; the next entry is baseSeq + 1.
//     - `stagingAppend` (a takeover drain block) is made durable in the staging log before
//       the same entries are written to the change log.
//     - `append`: one write and one fdatasync (group commit). Step local-append-durable with
//       the highest sequence only after that sync returned; never report a sequence as
//       durable that is not. Durable reports are monotonic.
//  3. `changeMapCleared`, then `changeMapMarks`: persist them no later than the `append` of
//     the same Ready (before its durable event is stepped): a region dirtied by an entry must
//     be known dirty before that entry can be trimmed from the log.
//  4. `messages` may go out once `intent` is persisted, concurrently with the local append:
//     the primary sends entries to the bunker while its own fdatasync runs (the write path's
//     "at the same time"). One message per peer and stream per Ready (batching).
//  5. `apply`: write the entries to the data volume in order, after earlier Readys' applies;
//     step data-applied(throughSeq) once written (no fsync needed: the log is the durable
//     copy, and entries above the persisted applied mark are applied again after a crash).
//     The core only hands out entries that are durable in the local log and (primary,
//     recovery: sync) in the bunker's log copy.
//  6. `answers`: reply to the consumer. The core answers a write only after it was applied,
//     and a FLUSH or FUA only when everything before it is durable in both logs.
//  7. `configureAnswers`: reply to the operator (after rule 1).
//  8. `trimThroughSeq`: before discarding log entries <= it, fdatasync the data volume and
//     persist the applied mark >= it (a bunker has no data volume and trims directly). The
//     core never trims above what the secondary holds durably.
//  9. `reads`: read durable entries (afterSeq, throughSeq] of the change log, at most
//     maxEntries / maxBytes, and step log-read with the same readId.
// 10. `health` and `takeover` are reports for status, metrics and Events; no ordering.
import type { Epoch, Seq } from '@bunker/proto/ids';
import type { NodeName } from '@bunker/proto/ids';
import type { Entry } from '../log/entry.js';
import type { PersistedIntent, Role } from './intent.js';
import type { OutboundMessage } from './message.js';
import type { RequestAnswer } from './request.js';
import { assert } from './assert.js';

export type LogCut =
  | { readonly kind: 'truncate'; readonly afterSeq: Seq }
  | { readonly kind: 'reset'; readonly baseSeq: Seq };

export interface LogRead {
  readonly readId: number;
  readonly afterSeq: Seq;
  readonly throughSeq: Seq;
  readonly maxEntries: number;
  readonly maxBytes: number;
}

export type Health =
  | { readonly kind: 'ok' }
  | { readonly kind: 'recovering'; readonly reason: 'incomplete-writes' | 'bunker-handshake' | 'draining' }
  | { readonly kind: 'peer-unreachable'; readonly peer: NodeName; readonly link: 'bunker' | 'secondary'; readonly silentTicks: number }
  | { readonly kind: 'data-failed'; readonly detail: string }
  | { readonly kind: 'fenced'; readonly newerEpoch: Epoch }
  | { readonly kind: 'drain-failed'; readonly reason: 'bunker-gap'; readonly bunkerFirstSeq: Seq; readonly afterSeq: Seq };

export interface TakeoverCounters {
  readonly entriesReplayed: number;
  readonly bytesReplayed: number;
  /** Drained entries above the old primary's applied mark (as last reported to the bunker). */
  readonly incompleteWritesApplied: number;
}

export type TakeoverReport =
  | ({ readonly kind: 'drain-progress'; readonly drainedSeq: Seq; readonly bunkerDurableSeq: Seq } & TakeoverCounters)
  | ({ readonly kind: 'promoted'; readonly epoch: Epoch; readonly divergenceSeq: Seq; readonly tailSeq: Seq } & TakeoverCounters);

export type ConfigureRejection =
  | { readonly kind: 'StaleEpoch'; readonly epoch: Epoch; readonly requested: Epoch }
  | { readonly kind: 'InvalidRoleChange'; readonly from: Role; readonly to: Role; readonly reason: string }
  | { readonly kind: 'TakeoverNeedsNewEpoch'; readonly epoch: Epoch }
  | { readonly kind: 'ResyncRequired'; readonly lastSeq: Seq }
  | { readonly kind: 'MissingPeer'; readonly peer: 'primary' | 'bunker' }
  | { readonly kind: 'Busy'; readonly reason: string };

export type ConfigureAnswer =
  | { readonly kind: 'accepted'; readonly configureId: number; readonly intent: PersistedIntent }
  | { readonly kind: 'rejected'; readonly configureId: number; readonly rejection: ConfigureRejection };

export interface Ready {
  readonly intent: PersistedIntent | null;
  readonly logCut: LogCut | null;
  readonly stagingAppend: readonly Entry[];
  readonly append: readonly Entry[];
  readonly changeMapCleared: boolean;
  readonly changeMapMarks: readonly number[];
  readonly messages: readonly OutboundMessage[];
  readonly apply: readonly Entry[];
  readonly answers: readonly RequestAnswer[];
  readonly configureAnswers: readonly ConfigureAnswer[];
  readonly trimThroughSeq: Seq | null;
  readonly reads: readonly LogRead[];
  readonly health: Health | null;
  readonly takeover: TakeoverReport | null;
}

/** Accumulates one Ready; the role machines write into it, the replica hands it out. */
export class ReadyBuilder {
  intent: PersistedIntent | null = null;
  logCut: LogCut | null = null;
  stagingAppend: Entry[] = [];
  append: Entry[] = [];
  changeMapCleared = false;
  changeMapMarks: number[] = [];
  messages: OutboundMessage[] = [];
  apply: Entry[] = [];
  answers: RequestAnswer[] = [];
  configureAnswers: ConfigureAnswer[] = [];
  trimThroughSeq: Seq | null = null;
  reads: LogRead[] = [];
  health: Health | null = null;
  takeover: TakeoverReport | null = null;

  /** A cut orders before this Ready's appends only if none were queued yet (rule 2). */
  cut(logCut: LogCut): void {
    assert(this.append.length === 0 && this.stagingAppend.length === 0 && this.logCut === null, 'log cut after appends in one Ready');
    this.logCut = logCut;
  }

  isEmpty(): boolean {
    return (
      this.intent === null &&
      this.logCut === null &&
      this.stagingAppend.length === 0 &&
      this.append.length === 0 &&
      !this.changeMapCleared &&
      this.changeMapMarks.length === 0 &&
      this.messages.length === 0 &&
      this.apply.length === 0 &&
      this.answers.length === 0 &&
      this.configureAnswers.length === 0 &&
      this.trimThroughSeq === null &&
      this.reads.length === 0 &&
      this.health === null &&
      this.takeover === null
    );
  }

  take(): Ready {
    const ready: Ready = {
      intent: this.intent,
      logCut: this.logCut,
      stagingAppend: this.stagingAppend,
      append: this.append,
      changeMapCleared: this.changeMapCleared,
      changeMapMarks: this.changeMapMarks,
      messages: this.messages,
      apply: this.apply,
      answers: this.answers,
      configureAnswers: this.configureAnswers,
      trimThroughSeq: this.trimThroughSeq,
      reads: this.reads,
      health: this.health,
      takeover: this.takeover,
    };
    this.intent = null;
    this.logCut = null;
    this.stagingAppend = [];
    this.append = [];
    this.changeMapCleared = false;
    this.changeMapMarks = [];
    this.messages = [];
    this.apply = [];
    this.answers = [];
    this.configureAnswers = [];
    this.trimThroughSeq = null;
    this.reads = [];
    this.health = null;
    this.takeover = null;
    return ready;
  }
}
