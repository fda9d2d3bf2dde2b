#!/usr/bin/python3
"""Writes one 4 KiB block of a marker, repeated, at each offset through NBD, all at once.

Used against a primary that must not acknowledge anything (cut off from its bunker, or fenced):
every write is issued before any answer is awaited, and each is reported as one JSON line:
{"connect": "ok"|"failed"} first, then per offset {"offset": N, "result": R} where R is
"acknowledged", "refused" (the issue itself failed), "error" (the server answered with an
error or the connection broke) or "no answer within 5 s". Exits 0 in every case: what each
write got is the result. Usage: burst-writer.py URI MARKER OFFSET...
"""
import json
import signal
import sys
import time

import nbd

BLOCK = 4096
ANSWER_WAIT_SECONDS = 5


def say(record: dict) -> None:
    print(json.dumps(record), flush=True)


def main() -> None:
    signal.alarm(15)
    uri, marker, offsets = sys.argv[1], sys.argv[2].encode(), [int(x) for x in sys.argv[3:]]
    block = (marker * (BLOCK // len(marker) + 1))[:BLOCK]
    try:
        handle = nbd.NBD()
        handle.connect_uri(uri)
    except nbd.Error as e:
        say({"connect": "failed", "error": str(e)})
        return
    say({"connect": "ok"})
    pending = {}
    for offset in offsets:
        try:
            pending[offset] = handle.aio_pwrite(nbd.Buffer.from_bytearray(bytearray(block)), offset)
        except nbd.Error as e:
            say({"offset": offset, "result": "refused", "error": str(e)})
    deadline = time.monotonic() + ANSWER_WAIT_SECONDS
    while pending and time.monotonic() < deadline:
        for offset, cookie in list(pending.items()):
            try:
                if handle.aio_command_completed(cookie):
                    say({"offset": offset, "result": "acknowledged"})
                    del pending[offset]
            except nbd.Error as e:
                say({"offset": offset, "result": "error", "error": str(e)})
                del pending[offset]
        if pending:
            try:
                handle.poll(100)
            except nbd.Error as e:
                for offset in list(pending):
                    say({"offset": offset, "result": "error", "error": str(e)})
                pending.clear()
    for offset in pending:
        say({"offset": offset, "result": "no answer within 5 s"})


if __name__ == "__main__":
    main()
