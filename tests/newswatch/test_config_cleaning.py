"""Config: the `cleaning:` and `dedup:` sections, defaults and readable errors."""

from __future__ import annotations

from datetime import timedelta

import pytest

from core.errors import ConfigError
from newswatch.settings import load_config
from tests.conftest import Workspace


def test_defaults_when_the_sections_are_absent(bare_workspace: Workspace) -> None:
    config = load_config(bare_workspace.write_config("sources: []\n"), environ={})
    assert config.dedup.threshold == 0.5
    assert (config.dedup.containment, config.dedup.min_similarity, config.dedup.spread) == (0.8, 0.2, 0.7)
    assert config.dedup.window == timedelta(days=7)
    assert config.cleaning.boilerplate == []
    assert config.cleaning.replace_default_boilerplate is False


def test_sections_are_read(bare_workspace: Workspace) -> None:
    text = "cleaning:\n  boilerplate: ['produced by .*']\ndedup:\n  threshold: 0.8\n  window: 2d\n"
    config = load_config(bare_workspace.write_config(text), environ={})
    assert config.cleaning.boilerplate == ["produced by .*"]
    assert config.dedup.threshold == 0.8
    assert config.dedup.window == timedelta(days=2)


def test_a_low_threshold_from_before_the_new_settings_still_loads(bare_workspace: Workspace) -> None:
    config = load_config(bare_workspace.write_config("dedup:\n  threshold: 0.15\n"), environ={})
    assert config.dedup.threshold == config.dedup.min_similarity == 0.15


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("dedup:\n  threshold: 1.5\n", "dedup.threshold: Input should be less than or equal to 1"),
        ("dedup:\n  window: soon\n", "dedup.window: 'soon' is not a duration"),
        ("dedup:\n  shingle: 3\n", "dedup.shingle: unknown key"),
        (
            "dedup:\n  threshold: 0.3\n  min_similarity: 0.4\n",
            "min_similarity 0.4 is above threshold 0.3",
        ),
        ("dedup:\n  containment: 0\n", "dedup.containment: Input should be greater than 0"),
        ("cleaning:\n  boilerplate: ['(unclosed']\n", "is not a regular expression"),
    ],
)
def test_bad_sections_raise_a_readable_error(bare_workspace: Workspace, text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(".", r"\.")):
        load_config(bare_workspace.write_config(text), environ={})
