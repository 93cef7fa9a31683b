"""Every path, URL and secret the platform reads, from environment variables with defaults.

One `Settings` object is the single place where the environment is read, so a typo or a
malformed value stops the process with a message naming the variable and the expected
form, instead of surfacing later as an obscure failure inside a run.

`.env` files, and which value wins. Every Dagster command (`dagster`, `dagster dev`,
`dagster-daemon`, `dagster-webserver`, and the code servers and run and step workers they
start) loads `.env` from its working directory *over* the process environment before it
imports any project code (dagster 1.13 `dagster/_cli/utils.py:_inject_local_env_file`), and
its children inherit the result. Code running there can no longer see the value the
environment had, so a conflict cannot be detected, let alone refused, inside Dagster. The
one precedence every entry point can share is therefore Dagster's, and `load_settings`
applies it the same way, to the environment itself, once per process and directory:

1. `.env` in the working directory: it overrides the process environment (a `pncp`
   command, which can still see both values, warns naming the variable and both sources;
   the values of secrets are never shown);
2. the process environment;
3. `.env` at the repository root, when the working directory is elsewhere: it fills in
   only what the environment does not set;
4. the defaults below.

The files are put into `os.environ` rather than only into this object because Dagster's
instance (`env: DAGSTER_PG_URL`), dbt's profile and every child process read the
environment, and they must see what the settings saw. `pncp init` writes a `.env` of
commented defaults, so a fresh checkout pins nothing and the environment decides.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import MutableMapping
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import Literal
from urllib.parse import parse_qsl, unquote, urlsplit

from dotenv import dotenv_values
from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent
ENV_FILE = ".env"
logger = logging.getLogger("project.settings")

# Expected forms, quoted in error messages: the variable name is the alias.
EXPECTED_FORMS: dict[str, str] = {
    "PLATFORM_DATA_DIR": "a directory path (absolute, or relative to the repository root)",
    "WAREHOUSE_PATH": "a file path ending in .duckdb (absolute, or relative to the repository)",
    "WAREHOUSE_MEMORY_LIMIT": "a DuckDB size such as 512MB or 2GB",
    "WAREHOUSE_BACKEND": "one of: file, ducklake",
    "WAREHOUSE_CATALOG_URL": "a URL like postgresql://user:password@host:5432/dbname",
    "WAREHOUSE_CATALOG_SCHEMA": "a PostgreSQL schema name (letters, digits and _)",
    "WAREHOUSE_DATA_PATH": "a directory path for the lake's Parquet files",
    "WAREHOUSE_WRITERS": "a whole number of concurrent writers on ducklake, 1 to 64",
    "EXPORTS_DIR": "a directory path (absolute, or relative to the repository root)",
    "SHOP_LANDING_DIR": "a directory path (absolute, or relative to the repository root)",
    "DAGSTER_HOME": "a directory path (absolute, or relative to the repository root)",
    "DAGSTER_PG_URL": "a URL like postgresql://user:password@host:5432/dbname",
    "PNCP_BASE_URL": "an http(s) URL like https://pncp.gov.br/api/consulta",
    "PNCP_API_TOKEN": "an opaque token string (optional)",
    "PNCP_START_DATE": "a date in the form YYYY-MM-DD (first daily partition)",
    "PNCP_MAX_CONCURRENCY": "a whole number of requests in flight, 1 to 256",
    "PNCP_RATE_LIMIT_PER_S": "requests per second as a number >= 0 (0 = no limit)",
    "PNCP_TIMEOUT_S": "seconds as a number > 0",
    "PNCP_MAX_RETRIES": "a whole number of retries per page, 0 to 20",
    "LOG_FORMAT": "one of: text, json",
    "LOG_JSON_PATH": "a file path for JSON log lines (absolute, or relative to the repository)",
    "LOG_LEVEL": "one of: DEBUG, INFO, WARNING, ERROR",
    "DBT_TARGET": "a target name from dbt_project/profiles.yml (dev)",
    "WAREHOUSE_POOL": "a Dagster concurrency pool name (letters, digits, _ and -)",
    "ALERT_WEBHOOK_URL": "an http(s) Slack or Discord incoming-webhook URL (optional)",
    "ALERT_WEBHOOK_FORMAT": "one of: auto, slack, discord",
    "ALERT_DEDUP_WINDOW_S": "seconds as a whole number >= 0 (0 = no deduplication)",
    "ALERT_MAX_PER_HOUR": "a whole number of alerts per hour, >= 1",
    "DAGSTER_UI_URL": "an http(s) URL like http://127.0.0.1:3000 (links in alerts)",
    "DAGSTER_EXECUTOR": "one of: multiprocess, celery",
    "CELERY_BROKER_URL": "a broker URL like pyamqp://guest:guest@127.0.0.1:5672// or redis://...",
}


class SettingsError(ValueError):
    """A setting is missing or malformed; the message names the variable and its form."""


def _resolve(path: Path) -> Path:
    return path if path.is_absolute() else (PROJECT_ROOT / path).resolve()


class Settings(BaseSettings):
    """The platform's configuration; field aliases are the environment variable names."""

    # The environment only: `load_settings` puts the `.env` files into it first.
    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True)

    data_dir: Path = Field(Path("data"), alias="PLATFORM_DATA_DIR")
    warehouse_path: Path | None = Field(None, alias="WAREHOUSE_PATH")
    warehouse_memory_limit: str = Field(
        "1GB",
        alias="WAREHOUSE_MEMORY_LIMIT",
        pattern=r"^\d+(\.\d+)?\s*(KB|MB|GB|TB|KiB|MiB|GiB|TiB)$",
    )
    # `file`: one DuckDB file, one writer. `ducklake`: catalog in PostgreSQL (a secret
    # URL), Parquet under the data path, several writers (project.lib.warehouse).
    warehouse_backend: Literal["file", "ducklake"] = Field("file", alias="WAREHOUSE_BACKEND")
    warehouse_catalog_url: SecretStr | None = Field(None, alias="WAREHOUSE_CATALOG_URL")
    warehouse_catalog_schema: str = Field(
        "ducklake", alias="WAREHOUSE_CATALOG_SCHEMA", pattern=r"^[A-Za-z_][A-Za-z0-9_]*$"
    )
    warehouse_data_path: Path | None = Field(None, alias="WAREHOUSE_DATA_PATH")
    warehouse_writers: int = Field(4, ge=1, le=64, alias="WAREHOUSE_WRITERS")
    exports_dir: Path | None = Field(None, alias="EXPORTS_DIR")
    shop_landing_dir: Path | None = Field(None, alias="SHOP_LANDING_DIR")
    dagster_home: Path = Field(Path(".dagster_home"), alias="DAGSTER_HOME")
    dagster_pg_url: SecretStr | None = Field(None, alias="DAGSTER_PG_URL")
    pncp_base_url: str = Field("https://pncp.gov.br/api/consulta", alias="PNCP_BASE_URL")
    pncp_api_token: SecretStr | None = Field(None, alias="PNCP_API_TOKEN")
    pncp_start_date: date = Field(date(2024, 1, 1), alias="PNCP_START_DATE")
    # Polite defaults for the real API; the simulator takes far more.
    pncp_max_concurrency: int = Field(4, ge=1, le=256, alias="PNCP_MAX_CONCURRENCY")
    pncp_rate_limit_per_s: float = Field(4.0, ge=0, alias="PNCP_RATE_LIMIT_PER_S")
    pncp_timeout_s: float = Field(30.0, gt=0, alias="PNCP_TIMEOUT_S")
    pncp_max_retries: int = Field(5, ge=0, le=20, alias="PNCP_MAX_RETRIES")
    # Extraction steps mostly wait (the API, commits): at this CPU niceness they leave the
    # cores to CPU-bound runs beside them (project/lib/priority.py). 0 = as started.
    pncp_extraction_nice: int = Field(10, ge=0, le=19, alias="PNCP_EXTRACTION_NICE")
    log_format: Literal["text", "json"] = Field("text", alias="LOG_FORMAT")
    log_json_path: Path | None = Field(None, alias="LOG_JSON_PATH")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field("INFO", alias="LOG_LEVEL")
    # dbt_project/profiles.yml target; unset, `dev` on a file warehouse, `lake` on DuckLake.
    dbt_target_name: str | None = Field(None, alias="DBT_TARGET", pattern=r"^[A-Za-z0-9_]+$")
    warehouse_pool: str = Field("duckdb_warehouse", alias="WAREHOUSE_POOL", pattern=r"^[\w-]+$")
    # Operations (project.defs.ops): alerts, links back to the UI, the step executor.
    alert_webhook_url: SecretStr | None = Field(None, alias="ALERT_WEBHOOK_URL")
    alert_webhook_format: Literal["auto", "slack", "discord"] = Field(
        "auto", alias="ALERT_WEBHOOK_FORMAT"
    )
    alert_dedup_window_s: int = Field(3600, ge=0, alias="ALERT_DEDUP_WINDOW_S")
    alert_max_per_hour: int = Field(20, ge=1, alias="ALERT_MAX_PER_HOUR")
    dagster_ui_url: str = Field("http://127.0.0.1:3000", alias="DAGSTER_UI_URL")
    dagster_executor: Literal["multiprocess", "celery"] = Field(
        "multiprocess", alias="DAGSTER_EXECUTOR"
    )
    celery_broker_url: SecretStr = Field(
        SecretStr("pyamqp://guest:guest@127.0.0.1:5672//"), alias="CELERY_BROKER_URL"
    )

    @field_validator(
        "log_format",
        "log_level",
        "alert_webhook_format",
        "dagster_executor",
        "warehouse_backend",
        mode="before",
    )
    @classmethod
    def _normalise_case(cls, value: object, info) -> object:
        if not isinstance(value, str):
            return value
        return value.upper() if info.field_name == "log_level" else value.lower()

    @field_validator("warehouse_path")
    @classmethod
    def _duckdb_file(cls, value: Path | None) -> Path | None:
        if value is not None and value.suffix != ".duckdb":
            raise ValueError("must end in .duckdb")
        return value

    @field_validator("pncp_base_url", "dagster_ui_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError("must be an http(s) URL")
        return value.rstrip("/")

    @field_validator("alert_webhook_url")
    @classmethod
    def _webhook_url(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value():
            return None
        parts = urlsplit(value.get_secret_value())
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError("must be an http(s) URL")
        return value

    @field_validator("dagster_pg_url", "warehouse_catalog_url")
    @classmethod
    def _postgres_url(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value():
            return None
        scheme = urlsplit(value.get_secret_value()).scheme
        if scheme not in ("postgresql", "postgres", "postgresql+psycopg2"):
            raise ValueError("must start with postgresql://")
        return value

    @model_validator(mode="after")
    def _lake_has_a_catalog(self) -> Settings:
        if self.warehouse_backend == "ducklake" and self.warehouse_catalog_url is None:
            raise ValueError(
                "WAREHOUSE_CATALOG_URL: WAREHOUSE_BACKEND=ducklake needs it; expected "
                + EXPECTED_FORMS["WAREHOUSE_CATALOG_URL"]
            )
        return self

    # Resolved paths: relative values are taken from the repository root, so the
    # platform behaves the same whatever directory a command is started from.
    @property
    def data_path(self) -> Path:
        return _resolve(self.data_dir)

    @property
    def warehouse(self) -> Path:
        return _resolve(self.warehouse_path or self.data_path / "warehouse.duckdb")

    @property
    def dbt_target(self) -> str:
        if self.dbt_target_name:
            return self.dbt_target_name
        return "lake" if self.warehouse_backend == "ducklake" else "dev"

    @property
    def lake_data_path(self) -> Path:
        """The DuckLake's Parquet files (WAREHOUSE_BACKEND=ducklake)."""
        return _resolve(self.warehouse_data_path or self.data_path / "lake" / "files")

    @property
    def warehouse_slots(self) -> int:
        """Writers the warehouse pool admits: one on a file, WAREHOUSE_WRITERS on a lake."""
        return self.warehouse_writers if self.warehouse_backend == "ducklake" else 1

    @property
    def exports(self) -> Path:
        return _resolve(self.exports_dir or self.data_path / "exports")

    @property
    def shop_landing(self) -> Path:
        """The shop's landing folder: one sub-folder of files per source."""
        return _resolve(self.shop_landing_dir or self.data_path / "shop" / "landing")

    @property
    def json_log_file(self) -> Path:
        return _resolve(self.log_json_path or self.data_path / "logs" / "dagster.jsonl")

    @property
    def dagster_home_path(self) -> Path:
        return _resolve(self.dagster_home)

    def secret_values(self) -> list[str]:
        """Every secret this process knows, for scrubbing text that leaves it (alerts, logs)."""
        secrets = (
            self.pncp_api_token,
            self.dagster_pg_url,
            self.alert_webhook_url,
            self.celery_broker_url,
        )
        return [s.get_secret_value() for s in secrets if s is not None and s.get_secret_value()]


def _is_secret(annotation: object) -> bool:
    return annotation is SecretStr or SecretStr in getattr(annotation, "__args__", ())


# Variables whose values a message may quote: the settings that are not secrets. Any other
# variable of a `.env` file (a secret, or something this project does not know) is named only.
SHOWN_VARIABLES = frozenset(
    f.alias for f in Settings.model_fields.values() if f.alias and not _is_secret(f.annotation)
)


@dataclass(frozen=True)
class EnvFileOverride:
    """A variable the working directory's `.env` set over a different environment value."""

    name: str
    path: Path
    environment_value: str = field(repr=False)
    file_value: str = field(repr=False)

    def message(self) -> str:
        if self.name in SHOWN_VARIABLES:
            sources = (
                f"in the environment ({self.environment_value!r}) and in {self.path} "
                f"({self.file_value!r})"
            )
        else:
            sources = f"in the environment and in {self.path} (values not shown)"
        return (
            f"{self.name} is set {sources}: the {ENV_FILE} value is used, as by every Dagster "
            f"command; remove one of the two to silence this warning"
        )


def _read_env_file(path: Path) -> dict[str, str]:
    """The variables of an env file, parsed as Dagster parses it (python-dotenv; a bare
    `NAME` without a value is skipped)."""
    if not path.is_file():
        return {}
    return {k: v for k, v in dotenv_values(path, encoding="utf-8").items() if v is not None}


def load_env_files(
    directory: Path, environ: MutableMapping[str, str] | None = None
) -> list[EnvFileOverride]:
    """Put the `.env` files into `environ` (the process environment) in the module
    docstring's precedence; return the variables the working directory's file overrode."""
    environ = os.environ if environ is None else environ
    local = directory / ENV_FILE
    overrides = []
    for name, value in _read_env_file(local).items():
        previous = environ.get(name)
        if previous is not None and previous != value:
            overrides.append(EnvFileOverride(name, local, previous, value))
        environ[name] = value
    root = PROJECT_ROOT / ENV_FILE
    if root.resolve() != local.resolve():
        for name, value in _read_env_file(root).items():
            environ.setdefault(name, value)
    return overrides


# Working directories whose `.env` files this process has applied. Once each, like Dagster:
# a value a command writes into the environment afterwards (an option) stays in force.
_ENV_FILES_LOADED: set[Path] = set()


def _load_env_files_once() -> None:
    try:
        directory = Path.cwd().resolve()
    except OSError:  # the working directory was removed: it has no .env to read
        return
    if directory in _ENV_FILES_LOADED:
        return
    _ENV_FILES_LOADED.add(directory)
    for override in load_env_files(directory):
        logger.warning("settings: %s", override.message())


def load_settings() -> Settings:
    """Read the environment (after the `.env` files); raise `SettingsError` naming each bad
    variable and its form."""
    _load_env_files_once()
    try:
        return Settings()
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            name = str(error["loc"][0]) if error["loc"] else "?"
            alias = next(
                (f.alias for n, f in Settings.model_fields.items() if name in (n, f.alias)),
                name,
            )
            if not error["loc"]:  # a rule across variables names them in its message
                problems.append(error["msg"].removeprefix("Value error, "))
                continue
            form = EXPECTED_FORMS.get(alias or name, "see .env.example")
            # Never echo the offending value: it may be a secret.
            problems.append(f"{alias}: {error['msg']}; expected {form}")
        raise SettingsError("Invalid settings:\n  " + "\n  ".join(problems)) from None


CATALOG_ENV = "WAREHOUSE_CATALOG_URL"


def libpq_conninfo(url: str) -> tuple[str, str | None]:
    """`key=value` libpq parameters of a postgresql:// URL without its password, and the
    password. A string that already is `key=value` passes through (its password, if any,
    stays in it)."""
    if "://" not in url:
        return url, None
    parts = urlsplit(url)
    fields = {
        "host": parts.hostname or "localhost",
        "port": str(parts.port or 5432),
        "user": unquote(parts.username or ""),
        "dbname": unquote(parts.path.lstrip("/")),
        **dict(parse_qsl(parts.query)),
    }
    conninfo = " ".join(f"{k}={v}" for k, v in fields.items() if v)
    return conninfo, unquote(parts.password) if parts.password else None


def settings_or_exit() -> Settings:
    """For command-line entry points: a bad setting is a one-line error and exit code 2."""
    try:
        return load_settings()
    except SettingsError as exc:
        print(exc, file=sys.stderr)
        raise SystemExit(2) from None


# What `apply_to_environment` exports; dbt_project/profiles.yml reads them.
DBT_WAREHOUSE_ENV = "DBT_WAREHOUSE_PATH"
DBT_LAKE_ENV = {
    "catalog": "DBT_LAKE_CATALOG",  # libpq keywords without the password (PGPASSWORD)
    "schema": "DBT_LAKE_CATALOG_SCHEMA",
    "data_path": "DBT_LAKE_DATA_PATH",
}
DBT_STORE_DIR_ENV = "DBT_WAREHOUSE_STORE_DIR"  # where side stores live (payloads/...)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return load_settings()


def apply_to_environment(settings: Settings) -> None:
    """Export the resolved warehouse path for the dbt processes this one starts.

    dbt resolves a relative path from its own project directory, so it must be given the
    absolute path the Python assets use. The variable is output only (settings never read
    it): writing back into WAREHOUSE_PATH would pin a derived value that outlives a later
    change of PLATFORM_DATA_DIR in the same process.
    """
    os.environ[DBT_WAREHOUSE_ENV] = str(settings.warehouse)
    if settings.warehouse_backend == "ducklake":
        # dbt's own errors quote the ATTACH path: it gets the catalog without its password,
        # which libpq takes from PGPASSWORD in dbt's environment.
        url = settings.warehouse_catalog_url.get_secret_value()
        conninfo, password = libpq_conninfo(url)
        os.environ[DBT_LAKE_ENV["catalog"]] = conninfo
        os.environ[DBT_LAKE_ENV["schema"]] = settings.warehouse_catalog_schema
        os.environ[DBT_LAKE_ENV["data_path"]] = f"{settings.lake_data_path}/"
        os.environ[DBT_STORE_DIR_ENV] = str(settings.lake_data_path.parent)
        os.environ[CATALOG_ENV] = url
        if password:
            os.environ["PGPASSWORD"] = password
    else:
        os.environ[DBT_STORE_DIR_ENV] = str(settings.warehouse.parent)
    # Console scripts of this environment (dbt) must resolve without an activated venv.
    bin_dir = str(Path(sys.executable).parent)
    if bin_dir not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = bin_dir + os.pathsep + os.environ.get("PATH", "")
