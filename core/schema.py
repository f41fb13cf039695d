"""The JSON Schema of the config file, from the one model (core/config.py).

It describes the file as written, before `${VAR}` is expanded: any scalar may be written as
`${VAR}` or `${VAR:-default}`, durations as `30s`, `10m`, `2h`, `1d` or seconds, defaults as the
config writes them. `newswatch config schema` prints it; config/newswatch.schema.json is a copy for
editors (yaml-language-server) and docs/configuration.md is rendered from it (scripts/config_reference.py);
tests fail when either copy is stale."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

from pydantic.json_schema import GenerateJsonSchema, JsonSchemaValue
from pydantic_core import core_schema

from core.config import ENV_REF_PATTERN, Config, format_duration

SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
ENV_REF: dict[str, Any] = {"type": "string", "pattern": ENV_REF_PATTERN}


class _ConfigSchema(GenerateJsonSchema):
    """Pydantic's generator, told how the YAML file is really written."""

    def field_title_should_be_set(self, schema: Any) -> bool:
        return False  # "Max Bytes" for max_bytes says nothing the key does not

    def int_schema(self, schema: core_schema.IntSchema) -> JsonSchemaValue:
        return _or_env(super().int_schema(schema))

    def float_schema(self, schema: core_schema.FloatSchema) -> JsonSchemaValue:
        return _or_env(super().float_schema(schema))

    def bool_schema(self, schema: core_schema.BoolSchema) -> JsonSchemaValue:
        return _or_env(super().bool_schema(schema))

    def literal_schema(self, schema: core_schema.LiteralSchema) -> JsonSchemaValue:
        return _or_env(super().literal_schema(schema))

    def get_default_value(self, schema: core_schema.WithDefaultSchema) -> Any:
        factory = schema.get("default_factory")
        if factory is not None and not schema.get("default_factory_takes_data"):
            return factory()  # type: ignore[call-arg]  # `fields: [title, text, topics]`, `[]`, `{}`
        return super().get_default_value(schema)

    def encode_default(self, dft: Any) -> Any:
        return _plain(dft)

    def generate(self, schema: core_schema.CoreSchema, mode: Any = "validation") -> JsonSchemaValue:
        result = super().generate(schema, mode)
        flat: JsonSchemaValue = _flatten({"$schema": SCHEMA_DIALECT, **result})
        return flat


def _or_env(schema: JsonSchemaValue) -> JsonSchemaValue:
    return {"anyOf": [schema, ENV_REF]}


def _plain(value: Any) -> Any:
    """A default as the YAML file would write it: durations as `30s`, models as mappings."""
    if isinstance(value, timedelta):
        return format_duration(value)
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "model_dump"):
        return _plain(value.model_dump(by_alias=True))
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _flatten(value: Any) -> Any:
    """Merge an `anyOf` that holds a bare `anyOf` (`int | None` of an int-or-${VAR}) into one list."""
    if isinstance(value, list):
        return [_flatten(v) for v in value]
    if not isinstance(value, dict):
        return value
    value = {k: _flatten(v) for k, v in value.items()}
    if isinstance(value.get("description"), str):  # a model's docstring, as one line
        value["description"] = " ".join(value["description"].split())
    options = value.get("anyOf")
    if isinstance(options, list):
        merged: list[Any] = []
        for option in options:
            bare = isinstance(option, dict) and set(option) == {"anyOf"}
            for item in option["anyOf"] if bare else [option]:
                if item not in merged:
                    merged.append(item)
        value["anyOf"] = merged
    return value


def config_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of a Newswatch config file."""
    schema: dict[str, Any] = Config.model_json_schema(schema_generator=_ConfigSchema)
    schema["title"] = "Newswatch configuration"
    return schema
