"""A throwaway PostgreSQL cluster of the test's own, to stop and start at will.

The machine's server on 5432 is shared by other test runs and must never be stopped, so the
outage tests start their own cluster with the local PostgreSQL binaries (initdb, pg_ctl) on
a free port, in a temporary folder, with trust authentication on 127.0.0.1 only. initdb
refuses to run as root: as root the binaries run as the `postgres` user (runuser).
"""
from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import pytest


def _binaries() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                   key=lambda path: int(Path(path).parts[-3]))
    return Path(found[-1]).parent if found else None


def missing() -> str | None:
    """Why a private cluster cannot be started here, or None."""
    if _binaries() is None:
        return "no PostgreSQL binaries under /usr/lib/postgresql/*/bin (initdb, pg_ctl)"
    if os.geteuid() == 0:
        if shutil.which("runuser") is None:
            return "running as root without runuser: initdb cannot run as another user"
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            return "running as root and there is no postgres user for initdb"
    return None


def require() -> None:
    """Skip (or, in CI — EQUITY_REQUIRE_POSTGRES=1 — fail) when a cluster cannot start."""
    problem = missing()
    if problem:
        if os.environ.get("EQUITY_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"a private PostgreSQL cluster cannot be started: {problem} "
                        "(EQUITY_REQUIRE_POSTGRES=1)")
        pytest.skip(problem)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Cluster:
    """initdb on creation; `start`, `stop`, `remove`. `url(password)`: a SQLAlchemy URL (the
    password is accepted and ignored by trust authentication)."""

    def __init__(self) -> None:
        self.bin = _binaries()
        self.folder = Path(tempfile.mkdtemp(prefix="equity-private-pg-"))
        self.as_root = os.geteuid() == 0
        if self.as_root:
            owner = pwd.getpwnam("postgres")
            os.chown(self.folder, owner.pw_uid, owner.pw_gid)
        self.data = self.folder / "data"
        self.port = _free_port()
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust",
                  "-E", "UTF8", "--no-sync", "--no-instructions")

    def _run(self, tool: str, *arguments: str) -> None:
        command = [str(self.bin / tool), *arguments]
        if self.as_root:
            command = ["runuser", "-u", "postgres", "--", *command]
        done = subprocess.run(command, capture_output=True, text=True, timeout=120,
                              cwd=self.folder)
        if done.returncode != 0:
            log = self.folder / "server.log"
            raise RuntimeError(f"{tool} failed: {done.stdout}{done.stderr}"
                               + (log.read_text() if log.exists() else ""))

    def url(self, password: str = "") -> str:
        secret = f":{password}" if password else ""
        return f"postgresql+psycopg://postgres{secret}@127.0.0.1:{self.port}/postgres"

    def start(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.folder / "server.log"),
                  "-w", "-t", "60", "-o",
                  f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 "
                  "-c fsync=off -c max_connections=40 -c shared_buffers=16MB", "start")

    def stop(self) -> None:
        """A fast shutdown: sessions are disconnected, as in a server restart."""
        self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "-t", "60", "stop")

    def running(self) -> bool:
        return (self.data / "postmaster.pid").exists()

    def remove(self) -> None:
        if self.running():
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(self.folder, ignore_errors=True)
