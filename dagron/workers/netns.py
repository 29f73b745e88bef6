"""Separate network hosts on one machine, for tests: Linux network namespaces joined to this
one by veth pairs. Needs root (``ip netns``); everything made is removed by ``close()``.

>>> with TestNetwork() as net:                      # doctest: +SKIP
...     host = net.add_host()                        # its own namespace and address
...     proc = host.popen(["python", "-c", "print(1)"])
...     net.cut(host)                                # take its link down
"""

from __future__ import annotations

import itertools
import os
import random
import subprocess
from dataclasses import dataclass, field
from typing import Any, Optional

__all__ = ["Host", "TestNetwork", "netns_available"]


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", *args], capture_output=True, text=True, check=check, timeout=30)


def netns_available() -> Optional[str]:
    """None when namespaces can be made here, else why not."""
    if os.geteuid() != 0:
        return "network namespaces need root"
    try:
        probe = f"dgrprobe{os.getpid()}"
        _ip("netns", "add", probe)
        _ip("netns", "del", probe)
    except (OSError, subprocess.SubprocessError) as exc:
        return f"cannot create network namespaces: {exc}"
    return None


@dataclass
class Host:
    """One namespace with one address, linked to the test network's own namespace."""

    name: str
    address: str  # the host's address
    gateway: str  # the address of our end of its link: where it reaches the coordinator
    outer_link: str
    processes: list[subprocess.Popen[Any]] = field(default_factory=list)

    def popen(self, cmd: list[str], **kwargs: Any) -> subprocess.Popen[Any]:
        """Starts ``cmd`` inside this host's namespace."""
        proc = subprocess.Popen(["ip", "netns", "exec", self.name, *cmd], **kwargs)
        self.processes.append(proc)
        return proc


class TestNetwork:
    """Hosts for one test: each in its own namespace on its own /30 link."""

    __test__ = False  # not a pytest test class
    _ids = itertools.count()

    def __init__(self) -> None:
        self.hosts: list[Host] = []
        # Distinct per process and test, so parallel tests never share names or subnets.
        self._tag = f"{os.getpid() % 100000}{next(self._ids)}"
        self._subnet = random.Random(os.getpid() * 7919 + next(self._ids)).randrange(0, 1 << 14)

    def add_host(self) -> Host:
        k = len(self.hosts)
        name = f"dgr{self._tag}h{k}"
        outer, inner = f"dgo{self._tag}{k}"[-15:], f"dgi{self._tag}{k}"[-15:]
        n = (self._subnet * 4 + k) % (1 << 16)
        base = f"10.{200 + n // 4096 % 50}.{n // 16 % 256}.{(n % 16) * 16}"
        prefix = base.rsplit(".", 1)[0]
        last = int(base.rsplit(".", 1)[1])
        gateway, address = f"{prefix}.{last + 1}", f"{prefix}.{last + 2}"
        _ip("netns", "add", name)
        host = Host(name, address, gateway, outer)
        self.hosts.append(host)
        _ip("link", "add", outer, "type", "veth", "peer", "name", inner)
        _ip("link", "set", inner, "netns", name)
        _ip("addr", "add", f"{gateway}/28", "dev", outer)
        _ip("link", "set", outer, "up")
        _ip("netns", "exec", name, "ip", "addr", "add", f"{address}/28", "dev", inner)
        _ip("netns", "exec", name, "ip", "link", "set", inner, "up")
        _ip("netns", "exec", name, "ip", "link", "set", "lo", "up")
        return host

    def cut(self, host: Host) -> None:
        """Takes the host's link down: it stays up but can reach nothing."""
        _ip("link", "set", host.outer_link, "down")

    def restore(self, host: Host) -> None:
        """Brings a cut host's link back up."""
        _ip("link", "set", host.outer_link, "up")

    def close(self) -> None:
        for host in self.hosts:
            for proc in host.processes:
                if proc.poll() is None:
                    proc.kill()
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    pass
            # Anything else still inside the namespace goes too.
            pids = _ip("netns", "pids", host.name, check=False).stdout.split()
            for pid in pids:
                try:
                    os.kill(int(pid), 9)
                except (ProcessLookupError, ValueError):
                    pass
            _ip("link", "del", host.outer_link, check=False)
            _ip("netns", "del", host.name, check=False)
        self.hosts.clear()

    def __enter__(self) -> TestNetwork:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
