"""A JSON schema reshaped so llama.cpp's schema-to-grammar converter enforces every bound of it.

The converter of llama-cpp-python (`llama_cpp/llama_grammar.py`, `SchemaConverter.visit`) turns enums,
string lengths, item counts and string patterns into grammar rules, but ignores `minimum` and `maximum`
("TODO: support minimum, maximum"), so a small model could still write a confidence of 8 or line 0 and
lose its whole verdict. Here bounded numbers become enums of literal numbers (the grammar writes them
bare), integers with a lower bound of 0 or 1 become digit patterns (a JSON string the review model reads
back as an integer), and strings become printable ASCII without quote or backslash, so one character is
at most one token. Lengths and item counts then shrink until the longest answer the grammar allows fits
in the call's `max_tokens`: a model looping on one string is cut by the grammar, never by the token
limit, which would leave a truncated object and no verdict.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

_STEPS = 10  # a bounded number is one of 11 evenly spaced values, say 0, 0.1, ... 1
_MAX_ENUM_INTEGERS = 64
_DIGITS = "[0-9]{0,8}"
_INTEGERS = {0: f"^(0|[1-9]{_DIGITS})$", 1: f"^[1-9]{_DIGITS}$"}
_INTEGER_CHARS = 11  # nine digits and the quotes
_TEXT = "[ !#-\\[\\]-~]"  # printable ASCII but the quote and the backslash: nothing to escape
_BOUNDS = ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf")
# (items per array, shortest string) of each stage of shrinking: a path needs some 64 characters.
_STAGES = ((3, 64), (1, 16))


def fitted(schema: Mapping[str, Any], max_chars: int) -> dict[str, Any]:
    """`for_grammar(schema)`, shrunk until its longest answer has at most `max_chars` characters: first
    to 3 items per array and strings of 64 characters at least, then to 1 item and 16 characters."""
    shaped = for_grammar(schema)
    for items, floor in _STAGES:
        if longest(shaped) <= max_chars:
            return shaped
        shaped = _cap_items(shaped, items)
        while (size := longest(shaped)) > max_chars:
            smaller = _shrink(shaped, max_chars / size, floor)
            if smaller == shaped:
                break
            shaped = smaller
    if (size := longest(shaped)) > max_chars:
        raise ValueError(f"the schema allows {size} characters, more than {max_chars} even when shrunk")
    return shaped


def for_grammar(schema: Mapping[str, Any]) -> dict[str, Any]:
    """`schema` with every bound in terms the converter enforces; raises ValueError for a bound it
    cannot express (a schema author's mistake, found by the tests)."""
    out: dict[str, Any] = {key: _nested(key, value, for_grammar) for key, value in schema.items()}
    kind = out.get("type")
    if kind in ("number", "integer") and any(key in out for key in _BOUNDS):
        return _bounded(out)
    if kind == "string" and "enum" not in out and "pattern" not in out:
        return _text(out)
    return out


def longest(schema: Mapping[str, Any]) -> int:
    """The most characters an answer of the shaped `schema` may have (one optional space per token)."""
    if "enum" in schema:
        return max(len(json.dumps(value)) for value in schema["enum"]) + 1
    kind = schema.get("type")
    if kind == "object":
        properties = schema.get("properties", {})
        return 2 + sum(len(name) + 6 + longest(sub) for name, sub in properties.items())
    if kind == "array":
        return 3 + int(schema.get("maxItems", 10**9)) * (longest(schema.get("items", {})) + 2)
    if kind == "string" and "maxLength" in schema:
        return int(schema["maxLength"]) + 3
    if kind == "string" and schema.get("pattern") in _INTEGERS.values():
        return _INTEGER_CHARS + 1
    return 10**9  # unbounded


def _nested(key: str, value: Any, visit: Any) -> Any:
    if key == "properties" and isinstance(value, Mapping):
        return {name: visit(sub) for name, sub in value.items()}
    if key == "items" and isinstance(value, Mapping):
        return visit(value)
    return value


def _cap_items(schema: Mapping[str, Any], items: int) -> dict[str, Any]:
    out = {key: _nested(key, value, lambda sub: _cap_items(sub, items)) for key, value in schema.items()}
    if out.get("type") == "array":
        out["maxItems"] = min(int(out.get("maxItems", items)), items)
    return out


def _shrink(schema: Mapping[str, Any], ratio: float, shortest: int) -> dict[str, Any]:
    out = {key: _nested(key, v, lambda sub: _shrink(sub, ratio, shortest)) for key, v in schema.items()}
    if "maxLength" in out:
        high = int(out["maxLength"])
        floor = min(high, max(int(out.get("minLength", 0)), shortest))
        out["maxLength"] = max(floor, min(int(high * ratio), high - 1))
        out["pattern"] = _pattern(int(out.get("minLength", 0)), out["maxLength"])
    return out


def _text(schema: dict[str, Any]) -> dict[str, Any]:
    if "maxLength" not in schema:
        return {**schema, "pattern": f"^{_TEXT}*$"}
    return {**schema, "pattern": _pattern(int(schema.get("minLength", 0)), int(schema["maxLength"]))}


def _pattern(low: int, high: int) -> str:
    return f"^{_TEXT}{{{low},{high}}}$"


def _bounded(schema: dict[str, Any]) -> dict[str, Any]:
    low, high = schema.get("minimum"), schema.get("maximum")
    unsupported = [key for key in _BOUNDS if key in schema and key not in ("minimum", "maximum")]
    rest = {key: value for key, value in schema.items() if key not in _BOUNDS and key != "type"}
    if unsupported:
        raise ValueError(f"cannot express {', '.join(unsupported)} in a grammar")
    if schema["type"] == "number" and low is not None and high is not None and low < high:
        values = [round(low + (high - low) * k / _STEPS, 6) for k in range(_STEPS + 1)]
        return {**rest, "enum": [int(v) if float(v).is_integer() else v for v in values]}
    if schema["type"] == "integer" and low is not None and high is not None:
        if high - low + 1 > _MAX_ENUM_INTEGERS:
            raise ValueError(f"an integer range of {high - low + 1} values is too wide for an enum")
        return {**rest, "enum": list(range(int(low), int(high) + 1))}
    if schema["type"] == "integer" and high is None and low in _INTEGERS:
        return {**rest, "type": "string", "pattern": _INTEGERS[int(low)]}
    raise ValueError(f"cannot express the bounds {low!r}..{high!r} of a {schema['type']} in a grammar")
