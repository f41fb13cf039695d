"""Write the config's JSON Schema and its reference page from the one model (core/config.py).

    python -m scripts.config_reference           # write config/newswatch.schema.json, docs/configuration.md
    python -m scripts.config_reference --check   # exit 1, naming the file, when either is stale

tests/test_docs.py fails when a committed copy differs from what this writes, so the page and the
schema cannot drift from the model: change a field or its description, run this, commit both."""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from core.schema import ENV_REF, config_schema

ROOT = Path(__file__).resolve().parent.parent
SCHEMA_FILE = ROOT / "config" / "newswatch.schema.json"
REFERENCE_FILE = ROOT / "docs" / "configuration.md"
# Every section with its defaults, shown on the page; tests load it as `newswatch check` would.
EXAMPLE_FILE = ROOT / "config" / "full-example.yaml"

PREAMBLE = """\
# Configuration reference

<!-- Generated from the config model (core/config.py) by `python -m scripts.config_reference`.
     Do not edit by hand: tests/newswatch/test_config_schema.py fails when this page is stale. -->

Newswatch reads one YAML file: `--config PATH`, else `$NEWSWATCH_CONFIG`, else
`config/newswatch.yaml` (the working demo). `newswatch check` validates it and runs the rules'
examples.

- **Paths** in the file (a folder source, an SQLite file, templates, certificates) are relative to
  the file's folder: the demo's `sqlite:///newswatch.db` is `config/newswatch.db`.
- **`${VAR}`** in any value is read from the environment; `${VAR:-default}` gives a default. An
  unset variable without a default is a config error. Secrets belong in the environment, never in
  the file.
- **Durations** are written `30s`, `10m`, `2h`, `1d` (or `500ms`); a bare number is seconds. Every
  duration is above zero and at most 36500d; the tables below give each one's bounds.
- **Editors**: `config/newswatch.schema.json` is the JSON Schema of this file (`newswatch config
  schema` prints the same). Start a config with
  `# yaml-language-server: $schema=./newswatch.schema.json` (the path relative to the config) and
  an editor with the YAML language server (VS Code's YAML extension, for one) completes and checks
  keys as you type.

## What is refused

Unknown keys are errors. A bad config names what to fix: a YAML syntax error names the file, line
and column; a schema error names the key path and the item (`sources[1].every (source 'wire'):
'soon' is not a duration…`); a rule that notifies an unknown channel names it. Every config error
is one line on standard error and exit code 2, for `check`, `run` and every other command.

- **Bounds**: every number, duration and name has the bounds the tables below give; past them the
  value is refused with its key path.
- **URLs**: a `feed:` or `webhook:` URL must be one httpx can request, checked as httpx reads it:
  `http://0177.0.0.1/` (an octal address), a port past 65535, an empty or 64-character host label
  are refused with the words a poll would fail with (`… is not a URL that can be fetched: Invalid
  IPv4 address: '0177.0.0.1'`).
- **YAML**: read with the safe loader only: a `!!python/object…` (or any other unknown) tag is
  refused (`YAML tag '…' is not allowed`). A file over 10 MB, a document whose aliases (`*name`)
  would expand to more than 10,000 extra nodes (a "billion laughs"), an alias inside the node it
  names, or nesting deeper than 100 levels is refused, naming the file, before anything is
  expanded. A file that is not UTF-8 text is refused.
- **No sources**: an empty file, or one with no `sources:`, is refused by `run`, `check` and
  `reload`: `… has no sources; see config/newswatch.yaml for an example`.
- **Retention** shorter than what deduplication or a cooldown looks back over is refused (see
  [`retention`](#retention)).

## A complete example

Every section, with the defaults where a key has one. [Rules, channels and
payloads](rules-and-channels.md) shows more rule and channel keys at work; the sections after this
one list every key. It is `config/full-example.yaml`:

"""


def _refs(node: dict[str, Any]) -> Iterator[tuple[str, bool]]:
    """The definitions a property holds, each with whether it is listed (inside `items`)."""
    if "$ref" in node:
        yield str(node["$ref"]).rsplit("/", 1)[-1], False
    for option in node.get("anyOf", []):
        yield from _refs(option)
    if isinstance(node.get("items"), dict):
        yield from ((name, True) for name, _ in _refs(node["items"]))


def _sections(schema: dict[str, Any]) -> list[tuple[str, list[str], dict[str, Any]]]:
    """(definition name, the key paths where it is used, its schema): each mapping of the file once,
    in the order a reader meets them (each section followed by the mappings inside it)."""
    paths: dict[str, list[str]] = {"": [""]}
    order = [""]

    def visit(name: str, node: dict[str, Any], prefix: str) -> None:
        for key, prop in node["properties"].items():
            for child, listed in _refs(prop):
                path = f"{prefix}.{key}".lstrip(".") + ("[]" if listed else "")
                if child in paths:
                    if path not in paths[child]:
                        paths[child].append(path)
                    continue
                paths[child] = [path]
                order.append(child)
                visit(child, schema["$defs"][child], path)

    visit("", schema, "")
    return [(name, paths[name], schema["$defs"][name] if name else schema) for name in order]


def _anchor(path: str) -> str:
    return path.replace("[]", "").replace(".", "-") or "top-level"


def _type(schema: dict[str, Any], node: dict[str, Any], anchors: dict[str, str]) -> str:
    if "x-duration" in node:
        bounds = node["x-duration"]
        low = bounds.get("min")
        return f"duration, {low} to {bounds['max']}" if low else f"duration, at most {bounds['max']}"
    if "anyOf" in node:
        options = [o for o in node["anyOf"] if o != ENV_REF]
        kinds = [_type(schema, o, anchors) for o in options if o.get("type") != "null"]
        return " or ".join(dict.fromkeys(kinds))
    if "$ref" in node:
        name = node["$ref"].rsplit("/", 1)[-1]
        return f"[mapping](#{anchors[name]})"
    if "enum" in node:
        return " \\| ".join(f"`{v}`" for v in node["enum"])
    kind = node.get("type")
    if kind == "array":
        return f"list of {_type(schema, node['items'], anchors)}"
    if kind == "object":
        values = _type(schema, node.get("additionalProperties", {}), anchors)
        return f"mapping of string to {values}"
    words = {"string": "string", "integer": "integer", "number": "number", "boolean": "boolean"}
    text = words.get(str(kind), str(kind))
    if node.get("format") == "path":
        text = "path"
    return text + _bounds(node)


def _bounds(node: dict[str, Any]) -> str:
    """A number's or a string's limits, as the model checks them."""
    parts = []
    if "minimum" in node:
        parts.append(f">= {node['minimum']:,}")
    elif "exclusiveMinimum" in node:
        parts.append(f"> {node['exclusiveMinimum']:,}")
    if "maximum" in node:
        parts.append(f"<= {node['maximum']:,}")
    elif "exclusiveMaximum" in node:
        parts.append(f"< {node['exclusiveMaximum']:,}")
    if "maxLength" in node:
        parts.append(f"{node.get('minLength', 0)} to {node['maxLength']} characters")
    return f" ({', '.join(parts)})" if parts else ""


def _default(prop: dict[str, Any], required: bool) -> str:
    if required:
        return "**required**"
    if "default" not in prop:
        return "—"
    value = prop["default"]
    if value is None:
        return "unset"
    if isinstance(value, dict):
        return "see below" if value else "empty"
    if isinstance(value, list):
        return "`[" + ", ".join(str(v) for v in value) + "]`" if value else "empty"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, int) and not isinstance(value, bool) and value >= 10_000:
        return f"`{value}` ({value:,})"
    return f"`{value}`"


def _cell(text: str) -> str:
    """Text for a table cell: one line, and a `|` that is not already escaped escaped."""
    return re.sub(r"(?<!\\)\|", r"\\|", " ".join(text.split()))


def render_reference(schema: dict[str, Any]) -> str:
    """docs/configuration.md: the preamble, then one table per mapping of the config."""
    sections = list(_sections(schema))
    anchors = {name: _anchor(where[0]) for name, where, _ in sections}
    example = EXAMPLE_FILE.read_text(encoding="utf-8")
    out = [PREAMBLE, f"```yaml\n{example}```\n"]
    for name, where, node in sections:
        title = f"`{where[0]}`" if where[0] else "Top level"
        out.append(f"## {title} {{#{anchors[name]}}}\n")
        if len(where) > 1:
            out.append("Also at " + ", ".join(f"`{w}`" for w in where[1:]) + ".\n")
        if node.get("description"):
            out.append(node["description"] + "\n")
        out.append("| key | type | default | description |")
        out.append("| --- | --- | --- | --- |")
        required = set(node.get("required", []))
        for key, prop in node["properties"].items():
            kind, default = _type(schema, prop, anchors), _default(prop, key in required)
            cells = (kind, default, prop.get("description", ""))
            out.append(f"| `{key}` | " + " | ".join(_cell(c) for c in cells) + " |")
        out.append("")
    return "\n".join(out)


def render_schema(schema: dict[str, Any]) -> str:
    """config/newswatch.schema.json: what `newswatch config schema` prints."""
    return json.dumps(schema, ensure_ascii=False, indent=2) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.config_reference", description=__doc__)
    parser.add_argument("--check", action="store_true", help="only say whether the files are stale")
    args = parser.parse_args(argv)
    schema = config_schema()
    stale = []
    for path, text in ((SCHEMA_FILE, render_schema(schema)), (REFERENCE_FILE, render_reference(schema))):
        current = path.read_text(encoding="utf-8") if path.exists() else None
        if current == text:
            continue
        stale.append(path)
        if not args.check:
            path.write_text(text, encoding="utf-8")
            print(f"wrote {path.relative_to(ROOT)}")
    if args.check and stale:
        for path in stale:
            print(
                f"{path.relative_to(ROOT)} is stale: run python -m scripts.config_reference", file=sys.stderr
            )
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
