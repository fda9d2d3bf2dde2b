// The data region as a ring: where the next record goes, and how many bytes lie between two
// positions. Writer and reader share these rules, so they agree on where records are:
//  - a record never straddles the end of the region;
//  - at a position where not even a header fits before the end, both skip to the start
//    (the skip rule: nothing is written there);
//  - otherwise, when the record does not fit before the end, the writer puts a wrap marker
//    at the head and the record at the start.
// Pure functions: no I/O.
import { DATA_START_POSITION, ENTRY_HEADER_BYTES } from './format.js';

export interface Layout {
  /** First byte of the data region. */
  readonly start: number;
  /** One past the last byte of the data region (the log's size). */
  readonly end: number;
}

export const layoutFor = (sizeBytes: number): Layout => ({ start: DATA_START_POSITION, end: sizeBytes });

export const regionBytes = (layout: Layout): number => layout.end - layout.start;

/** Where a reader looks for the record at `position`, after the skip rule. */
export function afterSkipRule(layout: Layout, position: number): number {
  return layout.end - position < ENTRY_HEADER_BYTES ? layout.start : position;
}

export interface Placement {
  /** Where the wrap marker goes, when the record does not fit before the end. */
  readonly markerAt: number | undefined;
  /** Where the record goes. */
  readonly at: number;
  /** The head after the record. */
  readonly next: number;
}

/** Places a record of `bytes` (header included, at most the region) at `head`. */
export function place(layout: Layout, head: number, bytes: number): Placement {
  const position = afterSkipRule(layout, head);
  if (position + bytes <= layout.end) return { markerAt: undefined, at: position, next: position + bytes };
  return { markerAt: position, at: layout.start, next: layout.start + bytes };
}

/** Bytes from `from` forward to `to` around the ring (0 when they are equal). */
export function distance(layout: Layout, from: number, to: number): number {
  return to >= from ? to - from : layout.end - from + (to - layout.start);
}
