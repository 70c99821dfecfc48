"""Start MLflow's tracking server and model registry on ECS Fargate, on Aurora MySQL, as a dedicated database user.

Aurora's RDS-managed master secret rotates every 7 days, so MLflow never runs with it: this pre-start step uses the
master credentials (as ECS injected them at task start) only to create or update a dedicated MLflow database user,
whose credentials live in their own secret that never rotates, then runs MLflow as that user. Aurora pauses at
0 ACU only when no connection is open, so MLflow runs with ``NullPool``, every connection opened here is closed,
and the first connection tolerates the ~15 s resume of a paused cluster (bounded retries with backoff).

Environment (ECS ``secrets`` inject a Secrets Manager secret by ARN as a variable holding the secret's JSON string):

    DB_HOST                 Aurora cluster (writer) endpoint. Required.
    DB_PORT                 default 3306.
    DB_NAME                 MLflow's tracking and registry database; default ``mlflow``.
    DB_AUTH_NAME            MLflow's basic-auth database (users, permissions); default ``mlflow_auth``.
    DB_MASTER_SECRET        secret: ``{"username", "password"}``, the RDS-managed master secret. Used only here,
                            never passed to the MLflow server.
    DB_MLFLOW_SECRET        secret: ``{"username", "password"}`` of the dedicated MLflow database user; created,
                            or its password set, on every start, so a changed secret is applied.
    MLFLOW_ADMIN_SECRET     secret: ``{"username", "password"}`` of MLflow's basic-auth admin.
    MLFLOW_PIPELINE_SECRET  secret: ``{"username", "password"}`` of the pipeline's MLflow user (CodeBuild, Lambdas).
    MLFLOW_FLASK_SERVER_SECRET_KEY
                            secret (a plain string): Flask's key for the basic-auth UI's CSRF tokens.
    ARTIFACTS_DESTINATION   where new experiments keep their artifacts, e.g. ``s3://bucket/artifacts``; clients
                            read and write there directly (the server does not proxy artifacts). Required.
    ALLOWED_HOSTS           comma-separated public host names (``mlflow.example.com``) the server answers to; each
                            also becomes an allowed CORS origin ``https://<host>`` so the UI behind HTTPS works.
                            Loopback is always allowed (this step calls the server there). Required.
    PORT                    default 5000.
  Optional tuning:
    WORKERS                 uvicorn worker processes; default 2 (each is a full MLflow app, ~250 MB).
    MLFLOW_DEFAULT_PERMISSION
                            basic-auth ``default_permission``; default ``READ`` (see ``DEFAULT_PERMISSION``).
    AUTH_CACHE_SECONDS      basic-auth ``auth_cache_ttl_seconds``; default 60, 0 turns the cache off (see
                            ``auth_config_text``).
    DB_WAIT_SECONDS         how long to keep retrying the first database connection; default 120.
    DB_RETRY_DELAY_SECONDS  first delay between attempts, doubled each time up to 10 s; default 1.
    SERVER_START_SECONDS    how long the server may take to answer ``/health``; default 180.

Sub-commands: ``python -m mlflow_start`` starts everything (the container's entry point); ``healthcheck`` exits 0
when the local server answers ``/health`` (ECS's container health check); ``migrate`` is the step this program
runs as a short-lived child (it reads the server's environment, so no secret is ever on a command line, and the
heavy MLflow imports never stay in this long-lived parent).
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any, TypeVar

import pymysql

LOG = logging.getLogger("mlflow_start")
T = TypeVar("T")

# Secret-bearing variables: parsed here, never handed to the MLflow server's environment.
SECRET_VARIABLES = ("DB_MASTER_SECRET", "DB_MLFLOW_SECRET", "MLFLOW_ADMIN_SECRET", "MLFLOW_PIPELINE_SECRET")
# Authenticated users may read every experiment and model (a team shares results), but write only what they
# created (MLflow grants its creator MANAGE) or were granted: the pipeline's experiments and registered models
# are its own, and a person cannot overwrite them by default. Anonymous requests are refused whatever this is.
DEFAULT_PERMISSION = "READ"
PERMISSIONS = ("READ", "USE", "EDIT", "MANAGE", "NO_PERMISSIONS")
# MySQL identifiers we interpolate (database names are not bindable parameters), and MySQL 8's user-name limit.
IDENTIFIER = re.compile(r"[A-Za-z0-9_]{1,64}")
DB_USER_NAME = re.compile(r"[A-Za-z0-9_]{1,32}")
HOST_NAME = re.compile(r"[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?(:[0-9]{1,5})?")
RESERVED_DB_USERS = frozenset({"root", "rdsadmin", "rdsrepladmin", "rdsproxyadmin", "mysql.sys", "mysql.session"})
# Connecting again cannot fix these: wrong credentials or a missing grant.
NOT_RETRYABLE = frozenset({1044, 1045, 1698})
MAX_RETRY_DELAY_SECONDS = 10.0
LOOPBACK = "127.0.0.1"
MIN_MLFLOW_PASSWORD = 12  # MLflow's basic auth refuses shorter passwords


class ConfigError(ValueError):
    """The environment is incomplete or malformed; the message names each variable, never a secret value."""


class StartupError(RuntimeError):
    """A start-up step failed; the message says which step and why, never a secret value."""


@dataclass(frozen=True)
class Credentials:
    username: str
    password: str = field(repr=False)


@dataclass(frozen=True)
class Settings:
    db_host: str
    db_port: int
    db_name: str
    db_auth_name: str
    master: Credentials
    mlflow_db: Credentials
    admin: Credentials
    pipeline: Credentials
    flask_secret_key: str = field(repr=False)
    artifacts_destination: str
    allowed_hosts: tuple[str, ...]
    port: int = 5000
    workers: int = 2
    default_permission: str = DEFAULT_PERMISSION
    auth_cache_seconds: int = 60
    db_wait_seconds: float = 120.0
    db_retry_delay_seconds: float = 1.0
    server_start_seconds: float = 180.0

    @property
    def backend_store_uri(self) -> str:
        return database_uri(self.mlflow_db, self.db_host, self.db_port, self.db_name)

    @property
    def auth_database_uri(self) -> str:
        return database_uri(self.mlflow_db, self.db_host, self.db_port, self.db_auth_name)

    @property
    def local_url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    def secrets(self) -> list[str]:
        """Every secret value this program knows, for scrubbing its log output."""
        values = [self.flask_secret_key]
        for credentials in (self.master, self.mlflow_db, self.admin, self.pipeline):
            values.append(credentials.password)
        return [value for value in values if value]


# ----------------------------------------------------------------------------------------------------------------
# Pure functions: URIs, settings, SQL, the auth config file, the server command line


def database_uri(credentials: Credentials, host: str, port: int, database: str) -> str:
    """SQLAlchemy URI for MySQL through PyMySQL, with user and password URL-encoded (``@:/%#?`` are safe)."""
    user = urllib.parse.quote(credentials.username, safe="")
    password = urllib.parse.quote(credentials.password, safe="")
    return f"mysql+pymysql://{user}:{password}@{host}:{port}/{database}"


def mask_uri(uri: str) -> str:
    """``uri`` with its password replaced by ``***``, for logs."""
    parts = urllib.parse.urlsplit(uri)
    if parts.password is None:
        return uri
    userinfo, _, hostinfo = parts.netloc.rpartition("@")
    user = userinfo.split(":", 1)[0]
    return urllib.parse.urlunsplit(parts._replace(netloc=f"{user}:***@{hostinfo}"))


def _credentials(env: Mapping[str, str], name: str, problems: list[str]) -> Credentials:
    raw = env.get(name, "")
    if not raw.strip():
        problems.append(f'{name} is missing: set it to the secret\'s JSON {{"username": ..., "password": ...}}')
        return Credentials("", "")
    try:
        value = json.loads(raw)
    except ValueError:
        # Never echo the text: it is a secret, and a parse error would quote it.
        problems.append(f'{name} is not valid JSON (expected an object with "username" and "password")')
        return Credentials("", "")
    if not isinstance(value, dict):
        problems.append(f'{name} is not a JSON object (expected "username" and "password")')
        return Credentials("", "")
    fields = {}
    for key in ("username", "password"):
        item = value.get(key)
        if not isinstance(item, str) or not item:
            problems.append(f'{name} has no non-empty string "{key}"')
        fields[key] = item if isinstance(item, str) else ""
    return Credentials(fields["username"], fields["password"])


def _number(env: Mapping[str, str], name: str, default: float, low: float, high: float, problems: list[str]) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        problems.append(f"{name} must be a number, got {raw!r}")
        return default
    if not low <= value <= high:
        problems.append(f"{name} must be between {low:g} and {high:g}, got {raw!r}")
        return default
    return value


def _integer(env: Mapping[str, str], name: str, default: int, low: int, high: int, problems: list[str]) -> int:
    raw = env.get(name, "").strip()
    if raw and not raw.isdigit():
        problems.append(f"{name} must be a whole number, got {raw!r}")
        return default
    return int(_number(env, name, default, low, high, problems))


def _identifier(env: Mapping[str, str], name: str, default: str, problems: list[str]) -> str:
    value = env.get(name, "").strip() or default
    if not IDENTIFIER.fullmatch(value):
        problems.append(f"{name} must be 1-64 letters, digits or underscores, got {value!r}")
    return value


def _check_mlflow_password(name: str, credentials: Credentials, problems: list[str]) -> None:
    password = credentials.password
    if password and len(password) < MIN_MLFLOW_PASSWORD:
        problems.append(f"{name} password is shorter than {MIN_MLFLOW_PASSWORD} characters (MLflow refuses it)")
    if password and (password != password.strip() or any(c in password for c in "\r\n")):
        # The admin password goes into an INI file, which strips surrounding blanks and ends values at a newline.
        problems.append(f"{name} password must not start or end with blanks or contain line breaks")


def load_settings(env: Mapping[str, str]) -> Settings:
    """Read and check the environment contract; ``ConfigError`` lists every problem, naming each variable."""
    problems: list[str] = []
    db_host = env.get("DB_HOST", "").strip()
    if not db_host:
        problems.append("DB_HOST is missing: set it to the Aurora cluster endpoint")
    db_port = _integer(env, "DB_PORT", 3306, 1, 65535, problems)
    db_name = _identifier(env, "DB_NAME", "mlflow", problems)
    db_auth_name = _identifier(env, "DB_AUTH_NAME", "mlflow_auth", problems)
    if db_name == db_auth_name:
        problems.append("DB_NAME and DB_AUTH_NAME must differ (the tracking and auth schemas stay apart)")
    master = _credentials(env, "DB_MASTER_SECRET", problems)
    mlflow_db = _credentials(env, "DB_MLFLOW_SECRET", problems)
    admin = _credentials(env, "MLFLOW_ADMIN_SECRET", problems)
    pipeline = _credentials(env, "MLFLOW_PIPELINE_SECRET", problems)
    if mlflow_db.username and not DB_USER_NAME.fullmatch(mlflow_db.username):
        problems.append("DB_MLFLOW_SECRET username must be 1-32 letters, digits or underscores")
    if mlflow_db.username and (
        mlflow_db.username == master.username or mlflow_db.username.lower() in RESERVED_DB_USERS
    ):
        # Setting its password would break the master user (and RDS's rotation of it).
        problems.append("DB_MLFLOW_SECRET username must be a dedicated user, not the master user or an RDS account")
    _check_mlflow_password("MLFLOW_ADMIN_SECRET", admin, problems)
    _check_mlflow_password("MLFLOW_PIPELINE_SECRET", pipeline, problems)
    if admin.username and admin.username == pipeline.username:
        problems.append("MLFLOW_PIPELINE_SECRET username must differ from MLFLOW_ADMIN_SECRET's (the admin)")
    if any(c in admin.username for c in "\r\n"):
        problems.append("MLFLOW_ADMIN_SECRET username must not contain line breaks")
    flask_secret_key = env.get("MLFLOW_FLASK_SERVER_SECRET_KEY", "")
    if not flask_secret_key.strip():
        problems.append("MLFLOW_FLASK_SERVER_SECRET_KEY is missing: set it to a long random string (a secret)")
    artifacts_destination = env.get("ARTIFACTS_DESTINATION", "").strip()
    if not artifacts_destination:
        problems.append("ARTIFACTS_DESTINATION is missing: set it to e.g. s3://bucket/artifacts")
    hosts = tuple(host.strip() for host in env.get("ALLOWED_HOSTS", "").split(",") if host.strip())
    if not hosts:
        problems.append("ALLOWED_HOSTS is missing: set it to the public host name(s), comma-separated")
    for host in hosts:
        if not HOST_NAME.fullmatch(host):
            problems.append(f"ALLOWED_HOSTS entry {host!r} is not a host name (no scheme, path or wildcard)")
    port = _integer(env, "PORT", 5000, 1, 65535, problems)
    workers = _integer(env, "WORKERS", 2, 1, 32, problems)
    default_permission = env.get("MLFLOW_DEFAULT_PERMISSION", "").strip().upper() or DEFAULT_PERMISSION
    if default_permission not in PERMISSIONS:
        problems.append(f"MLFLOW_DEFAULT_PERMISSION must be one of {', '.join(PERMISSIONS)}")
    auth_cache_seconds = _integer(env, "AUTH_CACHE_SECONDS", 60, 0, 3600, problems)
    db_wait_seconds = _number(env, "DB_WAIT_SECONDS", 120.0, 0.0, 3600.0, problems)
    db_retry_delay_seconds = _number(env, "DB_RETRY_DELAY_SECONDS", 1.0, 0.0, 60.0, problems)
    server_start_seconds = _number(env, "SERVER_START_SECONDS", 180.0, 1.0, 3600.0, problems)
    if problems:
        raise ConfigError("the container's environment is not usable:\n  - " + "\n  - ".join(problems))
    return Settings(
        db_host=db_host,
        db_port=db_port,
        db_name=db_name,
        db_auth_name=db_auth_name,
        master=master,
        mlflow_db=mlflow_db,
        admin=admin,
        pipeline=pipeline,
        flask_secret_key=flask_secret_key,
        artifacts_destination=artifacts_destination,
        allowed_hosts=hosts,
        port=port,
        workers=workers,
        default_permission=default_permission,
        auth_cache_seconds=auth_cache_seconds,
        db_wait_seconds=db_wait_seconds,
        db_retry_delay_seconds=db_retry_delay_seconds,
        server_start_seconds=server_start_seconds,
    )


@dataclass(frozen=True)
class Statement:
    """One SQL statement of the pre-start step; ``secret`` ones are never quoted in an error."""

    description: str
    sql: str
    args: tuple[str, ...] = ()
    secret: bool = False


def database_statements(settings: Settings) -> list[Statement]:
    """What the master user runs: both databases, the MLflow user with the secret's password, its grants."""
    user = settings.mlflow_db.username
    password = settings.mlflow_db.password
    statements = [
        Statement(f"create database {name}", f"CREATE DATABASE IF NOT EXISTS `{name}` CHARACTER SET utf8mb4")
        for name in (settings.db_name, settings.db_auth_name)
    ]
    # PyMySQL quotes the arguments client-side, so user and password are escaped string literals.
    statements.append(
        Statement(f"create user {user}", "CREATE USER IF NOT EXISTS %s@'%%' IDENTIFIED BY %s", (user, password), True)
    )
    # The user may exist from an earlier start with an older password: set the secret's current one.
    statements.append(
        Statement(f"set password of {user}", "ALTER USER %s@'%%' IDENTIFIED BY %s", (user, password), True)
    )
    statements.extend(
        Statement(f"grant {user} all on {name}", f"GRANT ALL PRIVILEGES ON `{name}`.* TO %s@'%%'", (user,))
        for name in (settings.db_name, settings.db_auth_name)
    )
    return statements


def _ini_value(value: str) -> str:
    # MLflow reads the file with configparser's default interpolation, where "%" starts a reference.
    return value.replace("%", "%%")


def auth_config_text(settings: Settings) -> str:
    """The basic-auth config file: the auth database as the MLflow user, the admin, the default permission.

    The credential cache: MLflow checks a password with scrypt on every request, ~0.1 s of CPU each, which made
    every API call take 0.3-0.9 s on two cores in our tests and ~10 ms with the cache. The price: a password
    changed or a user deleted through the API may still work on another worker for up to the TTL.
    """
    lines = [
        "[mlflow]",
        f"default_permission = {settings.default_permission}",
        f"database_uri = {_ini_value(settings.auth_database_uri)}",
        f"admin_username = {_ini_value(settings.admin.username)}",
        f"admin_password = {_ini_value(settings.admin.password)}",
        "authorization_function = mlflow.server.auth:authenticate_request_basic_auth",
        f"auth_cache_ttl_seconds = {settings.auth_cache_seconds}",
    ]
    return "\n".join(lines) + "\n"


def write_auth_config(settings: Settings, directory: Path) -> Path:
    """Write the auth config readable by this user only (0600): it holds the auth database password."""
    path = directory / "basic_auth.ini"
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as file:
        file.write(auth_config_text(settings))
    path.chmod(0o600)
    return path


def server_allowed_hosts(settings: Settings) -> list[str]:
    """Public host names plus loopback (this program and ECS's health check call the server there)."""
    loopback = ["localhost", f"localhost:{settings.port}", LOOPBACK, f"{LOOPBACK}:{settings.port}"]
    return list(dict.fromkeys([*settings.allowed_hosts, *loopback]))


def server_command(settings: Settings, python: str = sys.executable) -> list[str]:
    """``mlflow server`` with basic auth; the backend store URI comes from the environment, never the command."""
    origins = [f"https://{host}" for host in settings.allowed_hosts]
    return [
        python,
        "-m",
        "mlflow",
        "server",
        # --backend-store-uri is read from MLFLOW_BACKEND_STORE_URI (see server_environment): it holds a password,
        # and a command line is readable by every process in the container (/proc/<pid>/cmdline).
        # Clients read and write artifacts in S3 directly, with their own IAM permissions: the HTTPS front end
        # (API Gateway HTTP API) caps a request at 10 MB and 30 s, too little to proxy model files.
        "--default-artifact-root",
        settings.artifacts_destination,
        "--no-serve-artifacts",
        "--host",
        "0.0.0.0",  # noqa: S104 - a container: the load balancer reaches the task on its own address
        "--port",
        str(settings.port),
        "--workers",
        str(settings.workers),
        "--app-name",
        "basic-auth",
        "--allowed-hosts",
        ",".join(server_allowed_hosts(settings)),
        # The UI's own POSTs carry Origin: https://<host>; without this MLflow blocks them as cross-origin.
        "--cors-allowed-origins",
        ",".join(origins),
        # Keep idle connections open longer than the load balancer's idle timeout (60 s by default), or it may
        # reuse one uvicorn has just closed and answer 502.
        "--uvicorn-opts",
        "--timeout-keep-alive 75",
    ]


def server_environment(settings: Settings, env: Mapping[str, str], auth_config: Path) -> dict[str, str]:
    """The server's environment: no master (or other) secret JSON, the MLflow user's URIs, NullPool, auth config."""
    result = {key: value for key, value in env.items() if key not in SECRET_VARIABLES}
    result.update(
        {
            "MLFLOW_BACKEND_STORE_URI": settings.backend_store_uri,
            "MLFLOW_AUTH_CONFIG_PATH": str(auth_config),
            "MLFLOW_FLASK_SERVER_SECRET_KEY": settings.flask_secret_key,
            # A connection per request, closed after it: an idle server holds none, so Aurora can pause at 0 ACU.
            "MLFLOW_SQLALCHEMYSTORE_POOLCLASS": "NullPool",
            "PYTHONUNBUFFERED": "1",
        }
    )
    # Set in the auth config file; an inherited value would silently win over it.
    for key in ("MLFLOW_AUTH_ADMIN_USERNAME", "MLFLOW_AUTH_ADMIN_PASSWORD"):
        result.pop(key, None)
    # Background job execution (GenAI jobs, huey workers) polls the database, which would keep Aurora awake,
    # and this pipeline uses none of it. An explicit setting in the task definition still wins.
    result.setdefault("MLFLOW_SERVER_ENABLE_JOB_EXECUTION", "false")
    return result


# ----------------------------------------------------------------------------------------------------------------
# Steps with side effects


def connect_with_retry(
    connect: Callable[[float], T],
    *,
    what: str,
    wait_seconds: float,
    first_delay: float,
    max_delay: float = MAX_RETRY_DELAY_SECONDS,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """``connect(timeout)`` until it succeeds or ``wait_seconds`` pass (delays double up to ``max_delay``).

    A paused Aurora cluster resumes in about 15 s: attempts time out or are refused meanwhile. Wrong credentials
    are not retried. The final error says how long and how often it tried and the last error (never a secret).
    """
    start = clock()
    delay = first_delay
    attempts = 0
    while True:
        attempts += 1
        remaining = wait_seconds - (clock() - start)
        try:
            return connect(max(1.0, min(10.0, remaining)))
        except pymysql.err.OperationalError as error:
            code = error.args[0] if error.args else None
            if code in NOT_RETRYABLE:
                raise StartupError(f"{what}: access denied ({_mysql_error(error)}); check the secret") from None
            elapsed = clock() - start
            if elapsed + delay > wait_seconds:
                raise StartupError(
                    f"{what}: not reachable after {attempts} attempts in {elapsed:.1f} s "
                    f"(limit {wait_seconds:g} s, DB_WAIT_SECONDS); last error: {_mysql_error(error)}"
                ) from None
            LOG.info("%s: not reachable yet (%s); retrying in %.1f s", what, _mysql_error(error), delay)
            sleep(delay)
            delay = min(max_delay, max(delay * 2, 0.1))


def _mysql_error(error: BaseException) -> str:
    args = getattr(error, "args", ())
    if len(args) >= 2:
        return f"MySQL error {args[0]}: {args[1]}"
    return f"{type(error).__name__}: {error}"


def connect_as_master(settings: Settings) -> pymysql.connections.Connection:
    """One connection as the master user, once the database answers."""

    def connect(timeout: float) -> pymysql.connections.Connection:
        return pymysql.connect(
            host=settings.db_host,
            port=settings.db_port,
            user=settings.master.username,
            password=settings.master.password,
            connect_timeout=timeout,
            autocommit=True,
        )

    return connect_with_retry(
        connect,
        what=f"database {settings.db_host}:{settings.db_port} as the master user",
        wait_seconds=settings.db_wait_seconds,
        first_delay=settings.db_retry_delay_seconds,
    )


def prepare_database(settings: Settings) -> None:
    """As the master user: both databases, the MLflow user with its secret's password and grants. Then close."""
    connection = connect_as_master(settings)
    try:
        with connection.cursor() as cursor:
            for statement in database_statements(settings):
                LOG.info("database: %s", statement.description)
                try:
                    cursor.execute(statement.sql, statement.args or None)
                except pymysql.MySQLError as error:
                    detail = f"MySQL error {error.args[0]}" if statement.secret else _mysql_error(error)
                    raise StartupError(f"database step '{statement.description}' failed: {detail}") from None
    finally:
        connection.close()


def _this_program() -> list[str]:
    return [sys.executable, str(Path(__file__).resolve())]


def run_child_step(name: str, env: Mapping[str, str], timeout_seconds: float = 600.0) -> None:
    """Run ``python mlflow_start.py <name>`` with the server's environment; its output goes to ours."""
    result = subprocess.run([*_this_program(), name], env=dict(env), timeout=timeout_seconds, check=False)
    if result.returncode != 0:
        raise StartupError(f"step {name} failed with exit code {result.returncode} (its output is above)")


# MLflow's first basic-auth migration (8606fa83a998) names the user foreign key of two tables `fk_user_id`. MySQL
# and MariaDB want constraint names unique per database, so on Aurora MySQL it fails ("Duplicate foreign key
# constraint name"; MariaDB: errno 121) and the server never starts: https://github.com/mlflow/mlflow/issues/9642.
# We run the auth migrations before the server does, renaming the second one as its table is created.
DUPLICATE_FOREIGN_KEY = ("registered_model_permissions", "fk_user_id", "fk_registered_model_permissions_user_id")


def rename_duplicate_foreign_key(table: Any, connection: Any, **_: Any) -> None:
    """SQLAlchemy ``before_create`` hook: give the second ``fk_user_id`` a unique name on MySQL/MariaDB only."""
    table_name, old, new = DUPLICATE_FOREIGN_KEY
    if table.name != table_name or connection.dialect.name not in ("mysql", "mariadb"):
        return
    for constraint in table.foreign_key_constraints:
        if constraint.name == old:
            constraint.name = new
            LOG.info("auth database: naming %s's foreign key %s (MLflow issue 9642)", table_name, new)


def migrate_from_environment() -> None:
    """The child step before the server starts: both schemas up to date, and the admin with its secret's password.

    1. ``mlflow db upgrade`` on MLFLOW_BACKEND_STORE_URI: creates the schema, or migrates it after a version bump.
    2. The basic-auth database's migrations (the server would run them too, but fails on MySQL, see above).
    3. The admin from the auth config: created, or its password set (MLflow only sets it when creating the user,
       so without this a changed admin secret would lock the admin out).
    """
    # Heavy imports: only this short-lived child pays for them (and their memory).
    import sqlalchemy
    from mlflow.db import upgrade
    from mlflow.server.auth.config import read_auth_config
    from mlflow.server.auth.sqlalchemy_store import SqlAlchemyStore

    uri = os.environ["MLFLOW_BACKEND_STORE_URI"]
    LOG.info("mlflow db upgrade %s", mask_uri(uri))
    upgrade.callback(uri)

    config = read_auth_config()
    if not config.admin_username or not config.admin_password:
        raise StartupError("the auth config has no admin username or password")
    LOG.info("auth database: migrating %s", mask_uri(config.database_uri))
    sqlalchemy.event.listen(sqlalchemy.Table, "before_create", rename_duplicate_foreign_key)
    store = SqlAlchemyStore()
    store.init_db(config.database_uri)
    try:
        name, password = config.admin_username, config.admin_password
        if not store.has_user(name, use_primary=True):
            store.create_user(name, password, is_admin=True)
            LOG.info("auth: created admin %s", name)
        elif not store.authenticate_user(name, password, use_primary=True) or not store.get_user(name).is_admin:
            store.update_user(name, password=password, is_admin=True)
            LOG.info("auth: set admin %s's password from its secret", name)
        else:
            LOG.info("auth: admin %s is up to date", name)
    finally:
        store.engine.dispose()


@dataclass(frozen=True)
class Response:
    status: int
    body: dict[str, Any]


def call(
    base_url: str,
    method: str,
    path: str,
    credentials: Credentials | None = None,
    body: Mapping[str, Any] | None = None,
    query: Mapping[str, str] | None = None,
    timeout: float = 30.0,
) -> Response:
    """One JSON request to the server; HTTP errors come back as a status, not an exception."""
    url = base_url + path + ("?" + urllib.parse.urlencode(query) if query else "")
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method)  # noqa: S310 - our own loopback URL
    if data is not None:
        request.add_header("Content-Type", "application/json")
    if credentials is not None:
        token = base64.b64encode(f"{credentials.username}:{credentials.password}".encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:  # noqa: S310
            status, raw = answer.status, answer.read()
    except urllib.error.HTTPError as error:
        status, raw = error.code, error.read()
    try:
        parsed = json.loads(raw) if raw else {}
    except ValueError:
        parsed = {"text": raw.decode(errors="replace")[:200]}
    return Response(status, parsed if isinstance(parsed, dict) else {"value": parsed})


def can_log_in(base_url: str, credentials: Credentials) -> bool:
    answer = call(base_url, "GET", "/api/2.0/mlflow/users/current", credentials)
    if answer.status not in (200, 401):
        raise StartupError(f"checking the login of {credentials.username}: HTTP {answer.status} {answer.body}")
    return answer.status == 200


def ensure_admin(settings: Settings) -> None:
    """The admin logs in with its secret's password (the migrate step made sure of it)."""
    if not can_log_in(settings.local_url, settings.admin):
        raise StartupError(f"admin {settings.admin.username} cannot log in with the password from MLFLOW_ADMIN_SECRET")
    LOG.info("auth: admin %s logs in", settings.admin.username)


def ensure_pipeline_user(settings: Settings) -> None:
    """As the admin, through MLflow's auth REST API: create the pipeline user or set its password to the secret's."""
    base, admin, pipeline = settings.local_url, settings.admin, settings.pipeline
    if can_log_in(base, pipeline):
        LOG.info("auth: pipeline user %s is up to date", pipeline.username)
        return
    found = call(base, "GET", "/api/2.0/mlflow/users/get", admin, query={"username": pipeline.username})
    credentials = {"username": pipeline.username, "password": pipeline.password}
    if found.status == 200:
        answer = call(base, "PATCH", "/api/2.0/mlflow/users/update-password", admin, body=credentials)
        action = "set the password of"
    elif found.status == 404:
        answer = call(base, "POST", "/api/2.0/mlflow/users/create", admin, body=credentials)
        action = "created"
    else:
        raise StartupError(f"looking up user {pipeline.username}: HTTP {found.status} {found.body}")
    if answer.status != 200:
        raise StartupError(f"could not {action.split()[0]} user {pipeline.username}: HTTP {answer.status}")
    if not can_log_in(base, pipeline):
        raise StartupError(f"pipeline user {pipeline.username} cannot log in after it was {action}")
    LOG.info("auth: %s pipeline user %s", action, pipeline.username)


def wait_until_healthy(url: str, process: subprocess.Popen[bytes], timeout_seconds: float) -> bool:
    """True once ``url`` answers 200; False if the process exits first; ``StartupError`` after the timeout."""
    deadline = time.monotonic() + timeout_seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False
        try:
            with urllib.request.urlopen(url, timeout=2) as answer:  # noqa: S310 - loopback URL we built
                if answer.status == 200:
                    return True
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.5)
    raise StartupError(f"the server did not answer {url} within {timeout_seconds:g} s (SERVER_START_SECONDS)")


def exit_code(returncode: int) -> int:
    """A shell-style exit code: 128 + N for a process killed by signal N."""
    return 128 - returncode if returncode < 0 else returncode


class _Stop(BaseException):
    """A stop signal arrived before the server was running."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


class _SecretFilter(logging.Filter):
    """Last line of defence: replace any known secret (raw or URL-encoded) in a log record with ``***``."""

    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        values = {value for secret in secrets for value in (secret, urllib.parse.quote(secret, safe=""))}
        self.secrets = sorted((value for value in values if len(value) >= 4), key=len, reverse=True)

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        for secret in self.secrets:
            message = message.replace(secret, "***")
        record.msg, record.args = message, None
        return True


def _configure_logging() -> logging.Handler:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s mlflow_start %(levelname)s %(message)s"))
    LOG.addHandler(handler)
    LOG.setLevel(logging.INFO)
    LOG.propagate = False
    return handler


def start(env: Mapping[str, str]) -> int:
    """Everything the container does; returns its exit code."""
    try:
        settings = load_settings(env)
    except ConfigError as error:
        LOG.error("%s", error)
        return 2
    for handler in LOG.handlers:
        handler.addFilter(_SecretFilter(settings.secrets()))

    server: subprocess.Popen[bytes] | None = None
    stopping: list[int] = []

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        stopping.append(signum)
        if server is not None and server.poll() is None:
            LOG.info("received signal %d: stopping the server", signum)
            server.send_signal(signum)
        else:
            raise _Stop(signum)

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    # Holds the auth config for the server's whole life: uvicorn reads it again when it replaces a dead worker.
    scratch = tempfile.TemporaryDirectory(prefix="mlflow-start-")
    try:
        LOG.info("step 1/5: waiting for the database, then preparing it as the master user")
        prepare_database(settings)
        auth_config = write_auth_config(settings, Path(scratch.name))
        LOG.info("step 2/5: wrote %s (auth database %s)", auth_config, mask_uri(settings.auth_database_uri))
        server_env = server_environment(settings, env, auth_config)
        LOG.info("step 3/5: migrating both databases as the MLflow user, and the admin user")
        run_child_step("migrate", server_env)
        command = server_command(settings)
        LOG.info("step 4/5: starting %s", " ".join(command[1:]))
        server = subprocess.Popen(command, env=server_env)
        if not wait_until_healthy(f"{settings.local_url}/health", server, settings.server_start_seconds):
            LOG.error("the server exited with code %s before it was healthy", server.returncode)
            return exit_code(server.wait())
        LOG.info("step 5/5: server healthy; checking the admin and the pipeline user")
        try:
            ensure_admin(settings)
            ensure_pipeline_user(settings)
        except (StartupError, OSError):
            if stopping:  # ECS stopped the task meanwhile: not a start-up failure
                return exit_code(server.wait())
            raise
        LOG.info("ready: serving on port %d", settings.port)
        while True:
            with contextlib.suppress(_Stop):
                code = server.wait()
                LOG.info("the server exited with code %d", code)
                return exit_code(code)
    except _Stop as stop:
        LOG.info("stopped by signal %d before the server started", stop.signum)
        return 128 + stop.signum
    except (StartupError, OSError, subprocess.SubprocessError) as error:
        LOG.error("start-up failed: %s", error)
        return 1
    finally:
        if server is not None and server.poll() is None:
            server.terminate()
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
        scratch.cleanup()
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def healthcheck(env: Mapping[str, str]) -> int:
    """0 when the local server answers /health (ECS container health check), else 1."""
    port = env.get("PORT", "").strip() or "5000"
    try:
        with urllib.request.urlopen(f"http://{LOOPBACK}:{int(port)}/health", timeout=3) as answer:
            return 0 if answer.status == 200 else 1
    except (OSError, ValueError):
        return 1


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args == ["healthcheck"]:
        return healthcheck(os.environ)
    _configure_logging()
    if not args:
        return start(os.environ)
    if args == ["migrate"]:
        migrate_from_environment()
        return 0
    LOG.error("unknown arguments %s; expected none, healthcheck or migrate", args)
    return 2


if __name__ == "__main__":
    sys.exit(main())
