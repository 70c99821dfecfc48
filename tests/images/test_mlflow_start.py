"""The MLflow container's start-up (infra/images/mlflow/mlflow_start.py), against a real MariaDB and a real server.

MariaDB 10.11 in MySQL 8 mode stands in for Aurora MySQL 3. Without MariaDB the database tests skip locally; in CI
(``CI`` set) they fail instead, because .ci/run installs it.
"""

from __future__ import annotations

import base64
import contextlib
import importlib.util
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pymysql
import pytest
from sqlalchemy.engine import make_url

from local.mariadb import MariaDB, mariadb_server, missing_mariadb, sql_string
from local.processes import free_port

ROOT = Path(__file__).resolve().parents[2]
IMAGE = ROOT / "infra" / "images" / "mlflow"
SCRIPT = IMAGE / "mlflow_start.py"


def load_module():
    spec = importlib.util.spec_from_file_location("mlflow_start", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules["mlflow_start"] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


ms = load_module()
Credentials = ms.Credentials

MLFLOW_DB = Credentials("mlflow_app", "Ml@f:l/o%w#?'db-password")
ADMIN = Credentials("admin", "Adm1n@:/%#?-password")
PIPELINE = Credentials("pipeline", "P1pe@:/%#?-password")
FLASK_KEY = "flask-secret-key-for-tests-0123456789"
PUBLIC_HOST = "mlflow.example.com"


def secret_json(credentials: Credentials) -> str:
    return json.dumps({"username": credentials.username, "password": credentials.password})


def base_env(**overrides: str) -> dict[str, str]:
    """A complete, valid environment contract (the database part points nowhere until a test says where)."""
    env = {
        "DB_HOST": "127.0.0.1",
        "DB_MASTER_SECRET": secret_json(Credentials("master", "Ma$ter@:/%#?'pw-1")),
        "DB_MLFLOW_SECRET": secret_json(MLFLOW_DB),
        "MLFLOW_ADMIN_SECRET": secret_json(ADMIN),
        "MLFLOW_PIPELINE_SECRET": secret_json(PIPELINE),
        "MLFLOW_FLASK_SERVER_SECRET_KEY": FLASK_KEY,
        "ARTIFACTS_DESTINATION": "/tmp/artifacts",
        "ALLOWED_HOSTS": PUBLIC_HOST,
    }
    env.update(overrides)
    return {key: value for key, value in env.items() if value is not None}


def db_env(db: MariaDB, **overrides: str) -> dict[str, str]:
    master = secret_json(Credentials(db.user, db.password))
    return base_env(**{"DB_HOST": db.host, "DB_PORT": str(db.port), "DB_MASTER_SECRET": master, **overrides})


def all_secret_forms(*secrets: str) -> list[str]:
    return [form for secret in secrets for form in (secret, urllib.parse.quote(secret, safe=""))]


SECRETS = [MLFLOW_DB.password, ADMIN.password, PIPELINE.password, FLASK_KEY]


def entry_point(*args: str) -> list[str]:
    """The image's ENTRYPOINT, ``python -m mlflow_start``, found through PYTHONPATH as in the image."""
    return [sys.executable, "-m", "mlflow_start", *args]


def run_script(env: dict[str, str], *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        entry_point(*args),
        env={"PATH": os.environ.get("PATH", ""), **env, "PYTHONPATH": str(IMAGE)},
        cwd="/",
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def skip_or_fail(reason: str, env: dict[str, str]) -> None:
    """Without MariaDB: skip locally, fail in CI (``CI`` set), where .ci/run installs it."""
    if env.get("CI", "").lower() not in ("", "0", "false"):
        pytest.fail(f"{reason}; CI must run the MariaDB tests (.ci/run installs it)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def mariadb() -> Iterator[MariaDB]:
    reason = missing_mariadb()
    if reason:
        skip_or_fail(reason, dict(os.environ))
    with mariadb_server() as db:
        yield db


def connections_of(db: MariaDB, *users: str) -> int:
    """Open connections of ``users``, seen by MariaDB's root over the socket (not one of them)."""
    names = ", ".join(sql_string(user) for user in users)
    query = f"SELECT COUNT(*) FROM information_schema.processlist WHERE user IN ({names});"  # noqa: S608 - quoted
    return int(db.sql(query).strip())


def can_connect(db: MariaDB, credentials: Credentials, database: str) -> bool:
    try:
        connection = pymysql.connect(
            host=db.host, port=db.port, user=credentials.username, password=credentials.password, database=database
        )
    except pymysql.err.OperationalError as error:
        assert error.args[0] == 1045, error
        return False
    connection.close()
    return True


# ----------------------------------------------------------------------------------------------------------------
# Pure functions


@pytest.mark.parametrize("character", ["@", ":", "/", "%", "#", "?", "@:/%#?"])
def test_database_uri_round_trips_passwords_and_users_with_special_characters(character):
    credentials = Credentials(f"us{character}er", f"pass{character}word{character}")
    uri = ms.database_uri(credentials, "db.cluster-x.eu-west-1.rds.amazonaws.com", 3306, "mlflow")
    url = make_url(uri)
    assert url.drivername == "mysql+pymysql"
    assert (url.username, url.password) == (credentials.username, credentials.password)
    assert (url.host, url.port, url.database) == ("db.cluster-x.eu-west-1.rds.amazonaws.com", 3306, "mlflow")


def test_masked_uri_keeps_user_host_and_database_but_not_the_password():
    uri = ms.database_uri(MLFLOW_DB, "db.example", 3306, "mlflow_auth")
    masked = ms.mask_uri(uri)
    assert masked == "mysql+pymysql://mlflow_app:***@db.example:3306/mlflow_auth"
    assert not any(form in masked for form in all_secret_forms(MLFLOW_DB.password))


def test_settings_defaults_and_no_secret_in_their_repr():
    settings = ms.load_settings(base_env())
    assert (settings.db_port, settings.db_name, settings.db_auth_name, settings.port) == (
        3306,
        "mlflow",
        "mlflow_auth",
        5000,
    )
    assert settings.default_permission == "READ"
    assert settings.allowed_hosts == (PUBLIC_HOST,)
    assert not any(secret in repr(settings) for secret in SECRETS)


REQUIRED = [
    "DB_HOST",
    "DB_MASTER_SECRET",
    "DB_MLFLOW_SECRET",
    "MLFLOW_ADMIN_SECRET",
    "MLFLOW_PIPELINE_SECRET",
    "MLFLOW_FLASK_SERVER_SECRET_KEY",
    "ARTIFACTS_DESTINATION",
    "ALLOWED_HOSTS",
]


@pytest.mark.parametrize("name", REQUIRED)
def test_a_missing_variable_is_named(name):
    env = base_env()
    del env[name]
    with pytest.raises(ms.ConfigError, match=name):
        ms.load_settings(env)


@pytest.mark.parametrize(
    ("overrides", "named"),
    [
        ({"DB_MLFLOW_SECRET": '{"username": "mlflow_app", "password": "Secr3t-not-json'}, "DB_MLFLOW_SECRET"),
        ({"MLFLOW_ADMIN_SECRET": '["admin", "Secr3t-in-a-list"]'}, "MLFLOW_ADMIN_SECRET"),
        ({"MLFLOW_PIPELINE_SECRET": '{"username": "pipeline"}'}, "MLFLOW_PIPELINE_SECRET"),
        (
            {"MLFLOW_PIPELINE_SECRET": secret_json(Credentials("pipeline", "Secr3t-short"[:8]))},
            "MLFLOW_PIPELINE_SECRET",
        ),
        ({"DB_MLFLOW_SECRET": secret_json(Credentials("master", "Secr3t-password"))}, "DB_MLFLOW_SECRET"),
        ({"DB_MLFLOW_SECRET": secret_json(Credentials("rdsadmin", "Secr3t-password"))}, "DB_MLFLOW_SECRET"),
        ({"DB_MLFLOW_SECRET": secret_json(Credentials("mlflow'; DROP", "Secr3t-password"))}, "DB_MLFLOW_SECRET"),
        ({"MLFLOW_PIPELINE_SECRET": secret_json(Credentials("admin", "Secr3t-password"))}, "MLFLOW_PIPELINE_SECRET"),
        ({"MLFLOW_ADMIN_SECRET": secret_json(Credentials("admin", "Secr3t-password\n"))}, "MLFLOW_ADMIN_SECRET"),
        ({"DB_PORT": "three"}, "DB_PORT"),
        ({"PORT": "70000"}, "PORT"),
        ({"DB_NAME": "mlflow; DROP"}, "DB_NAME"),
        ({"DB_AUTH_NAME": "mlflow"}, "DB_AUTH_NAME"),
        ({"ALLOWED_HOSTS": "https://mlflow.example.com/"}, "ALLOWED_HOSTS"),
        ({"ALLOWED_HOSTS": "*"}, "ALLOWED_HOSTS"),
        ({"MLFLOW_DEFAULT_PERMISSION": "ALL"}, "MLFLOW_DEFAULT_PERMISSION"),
        ({"DB_WAIT_SECONDS": "-1"}, "DB_WAIT_SECONDS"),
        ({"AUTH_CACHE_SECONDS": "1.5"}, "AUTH_CACHE_SECONDS"),
    ],
)
def test_a_malformed_variable_is_named_without_echoing_a_secret(overrides, named):
    with pytest.raises(ms.ConfigError) as raised:
        ms.load_settings(base_env(**overrides))
    message = str(raised.value)
    assert named in message
    assert "Secr3t" not in message
    assert not any(secret in message for secret in SECRETS)


def test_the_container_exits_2_on_a_bad_environment_listing_every_problem_and_no_secret():
    env = base_env(DB_MASTER_SECRET='{"username": "master", "password": "Secr3t-not-json', ALLOWED_HOSTS="")
    started = time.monotonic()
    result = run_script(env)
    assert result.returncode == 2
    assert time.monotonic() - started < 15
    assert "DB_MASTER_SECRET is not valid JSON" in result.stderr
    assert "ALLOWED_HOSTS is missing" in result.stderr
    output = result.stdout + result.stderr
    assert "Secr3t" not in output
    assert not any(form in output for form in all_secret_forms(*SECRETS))


def test_auth_config_is_private_and_reads_back_through_mlflow(tmp_path, monkeypatch):
    from mlflow.server.auth.config import read_auth_config

    settings = ms.load_settings(base_env())
    path = ms.write_auth_config(settings, tmp_path)
    assert path.stat().st_mode & 0o777 == 0o600
    monkeypatch.setenv("MLFLOW_AUTH_CONFIG_PATH", str(path))
    monkeypatch.delenv("MLFLOW_AUTH_ADMIN_USERNAME", raising=False)
    monkeypatch.delenv("MLFLOW_AUTH_ADMIN_PASSWORD", raising=False)
    config = read_auth_config()  # configparser interpolation: every "%" must have survived
    assert config.database_uri == settings.auth_database_uri
    assert make_url(config.database_uri).password == MLFLOW_DB.password
    assert (config.admin_username, config.admin_password) == (ADMIN.username, ADMIN.password)
    assert config.default_permission == "READ"
    assert config.authorization_function == "mlflow.server.auth:authenticate_request_basic_auth"
    assert config.auth_cache_ttl_seconds == 60


def test_server_command_and_environment_keep_secrets_off_the_command_line_and_the_master_away(tmp_path):
    settings = ms.load_settings(base_env(PORT="5001", ALLOWED_HOSTS="mlflow.example.com, mlflow.internal"))
    command = ms.server_command(settings, python="python")
    assert command[:4] == ["python", "-m", "mlflow", "server"]
    assert command[command.index("--app-name") + 1] == "basic-auth"
    assert command[command.index("--port") + 1] == "5001"
    assert command[command.index("--host") + 1] == "0.0.0.0"  # noqa: S104 - a container listens on its address
    assert "--no-serve-artifacts" in command
    assert command[command.index("--default-artifact-root") + 1] == settings.artifacts_destination
    hosts = command[command.index("--allowed-hosts") + 1].split(",")
    assert hosts[:2] == ["mlflow.example.com", "mlflow.internal"]
    assert {"127.0.0.1:5001", "localhost:5001"} <= set(hosts)
    origins = command[command.index("--cors-allowed-origins") + 1]
    assert origins == "https://mlflow.example.com,https://mlflow.internal"
    assert "--backend-store-uri" not in command
    assert not any(form in " ".join(command) for form in all_secret_forms(*SECRETS))

    env = ms.server_environment(settings, {**base_env(), "MLFLOW_AUTH_ADMIN_PASSWORD": "stale"}, tmp_path / "a.ini")
    assert env["MLFLOW_BACKEND_STORE_URI"] == settings.backend_store_uri
    assert env["MLFLOW_SQLALCHEMYSTORE_POOLCLASS"] == "NullPool"
    assert env["MLFLOW_AUTH_CONFIG_PATH"] == str(tmp_path / "a.ini")
    assert env["MLFLOW_FLASK_SERVER_SECRET_KEY"] == FLASK_KEY
    assert env["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"] == "false"
    assert not set(ms.SECRET_VARIABLES) & set(env)
    assert "MLFLOW_AUTH_ADMIN_PASSWORD" not in env


def test_database_statements_touch_exactly_the_two_databases_and_bind_user_and_password():
    settings = ms.load_settings(base_env(DB_NAME="tracking", DB_AUTH_NAME="auth"))
    statements = ms.database_statements(settings)
    assert [s.sql for s in statements if s.sql.startswith("GRANT")] == [
        "GRANT ALL PRIVILEGES ON `tracking`.* TO %s@'%%'",
        "GRANT ALL PRIVILEGES ON `auth`.* TO %s@'%%'",
    ]
    for statement in statements:
        assert MLFLOW_DB.password not in statement.sql and MLFLOW_DB.password not in statement.description
        assert statement.secret == (MLFLOW_DB.password in statement.args)


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def time(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def refused(_timeout: float):
    raise pymysql.err.OperationalError(2003, "Can't connect to MySQL server on 'db' ([Errno 111] Connection refused)")


def test_connect_with_retry_doubles_its_delay_up_to_10_s_and_stops_at_the_bound():
    clock = FakeClock()
    with pytest.raises(ms.StartupError) as raised:
        ms.connect_with_retry(
            refused, what="database db:3306", wait_seconds=60, first_delay=1, clock=clock.time, sleep=clock.sleep
        )
    assert clock.sleeps == [1, 2, 4, 8, 10, 10, 10, 10]  # never sleeps past the bound
    message = str(raised.value)
    assert "database db:3306: not reachable after 9 attempts in 55.0 s" in message
    assert "limit 60 s, DB_WAIT_SECONDS" in message and "Connection refused" in message


def test_connect_with_retry_rides_out_a_resuming_database():
    clock = FakeClock()
    calls: list[float] = []

    def resumes_after_15_s(timeout: float) -> str:
        calls.append(timeout)
        if clock.now < 15:
            refused(timeout)
        return "connection"

    result = ms.connect_with_retry(
        resumes_after_15_s, what="db", wait_seconds=120, first_delay=1, clock=clock.time, sleep=clock.sleep
    )
    assert result == "connection"
    assert clock.sleeps == [1, 2, 4, 8] and len(calls) == 5
    assert all(1 <= timeout <= 10 for timeout in calls)


def test_connect_with_retry_does_not_retry_wrong_credentials():
    clock = FakeClock()

    def denied(_timeout: float):
        raise pymysql.err.OperationalError(1045, "Access denied for user 'master'@'10.0.0.1' (using password: YES)")

    with pytest.raises(ms.StartupError, match="access denied"):
        ms.connect_with_retry(denied, what="db", wait_seconds=60, first_delay=1, clock=clock.time, sleep=clock.sleep)
    assert clock.sleeps == []


def test_an_unreachable_database_is_retried_then_fails_clearly_after_the_bound():
    env = base_env(DB_PORT=str(free_port()), DB_WAIT_SECONDS="2", DB_RETRY_DELAY_SECONDS="0.2")
    started = time.monotonic()
    result = run_script(env)
    elapsed = time.monotonic() - started
    assert result.returncode == 1, result.stderr
    assert 1.0 < elapsed < 15
    assert result.stderr.count("not reachable yet") >= 2
    assert "not reachable after" in result.stderr and "DB_WAIT_SECONDS" in result.stderr
    assert not any(form in result.stderr for form in all_secret_forms(*SECRETS, "Ma$ter@:/%#?'pw-1"))


def test_sigterm_while_waiting_for_the_database_stops_the_container_at_once():
    env = base_env(DB_PORT=str(free_port()), DB_WAIT_SECONDS="60", DB_RETRY_DELAY_SECONDS="0.5")
    process = subprocess.Popen(
        entry_point(),
        env={"PATH": os.environ.get("PATH", ""), **env, "PYTHONPATH": str(IMAGE)},
        stderr=subprocess.PIPE,
        text=True,
    )
    time.sleep(1.5)
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=10)
    assert process.returncode == 128 + signal.SIGTERM
    assert "stopped by signal 15 before the server started" in stderr


def test_the_log_filter_masks_secrets_raw_and_url_encoded():
    import logging

    record = logging.LogRecord("mlflow_start", logging.INFO, __file__, 1, "uri %s and %s", None, None)
    record.args = (ms.database_uri(MLFLOW_DB, "db", 3306, "mlflow"), ADMIN.password)
    assert ms._SecretFilter([MLFLOW_DB.password, ADMIN.password]).filter(record)
    assert record.getMessage() == "uri mysql+pymysql://mlflow_app:***@db:3306/mlflow and ***"


def test_without_mariadb_the_tests_skip_locally_but_fail_in_ci(monkeypatch):
    monkeypatch.setattr("local.mariadb.EXTRA_PATHS", ())
    monkeypatch.setenv("PATH", "/nonexistent")
    reason = missing_mariadb()
    assert reason is not None and "mariadbd" in reason and "apt-get install -y mariadb-server" in reason
    with pytest.raises(pytest.skip.Exception, match="MariaDB is not installed"):
        skip_or_fail(reason, {})
    with pytest.raises(pytest.fail.Exception, match="CI must run the MariaDB tests"):
        skip_or_fail(reason, {"CI": "true"})


def test_healthcheck_fails_when_nothing_listens():
    assert run_script({"PORT": str(free_port())}, "healthcheck").returncode == 1


# ----------------------------------------------------------------------------------------------------------------
# The pre-start step against MariaDB


def test_prepare_database_creates_both_databases_and_the_user_idempotently_and_closes_its_connection(mariadb):
    settings = ms.load_settings(db_env(mariadb, DB_NAME="prep_tracking", DB_AUTH_NAME="prep_auth"))
    for _ in range(2):  # a restart runs it again on a prepared database
        ms.prepare_database(settings)
        assert connections_of(mariadb, mariadb.user, MLFLOW_DB.username) == 0
    databases = set(mariadb.sql("SHOW DATABASES;").split())
    assert {"prep_tracking", "prep_auth"} <= databases
    assert can_connect(mariadb, MLFLOW_DB, "prep_tracking") and can_connect(mariadb, MLFLOW_DB, "prep_auth")
    grants = mariadb.sql(f"SHOW GRANTS FOR {sql_string(MLFLOW_DB.username)}@'%';")
    granted = [line for line in grants.splitlines() if "ALL PRIVILEGES" in line]
    assert len(granted) == 2 and all("`prep_tracking`" in g or "`prep_auth`" in g for g in granted)
    assert "ON *.*" not in " ".join(granted)


def test_a_changed_mlflow_user_password_is_applied(mariadb):
    old = Credentials("rotating_user", "old-Pass@:/%#?word")
    new = Credentials("rotating_user", "new-Pass@:/%#?word")
    for credentials in (old, new):
        env = db_env(
            mariadb, DB_NAME="rot_tracking", DB_AUTH_NAME="rot_auth", DB_MLFLOW_SECRET=secret_json(credentials)
        )
        ms.prepare_database(ms.load_settings(env))
    assert can_connect(mariadb, new, "rot_tracking")
    assert not can_connect(mariadb, old, "rot_tracking")


def test_a_wrong_master_password_fails_fast_without_a_secret_in_the_output(mariadb):
    wrong = Credentials(mariadb.user, "Wr0ng@:/%#?-master")
    env = db_env(mariadb, DB_MASTER_SECRET=secret_json(wrong), DB_NAME="never", DB_AUTH_NAME="never_auth")
    started = time.monotonic()
    result = run_script(env)
    assert result.returncode == 1
    assert time.monotonic() - started < 15
    assert "access denied" in result.stderr and "check the secret" in result.stderr
    assert "not reachable yet" not in result.stderr
    assert not any(form in result.stderr for form in all_secret_forms("Wr0ng@:/%#?-master", *SECRETS))
    assert "never" not in mariadb.sql("SHOW DATABASES;").split()


# ----------------------------------------------------------------------------------------------------------------
# The whole container: pre-start, migrations, the real server with basic auth on MariaDB, a restart


@dataclass
class Container:
    """mlflow_start.py run as ECS runs the image's entry point, in its own process group."""

    env: dict[str, str]
    log: Path
    process: subprocess.Popen[bytes] | None = None
    startup_seconds: float = 0.0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.env['PORT']}"

    def start(self, timeout: float = 150) -> float:
        started = time.monotonic()
        mark = self.log.stat().st_size if self.log.exists() else 0
        with self.log.open("ab") as output:
            self.process = subprocess.Popen(
                entry_point(),
                env={**self.env, "PYTHONPATH": str(IMAGE)},
                cwd=self.log.parent,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        while time.monotonic() - started < timeout:
            if b"mlflow_start INFO ready" in self.log.read_bytes()[mark:]:
                return time.monotonic() - started
            if self.process.poll() is not None:
                pytest.fail(f"the container exited with {self.process.returncode}:\n{self.log.read_text()[-5000:]}")
            time.sleep(0.25)
        pytest.fail(f"not ready after {timeout} s:\n{self.log.read_text()[-5000:]}")

    def stop(self) -> int:
        """SIGTERM to the entry point only, as ECS sends it; returns its exit code."""
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(timeout=60)
        return code

    def group_alive(self) -> bool:
        try:
            os.killpg(self.process.pid, 0)
        except ProcessLookupError:
            return False
        return True

    def kill(self) -> None:
        if self.process is not None and self.group_alive():
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()


def http(container: Container, method: str, path: str, credentials: Credentials | None = None, **kw):
    """(status, body text) of one request; ``headers`` and ``body`` (a dict, sent as JSON) are optional."""
    headers = dict(kw.get("headers", {}))
    data = json.dumps(kw["body"]).encode() if "body" in kw else None
    if data is not None:
        headers["Content-Type"] = "application/json"
    if credentials is not None:
        token = base64.b64encode(f"{credentials.username}:{credentials.password}".encode()).decode()
        headers["Authorization"] = f"Basic {token}"
    url = container.url + path  # http://127.0.0.1:<port>/...
    request = urllib.request.Request(url, data=data, method=method, headers=headers)  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


@pytest.fixture(scope="module")
def container(mariadb, tmp_path_factory) -> Iterator[Container]:
    workdir = tmp_path_factory.mktemp("mlflow-container")
    env = {
        **os.environ,
        **db_env(
            mariadb,
            ARTIFACTS_DESTINATION=str(workdir / "artifacts"),
            PORT=str(free_port()),
            WORKERS="1",  # two cores here, shared with the tests; production runs the default (2)
            MLFLOW_SERVER_ENABLE_JOB_EXECUTION="false",
        ),
    }
    box = Container(env=env, log=workdir / "container.log")
    box.startup_seconds = box.start()
    try:
        yield box
    finally:
        if box.process is not None and box.process.poll() is None:
            box.stop()
        box.kill()


slow = pytest.mark.slow


@slow
def test_anonymous_requests_get_401_and_health_needs_no_login(container):
    assert http(container, "GET", "/api/2.0/mlflow/experiments/search?max_results=1")[0] == 401
    assert http(container, "GET", "/health") == (200, "OK")
    assert run_script({"PORT": container.env["PORT"]}, "healthcheck").returncode == 0


@slow
def test_only_the_public_host_and_loopback_are_served_and_the_ui_origin_may_post(container):
    search = "/api/2.0/mlflow/experiments/search?max_results=1"
    assert http(container, "GET", search, PIPELINE, headers={"Host": PUBLIC_HOST})[0] == 200
    assert http(container, "GET", search, PIPELINE, headers={"Host": "evil.example.net"})[0] == 403
    # ALB target health checks use the task's private address as Host: /health answers whatever the Host.
    assert http(container, "GET", "/health", headers={"Host": "10.0.3.7:5000"})[0] == 200
    create = "/api/2.0/mlflow/experiments/create"
    ui = {"Host": PUBLIC_HOST, "Origin": f"https://{PUBLIC_HOST}"}
    assert http(container, "POST", create, PIPELINE, headers=ui, body={"name": "from-the-ui"})[0] == 200
    evil = {"Host": PUBLIC_HOST, "Origin": "https://evil.example.net"}
    assert http(container, "POST", create, PIPELINE, headers=evil, body={"name": "from-evil"})[0] == 403


def track_and_register(url: str, credentials: Credentials, name: str, monkeypatch) -> tuple[str, str]:
    import mlflow

    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", credentials.username)
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", credentials.password)
    client = mlflow.MlflowClient(tracking_uri=url, registry_uri=url)
    experiment_id = client.create_experiment(name)
    run = client.create_run(experiment_id)
    client.log_param(run.info.run_id, "alpha", "0.5")
    client.log_metric(run.info.run_id, "rmse", 1.25)
    client.log_text(run.info.run_id, "weights", "model/weights.txt")
    client.set_terminated(run.info.run_id)
    client.create_registered_model(name)
    version = client.create_model_version(name, f"{run.info.artifact_uri}/model", run_id=run.info.run_id)
    client.set_registered_model_alias(name, "staging", version.version)
    assert client.get_model_version_by_alias(name, "staging").run_id == run.info.run_id
    return experiment_id, run.info.run_id


@slow
def test_the_pipeline_user_and_the_admin_track_runs_and_register_models(container, monkeypatch):
    import mlflow

    pipeline_experiment, pipeline_run = track_and_register(container.url, PIPELINE, "pipeline-model", monkeypatch)
    admin_experiment, admin_run = track_and_register(container.url, ADMIN, "admin-model", monkeypatch)
    artifacts = Path(container.env["ARTIFACTS_DESTINATION"])
    assert (artifacts / pipeline_experiment / pipeline_run / "artifacts" / "model" / "weights.txt").read_text() == (
        "weights"
    )
    assert (artifacts / admin_experiment / admin_run / "artifacts" / "model" / "weights.txt").exists()

    # default_permission READ: the pipeline sees the admin's work but cannot change it.
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", PIPELINE.username)
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", PIPELINE.password)
    client = mlflow.MlflowClient(tracking_uri=container.url, registry_uri=container.url)
    assert client.get_run(admin_run).data.params == {"alpha": "0.5"}
    with pytest.raises(mlflow.exceptions.MlflowException, match=r"PERMISSION_DENIED|Permission denied"):
        client.log_param(admin_run, "beta", "1")

    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", "Wrong-password-123")
    with pytest.raises(mlflow.exceptions.MlflowException, match=r"401|Unauthorized|credentials"):
        client.get_run(pipeline_run)


@slow
def test_both_schemas_are_migrated_to_head_on_mariadb(container, mariadb):
    from mlflow.store.db.utils import _get_latest_schema_revision

    assert mariadb.sql("SELECT version_num FROM mlflow.alembic_version;").strip() == _get_latest_schema_revision()
    assert mariadb.sql("SELECT COUNT(*) FROM mlflow_auth.alembic_version_auth;").strip() == "1"
    constraints = mariadb.sql(
        "SELECT constraint_name FROM information_schema.table_constraints "
        "WHERE table_schema = 'mlflow_auth' AND constraint_type = 'FOREIGN KEY';"
    ).split()
    assert "fk_user_id" in constraints and "fk_registered_model_permissions_user_id" in constraints


@slow
def test_an_idle_server_holds_no_database_connection_and_never_sees_the_master_secret(container, mariadb):
    http(container, "GET", "/api/2.0/mlflow/experiments/search?max_results=5", PIPELINE)
    deadline = time.monotonic() + 5
    while connections_of(mariadb, MLFLOW_DB.username, mariadb.user) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert connections_of(mariadb, MLFLOW_DB.username, mariadb.user) == 0  # NullPool: Aurora may pause

    group = os.getpgid(container.process.pid)
    members = [p for p in Path("/proc").glob("[0-9]*") if _pgid(p) == group]
    assert len(members) >= 3  # mlflow_start, `mlflow server`, uvicorn and its worker
    secrets = all_secret_forms(mariadb.password, *SECRETS)
    for member in members:
        if int(member.name) == container.process.pid:
            continue
        with contextlib.suppress(FileNotFoundError, ProcessLookupError):
            command = (member / "cmdline").read_bytes().decode(errors="replace")
            environ = (member / "environ").read_bytes().decode(errors="replace")
            assert not any(secret in command for secret in secrets), command
            assert "DB_MASTER_SECRET" not in environ and mariadb.password not in environ


@slow
def test_the_log_names_the_steps_and_holds_no_secret(container, mariadb):
    log = container.log.read_text(errors="replace")
    for step in ("step 1/5", "step 2/5", "step 3/5", "step 4/5", "step 5/5", "ready: serving"):
        assert step in log
    assert "created pipeline user pipeline" in log and "created admin admin" in log
    for secret in all_secret_forms(mariadb.password, *SECRETS):
        assert secret not in log, "a secret reached the log"


@slow
def test_a_restart_with_rotated_master_and_admin_secrets_keeps_working(container, mariadb, monkeypatch):
    import mlflow

    password_hash = f"SELECT authentication_string FROM mysql.user WHERE user = {sql_string(MLFLOW_DB.username)};"  # noqa: S608
    mlflow_user_hash = mariadb.sql(password_hash)
    assert container.stop() == 0  # SIGTERM to the entry point: forwarded, the server stops cleanly
    assert not container.group_alive()

    rotated_master = Credentials(mariadb.user, "R0tated@:/%#?-master")
    rotated_admin = Credentials(ADMIN.username, "N3w-admin@:/%#?-pw")
    mariadb.sql(f"ALTER USER {sql_string(mariadb.user)}@'%' IDENTIFIED BY {sql_string(rotated_master.password)};")
    try:
        container.env["DB_MASTER_SECRET"] = secret_json(rotated_master)
        container.env["MLFLOW_ADMIN_SECRET"] = secret_json(rotated_admin)
        restart_seconds = container.start()
        print(f"first start {container.startup_seconds:.1f} s, restart {restart_seconds:.1f} s")

        assert mariadb.sql(password_hash) == mlflow_user_hash  # the MLflow user's password did not change
        assert can_connect(mariadb, MLFLOW_DB, "mlflow")
        assert http(container, "GET", "/api/2.0/mlflow/users/current", rotated_admin)[0] == 200
        assert http(container, "GET", "/api/2.0/mlflow/users/current", ADMIN)[0] == 401
        log = container.log.read_text(errors="replace")
        assert "set admin admin's password from its secret" in log
        assert "pipeline user pipeline is up to date" in log
        assert not any(secret in log for secret in all_secret_forms(rotated_master.password, rotated_admin.password))

        monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", PIPELINE.username)
        monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", PIPELINE.password)
        client = mlflow.MlflowClient(tracking_uri=container.url, registry_uri=container.url)
        assert client.get_model_version_by_alias("pipeline-model", "staging").version == "1"
        run = client.create_run(client.get_experiment_by_name("pipeline-model").experiment_id)
        client.log_metric(run.info.run_id, "rmse", 1.0)
    finally:
        mariadb.sql(f"ALTER USER {sql_string(mariadb.user)}@'%' IDENTIFIED BY {sql_string(mariadb.password)};")


def _pgid(proc: Path) -> int | None:
    try:
        return os.getpgid(int(proc.name))
    except (ProcessLookupError, PermissionError):
        return None
