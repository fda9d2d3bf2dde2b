#!/usr/bin/python3
"""Writes verifiable 4 KiB blocks through NBD and records every write it saw acknowledged.

Each block starts with a header (magic, offset, write counter) and is filled with a pattern
derived from both, so a reader can tell exactly which write a block holds. Every acknowledged
write is appended to the acknowledgement log ("offset counter" per line) and flushed before
the next write is issued (queue depth 1), so the log is exactly what the consumer saw
acknowledged. With --reconnect it keeps retrying the URI after an error (a takeover moves the
export); without it, it exits at the first error. With --uri-file the URI is read from that
file at every (re)connect, so a test can follow the volume's endpoint as it moves. Bounded by
--seconds and --writes. With --timing FILE it also writes, per acknowledged write, "offset
counter t_start t_end" (wall-clock seconds since the epoch, microsecond resolution, from just
before the write was issued to its acknowledgement) to FILE, for benchmarks; the
acknowledgement log is unchanged.
"""
import argparse
import random
import signal
import struct
import sys
import time

import nbd

BLOCK = 4096
MAGIC = 0xB0BC_0DE5


def block_for(offset: int, counter: int) -> bytes:
    header = struct.pack("<QQQ", MAGIC, offset, counter)
    fill = struct.pack("<Q", (offset * 1_000_003 + counter) & 0xFFFF_FFFF_FFFF_FFFF) * ((BLOCK - len(header)) // 8)
    return header + fill


def connect(uri: str) -> "nbd.NBD":
    handle = nbd.NBD()
    handle.connect_uri(uri)
    return handle


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--uri", help="nbd:// URI (or give --uri-file)")
    parser.add_argument("--uri-file", help="file holding the URI, read again at every (re)connect")
    parser.add_argument("--blocks", type=int, required=True, help="distinct blocks to write over")
    parser.add_argument("--writes", type=int, default=1_000_000)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--ack-log", required=True)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--reconnect", action="store_true")
    parser.add_argument("--fua-every", type=int, default=0, help="set FUA on every Nth write")
    parser.add_argument("--timing", help="also write 'offset counter t_start t_end' per acknowledged write to this file")
    args = parser.parse_args()
    if not args.uri and not args.uri_file:
        parser.error("--uri or --uri-file is required")
    # A write blocked on a cut network never returns by itself: the alarm's default action
    # ends the process at the deadline (the acknowledgement log is flushed line by line).
    signal.alarm(int(args.seconds) + 2)
    rng = random.Random(args.seed)
    deadline = time.monotonic() + args.seconds
    handle = None
    counter = 0
    errors = 0
    timing = open(args.timing, "a", buffering=1) if args.timing else None
    with open(args.ack_log, "a", buffering=1) as acks:
        while counter < args.writes and time.monotonic() < deadline:
            if handle is None:
                try:
                    uri = args.uri
                    if args.uri_file:
                        with open(args.uri_file) as source:
                            uri = source.read().strip()
                    handle = connect(uri)
                except (nbd.Error, OSError) as error:
                    if not args.reconnect:
                        print(f"connect failed: {error}", file=sys.stderr)
                        return 2
                    time.sleep(0.05)
                    continue
            offset = rng.randrange(args.blocks) * BLOCK
            counter += 1
            flags = nbd.CMD_FLAG_FUA if args.fua_every and counter % args.fua_every == 0 else 0
            started = time.time()
            try:
                handle.pwrite(block_for(offset, counter), offset, flags)
            except nbd.Error as error:
                errors += 1
                print(f"write {counter} at {offset} failed: {error}", file=sys.stderr)
                try:
                    handle.shutdown()
                except nbd.Error:
                    pass
                handle = None
                if not args.reconnect:
                    return 3
                time.sleep(0.05)
                continue
            acks.write(f"{offset} {counter}\n")
            if timing is not None:
                timing.write(f"{offset} {counter} {started:.6f} {time.time():.6f}\n")
    if timing is not None:
        timing.close()
    print(f"issued {counter} writes, {errors} errors", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
