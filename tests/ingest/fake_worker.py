"""A stand-in extraction worker for sandbox tests; the document name picks the behaviour.

Speaks the worker protocol (JSON header line, raw bytes, JSON reply line) and, by name:
loop (endless loop), hog (allocates until the memory limit stops it), segv (crashes),
exit (exits), garbage (replies non-JSON), close (closes stdout, keeps running),
noise (1 MB on stderr, then a good reply), unread (sleeps without reading the document),
early (replies before reading the document, then stalls), stale (replies with another request's id); anything else: a good reply with its pid.
"""

import json
import os
import signal
import sys
import time


REQUEST = {"id": None}


def reply(text, request_id=None):
    answer = {"format": "txt", "text": text, "status": "ok", "reason": None, "truncated": False, "restart": False,
              "id": REQUEST["id"] if request_id is None else request_id}
    sys.stdout.write(json.dumps(answer) + "\n")
    sys.stdout.flush()


def main():
    stdin = sys.stdin.buffer
    while True:
        line = stdin.readline()
        if not line:
            return
        header = json.loads(line)
        REQUEST["id"] = header.get("id")
        mode = header["name"].split(".")[0]
        if mode == "unread":
            time.sleep(3600)
        if mode == "early":  # replies, then never reads: the parent is still writing when it sees the reply
            reply("too early")
            time.sleep(3600)
        data = stdin.read(header["size"])
        if mode == "loop":
            while True:
                pass
        elif mode == "hog":
            hog = []
            while True:
                hog.append(bytearray(16 << 20))
        elif mode == "segv":
            os.kill(os.getpid(), signal.SIGSEGV)
        elif mode == "exit":
            sys.exit(3)
        elif mode == "garbage":
            sys.stdout.write("Traceback? no, just garbage\n")
            sys.stdout.flush()
        elif mode == "close":
            os.close(1)
            time.sleep(3600)
        elif mode == "stale":  # answers with the id of another request
            reply("stale", request_id=-1)
        elif mode == "noise":
            sys.stderr.write("warning: " * (1 << 17))
            reply(f"pid {os.getpid()}")
        elif mode != "early":
            reply(f"pid {os.getpid()} got {len(data)} bytes")


main()
