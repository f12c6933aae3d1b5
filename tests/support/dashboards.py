"""What the Kibana panels (bot/assets/kibana/quorum.ndjson) ask of documents, and what the template maps."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ASSETS = Path(__file__).resolve().parents[2] / "bot" / "assets"
KIBANA = ASSETS / "kibana" / "quorum.ndjson"
MAPPINGS = ASSETS / "elasticsearch" / "component-template-mappings.json"
# Lens's pseudo-field for "count of records".
_RECORDS = "___records___"
_TERM = re.compile(r'^\s*([\w@.]+)\s*:\s*(?:"([^"]*)"|(true|false))\s*$')


@dataclass(frozen=True, slots=True)
class Panel:
    """One Lens panel: its KQL filter as (field, value) terms joined by `and`, and the fields it reads."""

    id: str
    terms: tuple[tuple[str, object], ...]
    fields: frozenset[str]

    def queried(self) -> set[str]:
        """Every field the panel touches: its filter's and its columns'."""
        return {name for name, _ in self.terms} | set(self.fields)

    def matches(self, doc: Mapping[str, Any]) -> bool:
        """True when `doc` passes the panel's filter (a term on a list matches any element)."""
        for name, expected in self.terms:
            value = value_at(doc, name)
            if value != expected and not (isinstance(value, list) and expected in value):
                return False
        return True


def panels() -> list[Panel]:
    """The Lens panels of the Kibana export, in file order."""
    out = []
    for line in KIBANA.read_text("utf-8").splitlines():
        obj = json.loads(line)
        state = obj.get("attributes", {}).get("state")
        if obj.get("type") != "lens" or state is None:
            continue
        columns = [c for layer in state["datasourceStates"]["formBased"]["layers"].values()
                   for c in layer["columns"].values()]  # fmt: skip
        fields = frozenset(c["sourceField"] for c in columns if c.get("sourceField", _RECORDS) != _RECORDS)
        out.append(Panel(obj["id"], _terms(state["query"]["query"]), fields))
    return out


def _terms(kql: str) -> tuple[tuple[str, object], ...]:
    terms: list[tuple[str, object]] = []
    for part in re.split(r"\s+and\s+", kql):
        match = _TERM.match(part)
        if match is None:
            raise ValueError(f"a panel query this test cannot read: {kql!r}")
        name, text, flag = match.groups()
        terms.append((name, text if flag is None else flag == "true"))
    return tuple(terms)


def mapped_fields() -> set[str]:
    """Every leaf field the index template maps (dotted paths)."""
    mappings = json.loads(MAPPINGS.read_text("utf-8"))["template"]["mappings"]
    return set(_walk_mapping(mappings["properties"], ""))


def _walk_mapping(properties: Mapping[str, Any], prefix: str) -> Iterator[str]:
    for name, spec in properties.items():
        path = f"{prefix}{name}"
        if "properties" in spec:
            yield from _walk_mapping(spec["properties"], path + ".")
        else:
            yield path


def leaf_paths(doc: Mapping[str, Any], prefix: str = "") -> set[str]:
    """The dotted paths of every value in a document (lists count as their field)."""
    paths: set[str] = set()
    for name, value in doc.items():
        path = f"{prefix}{name}"
        if isinstance(value, Mapping):
            paths |= leaf_paths(value, path + ".")
        else:
            paths.add(path)
    return paths


def value_at(doc: Mapping[str, Any], path: str) -> Any:
    """The value at a dotted path, or None."""
    node: Any = doc
    for part in path.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return None
        node = node[part]
    return node
