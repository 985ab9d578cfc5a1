"""Typed settings, built once at start-up from `DUYET_*` environment variables and CLI flags.

Every field documents what it accepts; an invalid value stops start-up with one line naming the
variable. Development mode generates and keeps secrets in the data directory; production mode
refuses to start without them.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import os
import secrets
from collections.abc import Mapping
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    InitSettingsSource,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)
from pydantic_settings.sources.utils import parse_env_vars

log = logging.getLogger(__name__)

PACKAGE_ROOT = Path(__file__).resolve().parent
DEFAULT_MODEL = PACKAGE_ROOT.parent / "models" / "spam-model.skops"
PREFIX = "DUYET_"
# A comma-separated list in the environment (not JSON, which pydantic-settings expects by default).
CsvList = Annotated[tuple[str, ...], NoDecode]


class Env(StrEnum):
    DEVELOPMENT = "development"
    PRODUCTION = "production"


class LogFormat(StrEnum):
    TEXT = "text"
    JSON = "json"


class EventLoop(StrEnum):
    UVLOOP = "uvloop"  # libuv: less CPU per request (BENCHMARKS "Submission"); Linux and macOS
    ASYNCIO = "asyncio"  # the standard library's


CLUSTER_PARTITIONS = 16  # queue partitions when DUYET_REDIS_CLUSTER is on and DUYET_PARTITIONS unset


class SettingsError(Exception):
    """A setting has an invalid value; the message names the variable and what it accepts."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix=PREFIX, env_ignore_empty=True, frozen=True, extra="forbid", validate_by_name=True
    )

    # --- process ---
    env: Env = Field(Env.DEVELOPMENT, description="'development' or 'production'")
    host: str = Field("127.0.0.1", description="an address to listen on, e.g. 0.0.0.0")
    port: int = Field(8080, ge=0, le=65535, description="a TCP port, 0-65535")
    workers: int = Field(1, ge=1, le=64, description="a number of processes, 1-64")
    public_url: str | None = Field(None, description="the URL readers and moderators use, e.g. https://c.example.vn")
    log_level: str = Field("INFO", pattern=r"^(DEBUG|INFO|WARNING|ERROR)$", description="DEBUG, INFO, WARNING or ERROR")
    log_format: LogFormat | None = Field(None, description="'text' or 'json' (default: json in production)")
    event_loop: EventLoop = Field(EventLoop.UVLOOP, description="uvloop or asyncio (uvloop when it is installed)")
    shutdown_timeout: float = Field(10.0, gt=0, le=300, description="seconds to finish in-flight requests")

    # --- storage ---
    # Unprefixed, because that is what every Redis tool calls it.
    redis_url: str | None = Field(
        None, validation_alias="REDIS_URL", description="redis://, rediss://, unix:// or redis+sentinel:// URL"
    )
    redis_cluster: bool = Field(False, description="true to talk to a Redis Cluster")
    redis_timeout: float = Field(1.0, gt=0, le=30, description="seconds for one Redis command")
    # A comment is acknowledged (202) only once this many replicas hold it (WAIT), so a failover
    # to one of them keeps it; see docs/deploy.md for what each value guarantees.
    redis_wait_replicas: int = Field(
        0, ge=0, le=8, description="replicas, 0-8, that must hold a comment before it is acknowledged"
    )
    data_dir: Path = Field(Path("data"), description="a writable directory")
    key_prefix: str = Field("duyet", pattern=r"^[A-Za-z0-9_.-]{1,32}$", description="1-32 of A-Z a-z 0-9 _ . -")
    partitions: int = Field(1, ge=1, le=256, description="queue partitions, 1-256 (unset on a cluster: 16)")

    # --- security ---
    secret_key: str | None = Field(None, min_length=32, description="a random string of at least 32 characters")
    cors_origins: CsvList = Field((), description="comma-separated origins, e.g. https://portal.vn")
    trusted_proxies: CsvList = Field((), description="comma-separated IP addresses or CIDR networks")
    hsts_seconds: int = Field(
        0, ge=0, le=2 * 365 * 86400, description="Strict-Transport-Security max-age when served over TLS (0: off)"
    )
    metrics_token: str | None = Field(
        None, min_length=16, description="a bearer token /metrics then requires (unset: /metrics is open)"
    )

    # --- model ---
    model_path: Path = Field(DEFAULT_MODEL, description="a path to a .skops model artifact")
    spam_score_process: bool = Field(
        True, description="true to score comment batches in a process of their own (false: a thread)"
    )
    # --- retraining ---
    retrain_holdout_share: float = Field(
        0.2, ge=0.05, le=0.5, description="share of the labels new to the current model held out, 0.05-0.5"
    )
    retrain_fpr: float = Field(0.01, gt=0, lt=0.5, description="false-positive rate spam recall is judged at")
    # Read but unused since the gate judges ROC-AUC on real decisions: kept so configurations that
    # set it still start.
    retrain_margin_f1: float = Field(0.0, ge=0, le=0.2, description="unused (the gate judges ROC-AUC), 0-0.2")
    retrain_margin_recall: float = Field(
        0.05, ge=0, le=0.2, description="spam recall at the policy's FPR a challenger may lose (its lower bound), 0-0.2"
    )
    retrain_every_labels: int = Field(0, ge=0, description="retrain after this many new labels (0: never)")
    retrain_check_seconds: float = Field(60.0, gt=0, le=86400, description="seconds between label-count checks")

    # --- captcha ---
    captcha_test_code: str | None = Field(None, min_length=1, max_length=16, description="a fixed code (test mode)")
    captcha_length: int = Field(5, ge=3, le=10, description="characters in a captcha code, 3-10")
    captcha_ttl: int = Field(300, ge=1, le=3600, description="seconds a captcha stays valid, 1-3600")
    captcha_width: int = Field(220, ge=100, le=800, description="captcha image width in pixels, 100-800")
    captcha_height: int = Field(80, ge=40, le=300, description="captcha image height in pixels, 40-300")
    captcha_pool_target: int = Field(1000, ge=0, le=100000, description="pre-rendered captchas kept ready (0: none)")
    captcha_render_workers: int = Field(0, ge=0, le=64, description="rendering processes (0: one per core)")
    captcha_issue_limit: int = Field(30, ge=0, description="captchas per client per window (0: no limit)")
    captcha_issue_window: int = Field(60, ge=1, le=86400, description="seconds, 1-86400")
    captcha_refresh_limit: int = Field(10, ge=0, description="refreshes per client per window (0: no limit)")
    captcha_refresh_window: int = Field(60, ge=1, le=86400, description="seconds, 1-86400")

    # --- review queue ---
    lease_seconds: int = Field(300, ge=1, le=86400, description="seconds a claim lasts unless renewed, 1-86400")
    queue_aging_seconds: float = Field(3600.0, gt=0, description="seconds of waiting worth +1.0 spam probability")
    max_claim: int = Field(50, ge=1, le=1000, description="most comments one claim may take, 1-1000")
    bulk_limit: int = Field(100, ge=1, le=1000, description="most ids in one bulk decision, 1-1000")
    lease_sweep_seconds: float = Field(5.0, gt=0, le=3600, description="seconds between expired-lease sweeps")
    retention_days: float = Field(
        30, ge=0, description="days personal data of comments (decided, or open that long) is kept"
    )
    retention_sweep_seconds: float = Field(3600.0, gt=0, description="seconds between retention runs")
    audit_retention_days: float = Field(
        365, ge=1, description="days the decision audit stream is kept, at least 1 (queue statistics read the last day)"
    )

    # --- submissions ---; lengths count characters after normalisation
    name_min_length: int = Field(2, ge=1, le=200, description="characters, 1-200")
    name_max_length: int = Field(80, ge=1, le=200, description="characters, 1-200")
    title_min_length: int = Field(3, ge=1, le=500, description="characters, 1-500")
    title_max_length: int = Field(150, ge=1, le=500, description="characters, 1-500")
    content_min_length: int = Field(5, ge=1, le=20000, description="characters, 1-20000")
    content_max_length: int = Field(5000, ge=1, le=20000, description="characters, 1-20000")
    phone_region: str = Field("VN", pattern=r"^[A-Z]{2}$", description="an ISO 3166 region code, e.g. VN")
    submit_limit_client: int = Field(10, ge=0, description="submissions per client per window (0: no limit)")
    submit_window_client: int = Field(60, ge=1, le=86400, description="seconds, 1-86400")
    submit_limit_article: int = Field(120, ge=0, description="submissions per article per window (0: no limit)")
    submit_window_article: int = Field(60, ge=1, le=86400, description="seconds, 1-86400")
    repeat_window: int = Field(6 * 3600, ge=1, le=30 * 86400, description="seconds a repeated post is flagged for")
    idempotency_ttl: int = Field(86400, ge=60, le=7 * 86400, description="seconds an Idempotency-Key is kept")
    min_seconds_to_submit: float = Field(3.0, ge=0, le=600, description="seconds; faster form posts are flagged")
    form_token_max_age: int = Field(86400, ge=60, le=7 * 86400, description="seconds a form token stays valid")

    # --- moderator UI ---
    session_seconds: int = Field(8 * 3600, ge=60, le=7 * 86400, description="seconds an idle UI session lasts")
    login_limit: int = Field(
        10, ge=0, description="log-in attempts per client, and password attempts per name, per window (0: none)"
    )
    login_window: int = Field(300, ge=1, le=86400, description="seconds, 1-86400")

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Only what `load` is given: the environment it is passed (tests pass their own), no .env file.
        return (init_settings,)

    @model_validator(mode="after")
    def _cluster_partitions(self) -> Settings:
        # On a cluster one partition puts the whole queue and captcha pool in one slot, on one shard:
        # unless set, CLUSTER_PARTITIONS spread them (6/6/4 over three shards' slot ranges).
        on_cluster = self.redis_cluster or "cluster=true" in (self.redis_url or "")
        if on_cluster and "partitions" not in self.model_fields_set:
            object.__setattr__(self, "partitions", CLUSTER_PARTITIONS)  # frozen: set once, while validating
        return self

    @field_validator("cors_origins", "trusted_proxies", mode="before")
    @classmethod
    def _split_csv(cls, value: Any) -> Any:
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value

    @field_validator("cors_origins")
    @classmethod
    def _origins(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for origin in value:
            if not (origin.startswith(("http://", "https://")) and origin.count("/") == 2):
                raise ValueError(f"{origin!r} is not an origin like https://portal.vn")
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for net in value:
            ipaddress.ip_network(net, strict=False)
        return value

    # --- derived ---
    @property
    def production(self) -> bool:
        return self.env is Env.PRODUCTION

    @property
    def effective_log_format(self) -> LogFormat:
        if self.log_format is not None:
            return self.log_format
        return LogFormat.JSON if self.production else LogFormat.TEXT

    @property
    def secret_bytes(self) -> bytes:
        if self.secret_key is None:  # resolve() guarantees one; this is a programming error
            raise RuntimeError("settings were not resolved")
        return self.secret_key.encode()

    @property
    def trusted_networks(self) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
        return tuple(ipaddress.ip_network(n, strict=False) for n in self.trusted_proxies)

    def base_url(self) -> str:
        if self.public_url:
            return self.public_url.rstrip("/")
        host = "127.0.0.1" if self.host in ("0.0.0.0", "::") else self.host
        return f"http://{host}:{self.port}"


class EnvironSource(EnvSettingsSource):
    """The DUYET_* variables (and REDIS_URL) of a given mapping rather than always os.environ."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self.environ = environ
        super().__init__(Settings)

    def _load_env_vars(self) -> Mapping[str, str | None]:
        return parse_env_vars(self.environ, self.case_sensitive, self.env_ignore_empty, self.env_parse_none_str)


def env_name(field: str) -> str:
    alias = Settings.model_fields[field].validation_alias
    return alias if isinstance(alias, str) else f"{PREFIX}{field.upper()}"


ENV_NAMES = {env_name(f): f for f in Settings.model_fields}


def load(environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
    """Build settings from the environment, then CLI overrides (None means "not given")."""
    environ = os.environ if environ is None else environ
    # pydantic-settings skips unknown variables silently; a misspelt one should be heard of.
    for name in sorted(k for k in environ if k.startswith(PREFIX) and k not in ENV_NAMES):
        log.warning("unknown setting %s ignored", name)
    given = {k: v for k, v in overrides.items() if v is not None}
    try:
        return Settings(**{**EnvironSource(environ)(), **InitSettingsSource(Settings, given)()})
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ENV_NAMES.get(str(err["loc"][0]), str(err["loc"][0]))  # every check is a field's own
        info = Settings.model_fields.get(field)
        name = env_name(field) if info else field
        shown = "<hidden>" if field == "secret_key" else repr(err["input"])
        expected = info.description if info and info.description else "a valid value"
        raise SettingsError(f"{name}={shown} is invalid: expected {expected} ({err['msg']})") from None


def resolve(settings: Settings) -> Settings:
    """Fill in what development mode may generate; refuse an unsafe production configuration."""
    if settings.production:
        problems = []
        if not settings.secret_key:
            problems.append("DUYET_SECRET_KEY must be set (at least 32 random characters)")
        if settings.captcha_test_code:
            problems.append("DUYET_CAPTCHA_TEST_CODE must not be set in production")
        if problems:
            raise SettingsError("unsafe production configuration: " + "; ".join(problems))
        return settings
    if settings.secret_key:
        return settings
    return settings.model_copy(update={"secret_key": _dev_secret(settings.data_dir)})


def _dev_secret(data_dir: Path) -> str:
    """A secret generated once per data directory, so restarts keep captchas and sessions valid."""
    path = data_dir / "secrets.json"
    if path.exists():
        return str(json.loads(path.read_text())["secret_key"])
    data_dir.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(48)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump({"secret_key": value}, fh)
    return value
