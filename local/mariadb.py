"""A throwaway MariaDB on loopback, for tests and local runs: the closest MySQL 8 stand-in for Aurora we can run here.

    with mariadb_server() as db:
        pymysql.connect(host=db.host, port=db.port, user=db.user, password=db.password)

The server lives in a fresh temporary folder, listens on 127.0.0.1 on a free port only, and is stopped (with
everything it started) and deleted when the block ends. ``db.user`` is a root-equivalent account reachable over
TCP, like RDS's master user; its password holds ``@:/%#?`` on purpose, so URL-encoding mistakes show. ``db.sql``
runs statements as MariaDB's own root over the Unix socket, for what a test does behind the application's back
(rotating the master password, looking at the process list).

When MariaDB is not installed, ``mariadb_server`` raises ``MariaDBNotInstalled`` and ``missing_mariadb()`` says why,
so a test can skip locally; CI installs it (``.ci/run``).
"""

from __future__ import annotations

import contextlib
import getpass
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from local.processes import free_port, stop

MASTER_USER = "master"
# Every character that breaks a database URL unless it is percent-encoded, plus a quote for SQL escaping.
MASTER_PASSWORD = "Ma$ter@:/%#?'pw-1"  # noqa: S105 - a throwaway test server's password, on loopback only
BINARIES = ("mariadbd", "mariadb-install-db", "mariadb")
# Debian installs the server daemon in /usr/sbin, which is not on a normal user's PATH.
EXTRA_PATHS = ("/usr/sbin", "/usr/local/sbin", "/usr/bin", "/usr/local/bin")
INSTALL_HINT = "install it with `apt-get install -y mariadb-server` (Debian/Ubuntu)"

# MySQL 8.0's default SQL mode (Aurora MySQL 3 keeps it), so queries MySQL rejects fail here too.
MYSQL8_SQL_MODE = (
    "ONLY_FULL_GROUP_BY,STRICT_TRANS_TABLES,NO_ZERO_IN_DATE,NO_ZERO_DATE,ERROR_FOR_DIVISION_BY_ZERO,"
    "NO_ENGINE_SUBSTITUTION"
)


class MariaDBNotInstalled(RuntimeError):
    """MariaDB's server programs are not on this machine."""


class MariaDBError(RuntimeError):
    """MariaDB did not start or a statement failed; the message carries the end of its log."""


@dataclass(frozen=True)
class MariaDB:
    """A running throwaway server: where to reach it over TCP and how to act as its superuser."""

    host: str
    port: int
    user: str
    password: str = field(repr=False)
    socket: Path
    log: Path
    client: str
    superuser: str

    def sql(self, statements: str) -> str:
        """Run SQL as MariaDB's own root over the Unix socket; returns the tab-separated output, no header."""
        result = subprocess.run(
            [self.client, "--no-defaults", f"--socket={self.socket}", f"--user={self.superuser}", "--batch", "-N"],
            input=statements,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        if result.returncode != 0:
            raise MariaDBError(f"SQL failed (exit {result.returncode}): {result.stderr.strip()}")
        return result.stdout


def sql_string(value: str) -> str:
    """A SQL string literal for ``value`` (MariaDB's default escaping: backslash and quote)."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def find_binaries() -> dict[str, str]:
    """Paths of MariaDB's server, installer and client, or ``MariaDBNotInstalled`` naming what is missing."""
    search = os.pathsep.join([os.environ.get("PATH", ""), *EXTRA_PATHS])
    found = {name: shutil.which(name, path=search) for name in BINARIES}
    missing = [name for name, path in found.items() if path is None]
    if missing:
        raise MariaDBNotInstalled(f"MariaDB is not installed (no {', '.join(missing)} found): {INSTALL_HINT}")
    return {name: str(path) for name, path in found.items()}


def missing_mariadb() -> str | None:
    """Why a throwaway MariaDB cannot start here, or None when it can."""
    try:
        find_binaries()
    except MariaDBNotInstalled as error:
        return str(error)
    return None


def _tail(path: Path, lines: int = 25) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


@contextlib.contextmanager
def mariadb_server(
    *, user: str = MASTER_USER, password: str = MASTER_PASSWORD, timeout_seconds: float = 60.0
) -> Iterator[MariaDB]:
    """Start a fresh MariaDB on 127.0.0.1 with a TCP superuser ``user``/``password``; stop and delete it after."""
    binaries = find_binaries()
    as_root = os.geteuid() == 0
    # As root, MariaDB refuses to run as root and drops to the `mysql` account the package creates; any other
    # user runs it as themselves. That account also logs in over the socket without a password.
    os_user = "mysql" if as_root else getpass.getuser()
    superuser = "root" if as_root else os_user
    # Not under pytest's tmp_path: its folders are private to root (0700), which `mysql` cannot enter. A short
    # path also keeps the socket under the 108-byte limit of Unix socket names.
    base = Path(tempfile.mkdtemp(prefix="mariadb-"))
    datadir, socket, log = base / "data", base / "mariadbd.sock", base / "mariadbd.log"
    process: subprocess.Popen[bytes] | None = None
    try:
        datadir.mkdir()
        if as_root:
            shutil.chown(base, os_user)
            shutil.chown(datadir, os_user)
        install = subprocess.run(
            [
                binaries["mariadb-install-db"],
                "--no-defaults",
                f"--user={os_user}",
                f"--datadir={datadir}",
                "--auth-root-authentication-method=socket",
                f"--auth-root-socket-user={os_user}",
                "--skip-test-db",
            ],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if install.returncode != 0:
            raise MariaDBError(f"mariadb-install-db failed (exit {install.returncode}):\n{install.stderr[-2000:]}")
        port = free_port()
        command = [
            binaries["mariadbd"],
            "--no-defaults",
            *([f"--user={os_user}"] if as_root else []),
            f"--datadir={datadir}",
            f"--socket={socket}",
            f"--pid-file={base / 'mariadbd.pid'}",
            f"--log-error={log}",
            f"--port={port}",
            "--bind-address=127.0.0.1",
            "--skip-networking=0",
            "--skip-name-resolve",
            # Closer to Aurora MySQL 3 (MySQL 8.0): four-byte UTF-8 and MySQL 8's SQL mode.
            "--character-set-server=utf8mb4",
            "--collation-server=utf8mb4_general_ci",
            f"--sql-mode={MYSQL8_SQL_MODE}",
            # A throwaway server: small and fast rather than durable.
            "--innodb-buffer-pool-size=64M",
            "--innodb-flush-log-at-trx-commit=0",
            "--innodb-doublewrite=0",
            "--skip-log-bin",
        ]
        process = subprocess.Popen(
            command,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        server = MariaDB(
            host="127.0.0.1",
            port=port,
            user=user,
            password=password,
            socket=socket,
            log=log,
            client=binaries["mariadb"],
            superuser=superuser,
        )
        deadline = time.monotonic() + timeout_seconds
        while True:
            if process.poll() is not None:
                raise MariaDBError(f"mariadbd exited with code {process.returncode}:\n{_tail(log)}")
            if socket.exists():
                with contextlib.suppress(MariaDBError):
                    server.sql("SELECT 1")
                    break
            if time.monotonic() > deadline:
                raise MariaDBError(f"mariadbd did not accept connections within {timeout_seconds:.0f} s:\n{_tail(log)}")
            time.sleep(0.2)
        account = f"{sql_string(user)}@'%'"
        server.sql(
            f"CREATE USER {account} IDENTIFIED BY {sql_string(password)};\n"
            f"GRANT ALL PRIVILEGES ON *.* TO {account} WITH GRANT OPTION;\n"
        )
        yield server
    finally:
        if process is not None:
            stop(process, grace_seconds=30.0)
        shutil.rmtree(base, ignore_errors=True)


def main() -> None:
    """Run a throwaway MariaDB until Ctrl-C, printing how to reach it (for trying things by hand)."""
    with mariadb_server() as db:
        print(f"MariaDB on {db.host}:{db.port}, user {db.user!r}, password {db.password!r}; socket {db.socket}")
        with contextlib.suppress(KeyboardInterrupt):
            while True:
                time.sleep(3600)


if __name__ == "__main__":
    main()
