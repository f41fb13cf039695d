"""The data passed between alert stages."""

from __future__ import annotations

from dataclasses import asdict

from alerts.models import Hit, TermKind


def test_hit_as_dict_carries_every_field_as_asdict_would() -> None:
    hit = Hit("Vladimir Putin", TermKind.PERSON, "Putin's", "text", "… said Putin's aide …")
    assert hit.as_dict() == asdict(hit)
    assert list(hit.as_dict()) == list(asdict(hit))
