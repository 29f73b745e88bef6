"""Cleans up after a coordinator that ends without closing: killed by SIGKILL, SIGTERM or
SIGHUP, crashed, or left through ``os._exit``.

:class:`Janitor` starts one small process (``python -I -S``, its own session so a terminal's
signals do not reach it) that holds the read end of a pipe only the coordinator writes to.
The coordinator tells it, a line at a time, which paths it owns (its socket directory, its
shared-memory directory) and which process groups its workers lead. A coordinator that
closes says ``done`` and the janitor leaves without doing anything; a pipe that ends without
``done`` means the coordinator is gone, and the janitor kills the worker groups (the workers
and whatever their tasks started) and then removes the paths.

Signal handlers in the caller's process could do part of this, but not for SIGKILL, not when
the caller is not on the main thread, and not while a C call holds the GIL; a process that
waits on a pipe needs none of that.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys

__all__ = ["Janitor"]

# What the janitor runs. Kept to the standard library's cheapest modules: it starts with
# every coordinator.
_SCRIPT = r"""
import os, shutil, signal, sys
groups, paths = set(), []
for line in sys.stdin:
    verb, _, arg = line.rstrip("\n").partition(" ")
    if verb == "done":
        sys.exit(0)
    if verb == "group":
        groups.add(int(arg))
    elif verb == "ungroup":
        groups.discard(int(arg))
    elif verb == "path":
        paths.append(arg)
for pgid in groups:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except OSError:
        pass
for path in paths:
    shutil.rmtree(path, ignore_errors=True)
"""


class Janitor:
    """The clean-up process of one coordinator; see the module's docstring."""

    def __init__(self) -> None:
        _reap_leaving()
        read, self._write = os.pipe()  # non-inheritable: no other child holds it open
        try:
            self._proc = subprocess.Popen(
                [sys.executable, "-I", "-S", "-c", _SCRIPT],
                stdin=read,
                stdout=subprocess.DEVNULL,
                start_new_session=True,
            )
        except BaseException:
            os.close(self._write)
            raise
        finally:
            os.close(read)
        self._out = os.fdopen(self._write, "w", buffering=1)
        self._owner = os.getpid()  # a forked child holds the pipe too, but must not speak

    def remove_path(self, path: str) -> None:
        """``path`` (a directory tree) is removed if the coordinator ends without closing."""
        self._say(f"path {path}")

    def watch_group(self, pgid: int) -> None:
        """Process group ``pgid`` is killed if the coordinator ends without closing."""
        self._say(f"group {pgid}")

    def forget_group(self, pgid: int) -> None:
        """Process group ``pgid`` is over (its leader was reaped): leave it alone."""
        self._say(f"ungroup {pgid}")

    def _say(self, line: str) -> None:
        if os.getpid() != self._owner:
            return
        with contextlib.suppress(OSError, ValueError):  # the janitor is gone: nothing to do
            self._out.write(line + "\n")

    def close(self) -> None:
        """The coordinator cleaned up itself: the janitor leaves without doing anything."""
        if self._out.closed or os.getpid() != self._owner:
            return
        self._say("done")
        with contextlib.suppress(OSError):
            self._out.close()
        # Not waited for (it may still be starting: tens of ms); reaped by a later call.
        _leaving.append(self._proc)
        _reap_leaving()


# Janitors told to leave that had not yet when last looked at.
_leaving: list[subprocess.Popen[bytes]] = []


def _reap_leaving() -> None:
    _leaving[:] = [proc for proc in _leaving if proc.poll() is None]
