"""The data passed between alert stages."""

from __future__ import annotations

from dataclasses import asdict, fields

from alerts.models import Hit, TermKind


def test_hit_as_dict_carries_every_field_as_asdict_would_but_where_it_is() -> None:
    hit = Hit("Vladimir Putin", TermKind.PERSON, "Putin's", "text", "… said Putin's aide …", 7, 14)
    # The place in the field (start, end) only serves to name each mention once; payloads omit it.
    shown = {f.name for f in fields(Hit) if f.compare}
    assert hit.as_dict() == {k: v for k, v in asdict(hit).items() if k in shown}
    assert list(hit.as_dict()) == [k for k in asdict(hit) if k in shown]
    assert hit == Hit("Vladimir Putin", TermKind.PERSON, "Putin's", "text", "… said Putin's aide …")
