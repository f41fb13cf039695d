"""The one configuration model: YAML read once, `${VAR}` expanded, validated with pydantic."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from newswatch.errors import ConfigError

DEFAULT_CONFIG = Path("config/newswatch.yaml")
CONFIG_ENV = "NEWSWATCH_CONFIG"
DATABASE_ENV = "NEWSWATCH_DATABASE_URL"

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, None: 1}
_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def parse_duration(value: object) -> timedelta:
    """Read `90`, `30s`, `10m`, `2h` or `1d` (a bare number is seconds) as a timedelta."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, bool):
        raise ValueError("expected a duration such as 30s, 10m, 2h or 1d")
    if isinstance(value, int | float):
        seconds = float(value)
    else:
        match = _DURATION.match(str(value))
        if not match:
            raise ValueError(f"{value!r} is not a duration; use e.g. 30s, 10m, 2h or 1d")
        seconds = float(match.group(1)) * _UNITS[match.group(2)]
    if seconds <= 0:
        raise ValueError("a duration must be greater than zero")
    return timedelta(seconds=seconds)


Duration = Annotated[timedelta, BeforeValidator(parse_duration)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FetchSettings(_Model):
    allow_private_addresses: bool = False
    timeout: Duration = timedelta(seconds=30)
    max_bytes: int = Field(default=15 * 1024 * 1024, gt=0)
    user_agent: str | None = None


class SourceConfig(_Model):
    name: str = Field(min_length=1)
    directory: Path | None = None
    feed: str | None = None
    every: Duration = timedelta(minutes=15)
    enabled: bool = True
    headers: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _one_kind(self) -> SourceConfig:
        if (self.directory is None) == (self.feed is None):
            raise ValueError("a source needs exactly one of `directory` or `feed`")
        return self

    @field_validator("feed")
    @classmethod
    def _http_only(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^https?://[^/\s]+", value, re.IGNORECASE):
            raise ValueError(f"{value!r} is not an http:// or https:// URL")
        return value

    @property
    def location(self) -> str:
        """Where the source reads from, for display: its feed URL or its folder."""
        return self.feed if self.feed is not None else str(self.directory)


class SmtpSettings(_Model):
    host: str = "localhost"
    port: int = Field(default=25, gt=0, lt=65536)
    starttls: bool = False
    ssl: bool = False
    username: str | None = None
    password: str | None = None
    timeout: Duration = timedelta(seconds=30)


class EmailSettings(_Model):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    to: list[str] = Field(min_length=1)
    cc: list[str] = Field(default_factory=list)
    bcc: list[str] = Field(default_factory=list)
    sender: str = Field(alias="from")
    smtp: SmtpSettings = SmtpSettings()


class ChannelConfig(_Model):
    name: str = Field(min_length=1)
    webhook: str | None = None
    secret: str | None = None
    email: EmailSettings | None = None
    console: bool = False

    @model_validator(mode="after")
    def _one_kind(self) -> ChannelConfig:
        kinds = [self.webhook is not None, self.email is not None, self.console]
        if sum(kinds) != 1:
            raise ValueError("a channel needs exactly one of `webhook`, `email` or `console: true`")
        if self.secret is not None and self.webhook is None:
            raise ValueError("`secret` only applies to a webhook channel")
        return self

    @field_validator("webhook")
    @classmethod
    def _http_only(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^https?://[^/\s]+", value, re.IGNORECASE):
            raise ValueError(f"{value!r} is not an http:// or https:// URL")
        return value

    @field_validator("secret")
    @classmethod
    def _standard_webhooks_key(cls, value: str | None) -> str | None:
        if value is None:
            return None
        from alerts.signing import decode_secret

        decode_secret(value)  # raises ValueError with a readable message
        return value

    @property
    def kind(self) -> Literal["webhook", "email", "console"]:
        """Which kind of channel this is."""
        if self.webhook is not None:
            return "webhook"
        if self.email is not None:
            return "email"
        return "console"


class PersonConfig(_Model):
    name: str = Field(min_length=1)
    aliases: list[str] = Field(default_factory=list)
    last_name_alone: bool = True


def _person(value: object) -> object:
    return {"name": value} if isinstance(value, str) else value


Person = Annotated[PersonConfig, BeforeValidator(_person)]


class RuleConfig(_Model):
    name: str = Field(min_length=1)
    people: list[Person] = Field(default_factory=list)
    topics: list[str] = Field(default_factory=list)
    keywords: list[str] = Field(default_factory=list)
    notify: list[str] = Field(min_length=1)

    @model_validator(mode="after")
    def _has_terms(self) -> RuleConfig:
        if not (self.people or self.topics or self.keywords):
            raise ValueError("a rule needs at least one of `people`, `topics` or `keywords`")
        return self


class Config(_Model):
    database: str = "sqlite:///newswatch.db"
    # single: one `newswatch run` schedules in-process; distributed: procrastinate on PostgreSQL.
    mode: Literal["single", "distributed"] = "single"
    fetch: FetchSettings = FetchSettings()
    sources: list[SourceConfig] = Field(default_factory=list)
    channels: list[ChannelConfig] = Field(default_factory=list)
    rules: list[RuleConfig] = Field(default_factory=list)

    @model_validator(mode="after")
    def _names_and_references(self) -> Config:
        for kind, items in (("sources", self.sources), ("channels", self.channels), ("rules", self.rules)):
            seen: set[str] = set()
            for item in items:
                if item.name in seen:
                    raise ValueError(f"two {kind} are named {item.name!r}; names must be unique")
                seen.add(item.name)
        return self

    def source(self, name: str) -> SourceConfig:
        """The source called `name`."""
        return next(s for s in self.sources if s.name == name)


def config_path(cli_value: str | os.PathLike[str] | None) -> Path:
    """Which config file to read: `--config`, else $NEWSWATCH_CONFIG, else config/newswatch.yaml."""
    if cli_value:
        return Path(cli_value)
    if os.environ.get(CONFIG_ENV):
        return Path(os.environ[CONFIG_ENV])
    return DEFAULT_CONFIG


def load_config(path: Path, environ: Mapping[str, str] | None = None) -> Config:
    """Read, expand and validate the config file at `path`; raise ConfigError saying what to fix."""
    env = os.environ if environ is None else environ
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read config file: {exc}") from None
    try:
        raw = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        detail = exc.problem or exc.context or "cannot parse"
        if exc.problem and exc.context and exc.context_mark:
            opened = exc.context_mark
            detail += f" ({exc.context} at line {opened.line + 1}, column {opened.column + 1})"
        raise ConfigError(f"{where}: YAML syntax error: {detail}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: YAML syntax error: {exc}") from None
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: the top level must be a mapping (database:, sources:, ...)")
    raw = _expand_env(raw, env, ())
    if env.get(DATABASE_ENV):
        raw["database"] = env[DATABASE_ENV]
    try:
        config = Config.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(f"{path}: {_describe(exc, raw)}") from None
    _check_references(path, config)
    return _resolve_paths(config, path.parent, from_env=bool(env.get(DATABASE_ENV)))


def _expand_env(value: Any, env: Mapping[str, str], where: tuple[str | int, ...]) -> Any:
    if isinstance(value, dict):
        return {k: _expand_env(v, env, (*where, k)) for k, v in value.items()}
    if isinstance(value, list):
        return [_expand_env(v, env, (*where, i)) for i, v in enumerate(value)]
    if isinstance(value, str):

        def substitute(match: re.Match[str]) -> str:
            name, default = match.group(1), match.group(2)
            if name in env:
                return env[name]
            if default is not None:
                return default
            raise ConfigError(
                f"{_key_path(where)}: environment variable {name} is not set"
                f" (set it, or write ${{{name}:-default}})"
            )

        return _ENV_REF.sub(substitute, value)
    return value


def _key_path(loc: tuple[str | int, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def _describe(exc: ValidationError, raw: dict[str, Any]) -> str:
    problems = []
    for error in exc.errors():
        loc = tuple(p for p in error["loc"] if not _is_pydantic_tag(p))
        message = error["msg"].removeprefix("Value error, ")
        if error["type"] == "extra_forbidden":
            message = "unknown key"
        problems.append(f"{_key_path(loc)}{_item_name(loc, raw)}: {message}")
    return "; ".join(problems)


def _is_pydantic_tag(part: object) -> bool:
    return isinstance(part, str) and ("function-" in part or part.startswith("constrained-"))


def _item_name(loc: tuple[Any, ...], raw: dict[str, Any]) -> str:
    """Name the source, channel or rule an error is in, so a user finds it without counting."""
    if len(loc) < 2 or loc[0] not in ("sources", "channels", "rules") or not isinstance(loc[1], int):
        return ""
    try:
        name = raw[loc[0]][loc[1]].get("name")
    except (KeyError, IndexError, TypeError, AttributeError):
        return ""
    return f" ({str(loc[0])[:-1]} {name!r})" if isinstance(name, str) else ""


def _check_references(path: Path, config: Config) -> None:
    channels = {c.name for c in config.channels}
    for i, rule in enumerate(config.rules):
        for j, name in enumerate(rule.notify):
            if name not in channels:
                known = ", ".join(sorted(channels)) or "none defined"
                raise ConfigError(
                    f"{path}: rules[{i}].notify[{j}]: rule {rule.name!r} notifies unknown channel"
                    f" {name!r} (channels: {known})"
                )


def _resolve_paths(config: Config, base: Path, *, from_env: bool) -> Config:
    sources = [
        s.model_copy(update={"directory": (base / s.directory).resolve()}) if s.directory is not None else s
        for s in config.sources
    ]
    database = config.database
    if not from_env:
        database = resolve_sqlite_path(database, base)
    return config.model_copy(update={"sources": sources, "database": database})


def resolve_sqlite_path(url: str, base: Path) -> str:
    """Make a relative SQLite file path absolute against `base` (the config file's folder)."""
    match = re.match(r"^(sqlite(?:\+\w+)?):///(?!/)(.+)$", url)
    if not match or match.group(2).startswith(":memory:"):
        return url
    return f"{match.group(1)}:///{(base / match.group(2)).resolve()}"
