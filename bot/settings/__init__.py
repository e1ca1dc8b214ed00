"""Settings: the shipped defaults, one YAML file over them, then ``KEFU_*`` environment variables.

Every key is validated; a mistake is reported as ``path.to.key: what was expected`` without
echoing secret values. This module holds the core's sections (``CoreSettings``) and the loading;
each adapter and feature owns its section's model, and the composition root joins them all
(bot/runtime/settings.py).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import Field, ValidationError, field_validator
from pydantic_core import PydanticCustomError
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict, SettingsError
from redis.asyncio.connection import parse_url  # what from_url itself runs

from bot.redis_urls import CLUSTER_SCHEMES, SENTINEL_SCHEMES, parse_topology
from bot.settings.base import StrictModel

PACKAGE_CONFIG_DIR = Path(__file__).resolve().parent.parent.parent / "config"
SHIPPED_DEFAULTS = PACKAGE_CONFIG_DIR / "kefu.yaml"
SHIPPED_FAQ = PACKAGE_CONFIG_DIR / "faq.yaml"
SHIPPED_OUT_OF_SCOPE = PACKAGE_CONFIG_DIR / "out_of_scope.txt"
_SECRET_HINTS = ("secret", "token", "key", "password", "redis_url")  # a redis_url may hold a password
# What redis-py's from_url accepts, then a cluster and a Sentinel-watched master (bot/redis_urls.py).
REDIS_SCHEMES = ("redis", "rediss", "unix", *CLUSTER_SCHEMES, *SENTINEL_SCHEMES)


class ConfigError(Exception):
    """Configuration that cannot be used; the message is meant for the operator as is."""


class NluSettings(StrictModel):
    # Answer when the top intent reaches answer_threshold and leads the runner-up by margin;
    # suggest when it reaches clarify_threshold; below that, fall back politely.
    answer_threshold: float = Field(default=0.5, ge=0, le=1)
    margin: float = Field(default=0.2, ge=0, le=1)
    clarify_threshold: float = Field(default=0.15, ge=0, le=1)
    max_suggestions: int = Field(default=3, ge=1, le=5)
    # `kefu train` (without --quick) sets the answer threshold and margin for this share of right
    # answers on its cross-validation folds, unless answer_threshold or margin is set here.
    target_answered_accuracy: float = Field(default=0.96, gt=0, le=1)
    epoch: int = Field(default=60, ge=1)
    lr: float = Field(default=0.5, gt=0)
    dim: int = Field(default=64, ge=8)
    word_ngrams: int = Field(default=2, ge=1, le=5)
    minn: int = Field(default=2, ge=0)
    maxn: int = Field(default=4, ge=0)
    seed: int = 42
    # fastText's hashed slots for character n-grams and word pairs: the model file and its memory
    # grow with bucket * dim. Measured on the shipped knowledge base in docs/evaluation.md.
    bucket: int = Field(default=20_000, ge=1_000)
    # Start from the shipped vectors of Chinese characters and bigrams (bot/nlu/pretrained.py);
    # off learns from the knowledge base alone.
    pretrained_vectors: bool = True
    # Chit-chat and general questions ("今天天气怎么样") learnt as the intent out_of_scope, which the
    # bot answers with "I only help with the shop" instead of a shop answer; false: not learnt.
    out_of_scope: bool = True
    out_of_scope_examples: Path | None = None  # empty: the shipped config/out_of_scope.txt


class DialogueSettings(StrictModel):
    ttl_seconds: int = Field(default=1800, ge=60)  # a conversation's memory
    # After a hand-over the bot stays quiet this long, unless staff hand it back with /release.
    handoff_quiet_seconds: int = Field(default=7200, ge=60)


class ServerSettings(StrictModel):
    host: str = "0.0.0.0"
    port: int = Field(default=8080, ge=1, le=65535)
    max_body_bytes: int = Field(default=1024 * 1024, ge=1024)
    # Queues are split in partitions: one customer's messages stay in order in one partition,
    # partitions are handled in parallel (and spread over processes). More partitions, less
    # waiting behind another customer's message. Change it only with the queues drained.
    partitions: int = Field(default=32, ge=1, le=256)
    # Replies older than this when a worker gets to them are recorded, not answered.
    max_answer_age_seconds: int = Field(default=600, ge=10)
    reply_rate_per_minute: float = Field(default=6000, gt=0)  # per app, towards the platform
    # `kefu serve`'s processes (bot/processes.py): HTTP processes only acknowledge callbacks,
    # worker processes answer them. 1 and 0: all in one process (least memory, slowest acks).
    http_processes: int = Field(default=1, ge=1, le=64)
    worker_processes: int = Field(default=1, ge=0, le=64)


class KbSettings(StrictModel):
    """The gate of ``kefu kb import`` and ``rollback``: a change is refused when its
    cross-validated accuracy drops by more than ``max_accuracy_drop`` (0.02: two points) or when
    the new model does not answer a question of ``must_answer`` (a ``text,intent`` CSV) with its
    intent; ``--force`` applies it anyway."""

    max_accuracy_drop: float = Field(default=0.02, ge=0, le=1)
    must_answer: Path | None = None
    folds: int = Field(default=3, ge=2, le=10)


class OutboxSettings(StrictModel):
    max_attempts: int = Field(default=8, ge=1)
    base_delay_seconds: float = Field(default=1.0, gt=0)
    max_delay_seconds: float = Field(default=300.0, gt=0)


class CoreSettings(BaseSettings):
    """The core's own sections; the root's ``Settings`` adds the adapters' and features'."""

    model_config = SettingsConfigDict(
        env_prefix="KEFU_", env_nested_delimiter="__", extra="forbid", case_sensitive=False
    )

    redis_url: str = ""  # empty: an embedded redis-server with persistence under data_dir
    data_dir: Path = Path("./data")
    key_prefix: str = Field(default="kefu", pattern=r"^[A-Za-z0-9_.-]+$")
    knowledge_base: Path | None = None  # empty: the shipped config/faq.yaml
    # A channel app's own knowledge base (and model), for several shops in one deployment:
    # "<channel>/<app>" or "<app>" (as alerts.shops names them) -> a YAML file.
    knowledge_bases: dict[str, Path] = Field(default_factory=dict)
    model_path: Path | None = None  # empty: <data_dir>/intent.bin
    log_level: str = Field(default="INFO", pattern=r"^(DEBUG|INFO|WARNING|ERROR)$")
    nlu: NluSettings = Field(default_factory=NluSettings)
    dialogue: DialogueSettings = Field(default_factory=DialogueSettings)
    server: ServerSettings = Field(default_factory=ServerSettings)
    outbox: OutboxSettings = Field(default_factory=OutboxSettings)
    kb: KbSettings = Field(default_factory=KbSettings)

    @field_validator("redis_url")
    @classmethod
    def _redis_url_usable(cls, url: str) -> str:
        """Refuse at load time what the Redis client would refuse at first use; the message never
        repeats the URL (it may carry a password)."""
        if not url:
            return url
        scheme = url.partition("://")[0].lower() if "://" in url else ""
        if scheme not in REDIS_SCHEMES:
            raise PydanticCustomError(
                "redis_url", "scheme '{scheme}' is not supported; use {schemes}, or leave it empty for the embedded server",
                {"scheme": scheme or "(none)", "schemes": ", ".join(f"{s}://" for s in REDIS_SCHEMES)},
            )  # fmt: skip
        if scheme == "unix" and not url.partition("://")[2].split("?")[0]:
            raise PydanticCustomError("redis_url", "unix:// needs the socket's path, as in unix:///run/redis.sock")
        try:
            if parse_topology(url) is None:
                parse_url(url)
        except ValueError as e:
            raise PydanticCustomError("redis_url", "not a usable Redis URL: {why}", {"why": str(e)}) from None
        return url

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The environment wins over the YAML (passed as init kwargs) so secrets stay out of files.
        return env_settings, init_settings

    @property
    def faq_path(self) -> Path:
        return self.knowledge_base or SHIPPED_FAQ

    @property
    def intent_model_path(self) -> Path:
        return self.model_path or self.data_dir / "intent.bin"


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found") from None
    except UnicodeDecodeError as e:
        raise ConfigError(f"{path}: not UTF-8 text (byte {e.start}); a config file is UTF-8 YAML") from None
    except OSError as e:
        raise ConfigError(f"{path}: cannot read ({e.strerror})") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        where = getattr(e, "problem_mark", None)
        at = f" at line {where.line + 1}, column {where.column + 1}" if where else ""
        raise ConfigError(f"{path}: not valid YAML{at}: {getattr(e, 'problem', e)}") from None
    except RecursionError:
        raise ConfigError(f"{path}: nested too deeply to be a configuration") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of settings at the top, got {type(data).__name__}")
    return data


def _deep_merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def describe_errors(error: ValidationError) -> list[str]:
    """One line per problem: the dotted key, what was expected, and the bad value unless secret."""
    lines = []
    for err in error.errors():
        key = ".".join(str(p) for p in err["loc"]) or "(top level)"
        if err["type"] == "extra_forbidden":
            lines.append(f"{key}: unknown key (check the spelling; see docs/configuration.md)")
            continue
        msg = err["msg"]
        secret = any(h in key.lower() for h in _SECRET_HINTS)
        value = "" if secret or isinstance(err.get("input"), dict) else f" (got {err.get('input')!r})"
        lines.append(f"{key}: {msg}{value}")
    return lines


def resolve_config_path(path: str | Path | None) -> Path | None:
    chosen = path or os.environ.get("KEFU_CONFIG")
    if chosen:
        return Path(chosen)
    local = Path("config/kefu.yaml")
    return local if local.exists() and local.resolve() != SHIPPED_DEFAULTS else None


S = TypeVar("S", bound=CoreSettings)


def load_settings(model: type[S], path: str | Path | None = None) -> S:
    """Shipped defaults, then the chosen file (``--config``, ``KEFU_CONFIG``), then the environment,
    validated by ``model`` (the root's composed settings)."""
    data = _read_yaml(SHIPPED_DEFAULTS) if SHIPPED_DEFAULTS.exists() else {}
    config_path = resolve_config_path(path)
    if config_path is not None:
        data = _deep_merge(data, _read_yaml(config_path))
    try:
        settings = model(**data)
    except ValidationError as e:
        where = f" in {config_path}" if config_path else ""
        problems = describe_errors(e)
        joiner = " " if len(problems) == 1 else "\n  "  # one problem, one line; else one line each
        raise ConfigError(f"invalid configuration{where}:{joiner}" + "\n  ".join(problems)) from None
    except SettingsError as e:  # a KEFU_<SECTION> variable that is not valid JSON
        raise ConfigError(f"invalid configuration in the environment: {e}") from None
    if config_path is not None:
        # Relative paths in a config file are relative to that file, not to the working directory.
        if settings.knowledge_base and not settings.knowledge_base.is_absolute():
            settings.knowledge_base = (config_path.parent / settings.knowledge_base).resolve()
        settings.knowledge_bases = {
            app: path if path.is_absolute() else (config_path.parent / path).resolve()
            for app, path in settings.knowledge_bases.items()
        }
        if settings.kb.must_answer and not settings.kb.must_answer.is_absolute():
            settings.kb.must_answer = (config_path.parent / settings.kb.must_answer).resolve()
    return settings
