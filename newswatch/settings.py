"""Reading the config file as the application does: the model (core/config.py) validated with the
checks that belong to the matcher and the signer, which the model itself cannot import."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from alerts.normalize import normalize_phrase
from alerts.rules import check_regex
from alerts.signing import decode_secret
from core.config import Checks, Config
from core.config import load_config as _load_config

CHECKS = Checks(regex=check_regex, phrase=normalize_phrase, secret=decode_secret)


def load_config(path: Path, environ: Mapping[str, str] | None = None) -> Config:
    """Read, expand and validate the config file at `path`; raise ConfigError saying what to fix."""
    return _load_config(path, environ, checks=CHECKS)


# For code that validates a part of the config itself (tests, the bench): `Model.model_validate(raw,
# context=CONTEXT)`.
CONTEXT = {"checks": CHECKS}
