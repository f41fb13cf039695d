"""The config's JSON Schema and reference page come from the model, and cannot drift from it."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft202012Validator

from core.schema import config_schema
from newswatch.cli import main
from newswatch.settings import load_config
from scripts.config_reference import (
    EXAMPLE_FILE,
    REFERENCE_FILE,
    SCHEMA_FILE,
    render_reference,
    render_schema,
)
from tests.conftest import ROOT

MODELINE = "# yaml-language-server: $schema=./newswatch.schema.json"


def test_the_committed_schema_and_reference_page_are_what_the_model_gives() -> None:
    schema = config_schema()
    fix = "run `python -m scripts.config_reference` and commit the result"
    assert SCHEMA_FILE.read_text(encoding="utf-8") == render_schema(schema), f"{SCHEMA_FILE} is stale: {fix}"
    assert REFERENCE_FILE.read_text(encoding="utf-8") == render_reference(schema), (
        f"{REFERENCE_FILE} is stale: {fix}"
    )


def test_every_key_of_the_config_has_a_description_and_a_row_on_the_reference_page() -> None:
    schema = config_schema()
    page = REFERENCE_FILE.read_text(encoding="utf-8")
    objects = [("(top level)", schema), *schema["$defs"].items()]
    keys = 0
    for name, node in objects:
        for key, prop in node.get("properties", {}).items():
            keys += 1
            assert prop.get("description", "").strip(), f"{name}.{key} has no description"
            assert f"| `{key}` |" in page, f"{name}.{key} is not on {REFERENCE_FILE.name}"
    assert keys > 80  # every mapping was walked, not only the top level


def test_config_schema_prints_the_schema_without_a_config_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)  # no config/newswatch.yaml here: the command needs none
    monkeypatch.delenv("NEWSWATCH_CONFIG", raising=False)
    assert main(["config", "schema"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed == json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    assert printed["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    Draft202012Validator.check_schema(printed)


def test_the_shipped_configs_name_the_schema_for_editors_and_pass_it() -> None:
    validator = Draft202012Validator(json.loads(SCHEMA_FILE.read_text(encoding="utf-8")))
    for name in ("newswatch.yaml", "compose.yaml", "full-example.yaml"):
        path = ROOT / "config" / name
        assert path.read_text(encoding="utf-8").splitlines()[0] == MODELINE
        errors = [e.message for e in validator.iter_errors(yaml.safe_load(path.read_text(encoding="utf-8")))]
        assert errors == [], f"{name}: {errors}"


def test_the_complete_example_on_the_reference_page_loads_as_a_config(webhook_secret: str) -> None:
    config = load_config(EXAMPLE_FILE, {"NEWSWATCH_WEBHOOK_SECRET": webhook_secret, "WIRE_TOKEN": "t"})
    assert {s.name for s in config.sources} == {"desk", "wire"}
    assert {c.kind for c in config.channels} == {"webhook", "email", "console"}
    assert config.http is not None and config.retention.enabled
    assert f"```yaml\n{EXAMPLE_FILE.read_text(encoding='utf-8')}```" in REFERENCE_FILE.read_text(
        encoding="utf-8"
    )


def _docs_yaml() -> list[tuple[str, Any]]:
    """Every ```yaml block of the docs and README that is a mapping of config keys."""
    blocks = []
    for path in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        for i, block in enumerate(re.findall(r"```yaml\n(.*?)```", path.read_text(encoding="utf-8"), re.S)):
            data = yaml.safe_load(block)
            if isinstance(data, dict):
                blocks.append((f"{path.name} block {i + 1}", data))
    return blocks


def test_every_config_example_in_the_docs_uses_only_keys_the_schema_knows() -> None:
    validator = Draft202012Validator(config_schema())
    blocks = _docs_yaml()
    assert len(blocks) >= 5
    for where, data in blocks:
        errors = [f"{'.'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(data)]
        assert errors == [], f"{where}: {errors}"


def test_the_schema_refuses_what_the_loader_refuses_and_takes_env_references() -> None:
    validator = Draft202012Validator(config_schema())
    source = {"name": "wire", "feed": "https://example.org/rss.xml"}

    def ok(data: dict[str, Any]) -> bool:
        return validator.is_valid(data)

    assert ok({"sources": [source]})
    assert not ok({"sourcez": [source]})  # an unknown key
    assert not ok({"sources": [{**source, "every": "soon"}]})  # not a duration
    assert ok({"sources": [{**source, "every": "10m"}]}) and ok({"sources": [{**source, "every": 90}]})
    assert not ok({"fetch": {"concurrency": 0}})
    smtp = {"host": "mailpit", "port": "${SMTP_PORT:-1025}"}  # expanded before validation
    channel = {"name": "mail", "email": {"to": ["a@example.org"], "from": "n@example.org", "smtp": smtp}}
    assert ok({"channels": [channel]})
    assert not ok({"channels": [{**channel, "email": {**channel["email"], "smtp": {"port": "soon"}}}]})
    assert ok({"rules": [{"name": "r", "people": ["A B", {"name": "C D"}], "notify": ["mail"]}]})
