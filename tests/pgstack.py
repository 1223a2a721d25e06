"""A real PostgreSQL server for the tests: Debian's ``postgresql`` package, started in a temporary folder on a free
127.0.0.1 port and stopped by its own PID.

PostgreSQL refuses to run as root: as root, the data folder belongs to the ``postgres`` user and the server runs as
that user. Each test gets a role of its own that owns only its own schema (``CREATE SCHEMA AUTHORIZATION``), as the
README tells an operator to make one. A missing package is a test failure, not a skip: ``make test`` installs it.
"""

from __future__ import annotations

import glob
import os
import pwd
import secrets
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import pytest
from promstack import free_port

ADMIN = "admin"
DATABASE = "reports"


def bindir() -> Path:
    """The newest ``/usr/lib/postgresql/<n>/bin``, or a failed test naming the package."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/postgres"), key=lambda p: int(Path(p).parent.parent.name))
    if not found:
        pytest.fail("PostgreSQL not found: apt-get install -y --no-install-recommends postgresql", pytrace=False)
    return Path(found[-1]).parent


def _as_owner() -> dict[str, Any]:
    """Popen arguments to run as ``postgres`` when we are root (the server refuses root), else as ourselves."""
    return {"user": "postgres", "group": "postgres"} if os.geteuid() == 0 else {}


@dataclass
class PgServer:
    """One server; :meth:`role` makes a role with its own schema and returns its URL."""

    folder: Path
    port: int
    admin_password: str
    process: subprocess.Popen[bytes] | None = None
    roles: list[str] = field(default_factory=list)

    @property
    def data(self) -> Path:
        return self.folder / "data"

    def admin_url(self, database: str = DATABASE) -> str:
        return f"postgresql://{ADMIN}:{self.admin_password}@127.0.0.1:{self.port}/{database}"

    def start(self) -> None:
        """Start the server (again, after :meth:`stop`) and wait until it accepts connections."""
        log = (self.folder / "server.log").open("ab")
        self.process = subprocess.Popen(
            [str(bindir() / "postgres"), "-D", str(self.data), "-p", str(self.port)],
            stdout=log,
            stderr=subprocess.STDOUT,
            **_as_owner(),
        )
        log.close()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"postgres exited: {(self.folder / 'server.log').read_text()[-2000:]}")
            ready = subprocess.run(
                [str(bindir() / "pg_isready"), "-h", "127.0.0.1", "-p", str(self.port)],
                capture_output=True,
                check=False,
            )
            if ready.returncode == 0:
                return
            time.sleep(0.1)
        raise RuntimeError("postgres did not become ready in 30 s")

    def stop(self) -> None:
        """Stop the server (fast shutdown: sessions are cut) and reap it."""
        if self.process is None or self.process.poll() is not None:
            return
        subprocess.run(
            [str(bindir() / "pg_ctl"), "stop", "-D", str(self.data), "-m", "fast", "-w"],
            capture_output=True,
            check=False,
            **_as_owner(),
        )
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)

    def role(self, password: str | None = None) -> str:
        """A new role owning only its own schema (no other right); its ``postgresql://`` URL."""
        name = f"report_{len(self.roles) + 1}_{secrets.token_hex(3)}"
        password = password or "pw-" + secrets.token_hex(12)
        with psycopg.connect(self.admin_url(), autocommit=True) as conn:
            conn.execute(f"CREATE ROLE {name} LOGIN PASSWORD '{password}'")
            conn.execute(f"CREATE SCHEMA AUTHORIZATION {name}")
        self.roles.append(name)
        return f"postgresql://{name}:{password}@127.0.0.1:{self.port}/{DATABASE}"

    def sql(self, query: str, *params: Any) -> list[tuple[Any, ...]]:
        """Run one statement as the admin; its rows (none for a statement without)."""
        with psycopg.connect(self.admin_url(), autocommit=True) as conn:
            cur = conn.execute(query, params or None)  # type: ignore[arg-type]
            return cur.fetchall() if cur.description else []


def start_server() -> PgServer:
    """initdb in a fresh temporary folder (owned by ``postgres`` when we are root), then start it."""
    folder = Path(tempfile.mkdtemp(prefix="pgstack-"))
    password = "admin-" + secrets.token_hex(8)
    (folder / "pw").write_text(password)
    if os.geteuid() == 0:
        owner = pwd.getpwnam("postgres")
        for path in (folder, folder / "pw"):
            os.chown(path, owner.pw_uid, owner.pw_gid)
    done = subprocess.run(
        [
            str(bindir() / "initdb"),
            "-D",
            str(folder / "data"),
            "-U",
            ADMIN,
            "--auth=scram-sha-256",
            f"--pwfile={folder / 'pw'}",
            "-E",
            "UTF8",
            "--no-locale",
            "--no-sync",
        ],
        capture_output=True,
        text=True,
        check=False,
        **_as_owner(),
    )
    if done.returncode != 0:
        raise RuntimeError(f"initdb failed: {done.stderr[-2000:]}")
    with (folder / "data" / "postgresql.conf").open("a") as conf:
        conf.write(
            f"listen_addresses = '127.0.0.1'\nunix_socket_directories = '{folder}'\n"
            "fsync = off\nsynchronous_commit = off\nfull_page_writes = off\nmax_connections = 200\n"
        )
    server = PgServer(folder, free_port(), password)
    server.start()
    with psycopg.connect(server.admin_url("postgres"), autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {DATABASE}")
    with psycopg.connect(server.admin_url(), autocommit=True) as conn:
        conn.execute("REVOKE ALL ON SCHEMA public FROM PUBLIC")  # a role's own schema is all it gets
    return server


def remove(server: PgServer) -> None:
    """Stop the server and delete its folder."""
    server.stop()
    shutil.rmtree(server.folder, ignore_errors=True)
