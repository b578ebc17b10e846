"""One live run per workdir: an OS file lock (`flock`) on `workdir/run.lock`, held for the life of the run.

The kernel releases the lock when its process dies, so a crash never leaves a stale lock. The file records
the holder's host, PID and a run nonce; process 0 of a multi-process run takes the lock and broadcasts
the nonce, and every other process checks that the file it sees names the same run. Where the filesystem
does not support `flock`, the run goes on unlocked after a warning (see the README: shared filesystems).
"""

import errno
import fcntl
import json
import os
import secrets
import socket
import sys
import time

import jax
import numpy as np
from jax.experimental import multihost_utils

from cnnjax.errors import WorkdirLockedError

LOCK_FILE = "run.lock"
_UNSUPPORTED = (errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS, errno.EINVAL)


class WorkdirLock:
    """Takes `workdir/run.lock` (the workdir must exist); `release()` or the process's death frees it."""

    def __init__(self, workdir: str):
        self.path = os.path.join(workdir, LOCK_FILE)
        self._file = None
        nonce = 0
        if jax.process_index() == 0:
            nonce = self._acquire()
        if jax.process_count() > 1:
            nonce = int(multihost_utils.broadcast_one_to_all(np.int32(nonce)))
            if jax.process_index() != 0 and _read_holder(self.path).get("nonce") != nonce:
                raise WorkdirLockedError(
                    f"process {jax.process_index()} sees {self.path} naming another run than process 0 took: "
                    "do all processes share the workdir's filesystem?"
                )

    def _acquire(self) -> int:
        self._file = open(self.path, "a+", encoding="utf-8")
        try:
            fcntl.flock(self._file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_holder(self.path)
            self._file.close()
            self._file = None
            who = f"host {holder.get('host', '?')}, PID {holder.get('pid', '?')}" if holder else "another process"
            since = f" since {holder['started']}" if "started" in holder else ""
            raise WorkdirLockedError(
                f"workdir {os.path.dirname(self.path)} is in use by a running run ({who}{since}); "
                "wait for it to end or stop it, or use another --workdir"
            ) from None
        except OSError as e:
            if e.errno not in _UNSUPPORTED:
                raise
            print(
                f"cnnjax: warning: the filesystem of {self.path} does not support flock ({e.strerror}); "
                "this run cannot keep a second launch out of its workdir",
                file=sys.stderr,
            )
        nonce = secrets.randbits(31)
        record = {"host": socket.gethostname(), "pid": os.getpid(), "nonce": nonce, "started": time.strftime("%c")}
        self._file.seek(0)
        self._file.truncate()
        self._file.write(json.dumps(record) + "\n")
        self._file.flush()
        os.fsync(self._file.fileno())
        return nonce

    def release(self) -> None:
        if self._file is not None:
            fcntl.flock(self._file, fcntl.LOCK_UN)
            self._file.close()
            self._file = None


def _read_holder(path: str) -> dict:
    try:
        with open(path, encoding="utf-8") as f:
            return json.loads(f.read())
    except (OSError, ValueError):
        return {}
