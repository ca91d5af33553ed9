"""Waking the follower when a followed file is written: Linux inotify, through libc.

`FileWatch.wait(timeout)` returns as soon as one of the watched files is modified (or at the
timeout), so a row is picked up within a fraction of a millisecond of being appended instead of
up to a whole poll interval later. Where inotify is not available (another system, a file that
does not exist yet, the watch limit reached), `wait` sleeps the timeout out: the follower then
polls at its fixed interval, as it did before.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import select
import sys
import time
from pathlib import Path

logger = logging.getLogger(__name__)

_IN_MODIFY = 0x002
_IN_ATTRIB = 0x004  # a truncation through truncate(2) and a changed link count
_IN_CLOSE_WRITE = 0x008
_IN_MOVE_SELF = 0x800
_IN_DELETE_SELF = 0x400
_MASK = _IN_MODIFY | _IN_ATTRIB | _IN_CLOSE_WRITE | _IN_MOVE_SELF | _IN_DELETE_SELF


def _libc():
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        libc.inotify_init1, libc.inotify_add_watch  # noqa: B018 - both must exist
    except (OSError, AttributeError):
        return None
    return libc


class FileWatch:
    """Waits for a write to any of `paths` (those that exist now)."""

    def __init__(self, paths):
        self.fd: int | None = None
        libc = _libc()
        paths = [Path(p) for p in paths if p is not None and Path(p).exists()]
        if libc is None or not paths:
            return
        fd = libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
        if fd < 0:
            return
        for path in paths:
            if libc.inotify_add_watch(fd, os.fsencode(path), _MASK) < 0:
                logger.debug("no inotify watch on %s (errno %d); polling it", path,
                             ctypes.get_errno())
                os.close(fd)
                return
        self.fd = fd

    @property
    def active(self) -> bool:
        return self.fd is not None

    def wait(self, timeout: float) -> bool:
        """Block until a watched file is written or `timeout` seconds pass; True if written.
        Events that arrived meanwhile are consumed: the caller reads everything after this."""
        if self.fd is None:
            time.sleep(max(0.0, timeout))
            return False
        ready, _, _ = select.select([self.fd], [], [], max(0.0, timeout))
        if not ready:
            return False
        while True:
            try:
                if not os.read(self.fd, 1 << 16):
                    break
            except BlockingIOError:
                break
        return True

    def close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None
