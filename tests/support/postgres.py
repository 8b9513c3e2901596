"""A real PostgreSQL server for the tests: Debian's `postgresql` (``make test`` installs it when
missing), a fresh cluster made by ``initdb`` in a temporary folder and started with ``pg_ctl`` on
a free loopback port. No root service is touched; as root, the cluster runs as the ``postgres``
user the package creates (PostgreSQL refuses to run as root)."""

from __future__ import annotations

import glob
import os
import random
import secrets
import shutil
import socket
import subprocess
import tempfile
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

import psycopg
import yaml
from psycopg import sql

if TYPE_CHECKING:
    from reviewkit.project import Project

#: Where Debian puts each PostgreSQL version's programs.
BINARIES = "/usr/lib/postgresql/*/bin"
#: The role the tests connect as (the cluster's superuser; its connections are trusted).
USER = "reviewkit"
#: Who signs in how: the superuser without a password, every other role with one (SCRAM), as
#: a deployed store's user does (:meth:`PostgresServer.new_database_with_password`).
HBA = f"""\
local all all trust
host all {USER} 127.0.0.1/32 trust
host all all 127.0.0.1/32 scram-sha-256
"""


def binaries() -> Path | None:
    """The newest installed PostgreSQL's program folder, or None."""
    found = sorted(glob.glob(f"{BINARIES}/initdb"), key=lambda p: int(Path(p).parts[-3]))
    return Path(found[-1]).parent if found else None


def _real_clock() -> dict[str, str]:
    """This environment without libfaketime: `make calendar` moves the clock of reviewkit's
    processes, not the database server's (whose lock timeouts stop working under it)."""
    return {
        name: value
        for name, value in os.environ.items()
        if name != "LD_PRELOAD" and not name.startswith(("FAKETIME", "DONT_FAKE"))
    }


def free_port() -> int:
    """A port nothing listens on, below the range the system hands out for port 0.

    Servers that tests start bind the port some seconds after it is picked; a port from the
    system's own range could meanwhile go to a kernel (Jupyter binds its five ports to port 0)
    or to the other test process, and the server would fail to start (it did: "no available
    port could be found"). Below that range only other explicit picks can take it."""
    low = _ephemeral_start()
    for _ in range(200):
        port = random.randrange(10_000, low)
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port between 10000 and {low}")


def _ephemeral_start() -> int:
    """Where the system's range for port 0 starts (Linux: 32768 unless configured)."""
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32_768


class PostgresServer:
    """One cluster in a folder of its own; :meth:`stop` and :meth:`start` again keep its data (a server
    that goes away and comes back), :meth:`kill` stops it at once, as a crash would."""

    def __init__(self) -> None:
        bin_dir = binaries()
        assert bin_dir is not None, "PostgreSQL is not installed (make test installs it)"
        self.bin = bin_dir
        # Not under pytest's folders, which the postgres user may not enter.
        self.folder = Path(tempfile.mkdtemp(prefix="reviewkit-postgres-"))
        self.data = self.folder / "data"
        self.port = free_port()
        self._as_owner = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        if self._as_owner:
            shutil.chown(self.folder, "postgres")
        self._run(
            "initdb",
            "-D",
            str(self.data),
            "-U",
            USER,
            "--auth=trust",
            "--encoding=UTF8",
            "--locale=C.UTF-8",
            "--no-sync",
        )
        (self.data / "pg_hba.conf").write_text(HBA, encoding="utf-8")
        self.start()

    def _run(self, program: str, *arguments: str) -> None:
        command = [*self._as_owner, str(self.bin / program), *arguments]
        result = subprocess.run(
            command,
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
            cwd=self.folder,
            env=_real_clock(),
        )
        if result.returncode != 0:
            raise AssertionError(f"{' '.join(command)} failed:\n{result.stdout}{result.stderr}")

    def start(self) -> None:
        options = (
            f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 "
            "-c fsync=off -c full_page_writes=off -c max_connections=200"
        )
        log = str(self.folder / "server.log")
        self._run("pg_ctl", "-D", str(self.data), "-o", options, "-l", log, "-w", "start")

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")

    def kill(self) -> None:
        """Stop at once, dropping every connection (as a crashed or rebooted server does)."""
        self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")

    def remove(self) -> None:
        """Stop for good and delete the cluster."""
        self.kill()
        shutil.rmtree(self.folder, ignore_errors=True)

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{USER}@127.0.0.1:{self.port}/{database}"

    def new_database(self) -> str:
        """The address of a new, empty database."""
        name = f"test_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}")
        return self.url(name)

    def new_database_with_password(self) -> tuple[str, str]:
        """The address (without a password, as reviewkit.yaml holds it) of a new, empty
        database owned by a role of its own that must sign in with a password, and that
        password (for PGPASSWORD)."""
        name = f"test_{uuid.uuid4().hex[:12]}"
        password = secrets.token_urlsafe(12)
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(
                sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
                    sql.Identifier(name), sql.Literal(password)
                )
            )
            conn.execute(f"CREATE DATABASE {name} OWNER {name}")
        return f"postgresql://{name}@127.0.0.1:{self.port}/{name}", password


# -- the sample company's sources as warehouse tables (tests/test_warehouse.py) ----------------

#: DuckDB's types of the loaded sources, as PostgreSQL columns.
PG_TYPES = {
    "VARCHAR": "text",
    "DOUBLE": "double precision",
    "BIGINT": "bigint",
    "INTEGER": "integer",
    "DATE": "date",
    "TIMESTAMP": "timestamp",
    "BOOLEAN": "boolean",
}
#: The source read through a query rather than a table.
QUERIED = "subscriptions"
#: Only the file-specific keys of a declaration are dropped for the warehouse.
FILE_KEYS = ("path", "format", "options", "shape", "long", "on_error")


def copy_to_postgres(project: Project, url: str) -> None:
    """Every source's rows as loaded (typed, long sources pivoted) into schema ``analytics``."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE SCHEMA analytics")
        for name in project.config.sources:
            project.source(name)
            columns = project.workspace.query(f'DESCRIBE SELECT * FROM "{name}"')
            ddl = ", ".join(f'"{c[0]}" {PG_TYPES[str(c[1])]}' for c in columns)
            conn.execute(f'CREATE TABLE analytics."{name}" ({ddl})')
            rows = project.workspace.query(f'SELECT * FROM "{name}"')
            with (
                conn.cursor() as cursor,
                cursor.copy(f'COPY analytics."{name}" FROM STDIN') as copy,
            ):
                for row in rows:
                    copy.write_row(row)


def warehouse_config(text: str, url: str) -> str:
    """A reviewkit.yaml with every source in the SQL engine at ``url`` (tables of schema
    ``analytics``, as :func:`copy_to_postgres` makes them) instead of in files; a lifecycle
    source stays a file (its metrics are computed in DuckDB only)."""
    config = yaml.safe_load(text)
    for name, spec in config["sources"].items():
        if "lifecycle" in spec:
            continue
        for key in FILE_KEYS:
            spec.pop(key, None)
        if isinstance(spec["date"], dict):
            spec["date"].pop("format", None)
        spec["engine"] = url
        if name == QUERIED:
            spec["query"] = f'SELECT * FROM analytics."{name}" WHERE 1 = 1'
        else:
            spec["table"] = f"analytics.{name}"
    return yaml.safe_dump(config, sort_keys=False)


def kept_files(config: Path) -> set[str]:
    """The exports a :func:`warehouse_config` project still reads from files (its lifecycle
    sources'), by file name."""
    sources = yaml.safe_load(config.read_text(encoding="utf-8"))["sources"]
    return {Path(spec["path"]).name for spec in sources.values() if "path" in spec}
