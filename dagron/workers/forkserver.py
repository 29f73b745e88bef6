"""The fork server: a clean interpreter that has imported the worker engine and forks local
workers on request, so starting one costs a fork (milliseconds) rather than an interpreter
start and its imports (a tenth of a second or more).

It is started (``python -m dagron.workers.forkserver FD --parent-pid PID``) by
:mod:`~dagron.workers.forkserver_client` as a fresh interpreter, never as a fork of the
user's process, whose threads and state are unknown. It is single-threaded, creates no
ZeroMQ context and holds no descriptor but its socket (``FD``) and a signal pipe; each child
closes both, so a worker starts with nothing of the fork server's but imported modules.

For each fork request it forks a child that leads a session of its own (killing its process
group ends whatever its tasks start), dies with the fork server (``PR_SET_PDEATHSIG``,
through the worker's ``--parent-pid``, which names this process), takes the caller's stdout,
stderr, environment, working directory and ``sys.path``, and runs the worker's ``main``. The
server answers with the child's pid and a pidfd opened before the child can be reaped, and
later reports its exit code: it reaps its children, so only it can learn that.

It dies with the process that started it (``PR_SET_PDEATHSIG``), and leaves when its socket
closes; its workers then die with it.
"""

from __future__ import annotations

import argparse
import io
import os
import select
import signal
import socket
import sys
import traceback
from typing import Optional

from . import forkserver_codec as fc
from . import worker  # the point of this process: every worker forked has it imported
from .lifeline import die_with_parent

__all__ = ["main", "serve"]

# The largest request read: a caller's environment and sys.path fit many times over.
_MAX_REQUEST = 1 << 20


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description="The fork server of dagron's local workers.")
    parser.add_argument("fd", type=int, help="this end of the socket pair to the client")
    parser.add_argument("--parent-pid", type=int, required=True)
    args = parser.parse_args(argv)
    die_with_parent(args.parent_pid)
    # Ctrl-C is the coordinator's to handle, as for the workers.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    sock = socket.socket(fileno=args.fd)
    serve(sock)
    return 0


def serve(sock: socket.socket) -> None:
    """Answers fork requests on ``sock`` and reports children's exits until it closes."""
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_r, False)
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda signum, frame: None)  # the wakeup fd does the work
    own = (sock.fileno(), wake_r, wake_w)
    try:
        while True:
            readable, _, _ = select.select([sock.fileno(), wake_r], [], [])
            if wake_r in readable:
                while _drained(wake_r):
                    pass
            # Exits first, then requests: a child's "forked" always precedes its "exited".
            _report_exits(sock)
            if sock.fileno() in readable and not _answer(sock, own):
                return
    except (BrokenPipeError, ConnectionResetError):
        return  # the client is gone


def _drained(fd: int) -> bool:
    try:
        return bool(os.read(fd, 512))
    except BlockingIOError:
        return False


def _report_exits(sock: socket.socket) -> None:
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        sock.send(fc.encode_exited(pid, os.waitstatus_to_exitcode(status)))


def _answer(sock: socket.socket, own: tuple[int, ...]) -> bool:
    """Serves one request; False once the client has closed its end."""
    data, fds, flags, _ = socket.recv_fds(sock, _MAX_REQUEST, 2)
    if not data:
        _close(fds)
        return False
    try:
        if flags & socket.MSG_TRUNC or len(fds) != 2:
            raise ValueError("a fork request comes whole, with stdout and stderr")
        request = fc.decode_request(data)
    except ValueError as exc:
        _close(fds)
        sock.send(fc.encode_failed(str(exc)))
        return True
    sys.stdout.flush()
    sys.stderr.flush()
    ready_r, ready_w = os.pipe()
    try:
        pid = os.fork()
    except OSError as exc:
        _close([*fds, ready_r, ready_w])
        sock.send(fc.encode_failed(f"fork failed: {exc}"))
        return True
    if pid == 0:
        _child(request, fds[0], fds[1], (*own, ready_r), ready_w)  # never returns
    _close([*fds, ready_w])
    # Told only once it leads its session and holds nothing of ours: a caller may kill its
    # process group, or look at its descriptors, at once.
    os.read(ready_r, 1)
    os.close(ready_r)
    # Opened before any waitpid() of ours: the pid cannot have been reused yet.
    pidfd = os.pidfd_open(pid)
    try:
        socket.send_fds(sock, [fc.encode_forked(pid)], [pidfd])
    finally:
        os.close(pidfd)
    return True


def _close(fds: list[int]) -> None:
    for fd in fds:
        os.close(fd)


def _child(
    request: fc.ForkRequest, stdout: int, stderr: int, own: tuple[int, ...], ready: int
) -> None:
    """Becomes the worker asked for (closing ``ready`` once it leads a session and has
    closed the fork server's descriptors, ``own``); exits with its code."""
    code = 1
    try:
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        for fd in own:
            os.close(fd)
        os.setsid()
        os.close(ready)
        _take_stdio(stdout, stderr)
        os.chdir(request.cwd)
        os.environ.clear()
        os.environ.update(request.env)
        sys.path[:] = request.path
        if request.env.get("PYTHONUNBUFFERED"):
            _unbuffer()
        sys.argv = [worker.__file__, *request.argv]
        code = worker.main(request.argv)
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except BaseException:
        traceback.print_exc()
    finally:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except BaseException:
                pass
        os._exit(code)


def _take_stdio(stdout: int, stderr: int) -> None:
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.dup2(stdout, 1)
    os.dup2(stderr, 2)
    for fd in {devnull, stdout, stderr} - {0, 1, 2}:
        os.close(fd)


def _unbuffer() -> None:
    # What PYTHONUNBUFFERED does at an interpreter's start: what is written leaves at once.
    sys.stdout = _unbuffered(1, sys.stdout.encoding)
    sys.stderr = _unbuffered(2, sys.stderr.encoding)


def _unbuffered(fd: int, encoding: str) -> io.TextIOWrapper:
    raw = io.FileIO(fd, "w", closefd=False)
    return io.TextIOWrapper(raw, encoding, "backslashreplace", write_through=True)


if __name__ == "__main__":
    sys.exit(main())
