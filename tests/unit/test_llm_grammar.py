"""The review schema as llama.cpp's grammar converter sees it: every answer the grammar allows is a valid
review that fits in the call's `max_tokens`."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.adapters.llm import grammar as llm_grammar
from bot.review import carried
from guardrails.text import validation

MAX_TOKENS = 1024
# Keywords llama-cpp-python's converter reads (`SchemaConverter.visit`); anything else it ignores.
_ENFORCED = {"type", "enum", "properties", "required", "items", "maxItems", "minItems", "pattern"}


def allowed(schema: dict[str, Any]) -> st.SearchStrategy[Any]:
    """What a grammar built from `schema` by the converter lets a model write: the keywords it ignores
    (`minimum`, `maximum`) bound nothing here either."""
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    kind = schema.get("type")
    if kind == "object":
        return st.fixed_dictionaries({name: allowed(sub) for name, sub in schema["properties"].items()})
    if kind == "array":
        size = {"min_size": schema.get("minItems", 0), "max_size": schema.get("maxItems", 4)}
        return st.lists(allowed(schema["items"]), **size)
    if kind == "string" and "pattern" in schema:
        return st.from_regex(schema["pattern"], fullmatch=True)
    if kind == "string":
        return st.text(max_size=schema.get("maxLength", 50), min_size=schema.get("minLength", 0))
    if kind == "integer":
        return st.integers(-5, 5)
    return st.floats(-10, 10, allow_nan=False)


def _keywords(schema: Any) -> set[str]:
    if not isinstance(schema, dict):
        return set()
    found = set(schema) - {"properties"}
    for name, sub in schema.get("properties", {}).items():
        found |= _keywords(sub) if name else set()
    return found | _keywords(schema.get("items"))


@pytest.mark.parametrize("schema", [validation.REVIEW_SCHEMA, carried.SCHEMA], ids=["review", "carried"])
def test_the_shaped_schema_uses_only_what_the_converter_enforces(schema: dict[str, Any]) -> None:
    shaped = llm_grammar.fitted(schema, MAX_TOKENS)

    assert _keywords(shaped) - {"maxLength", "minLength"} <= _ENFORCED
    assert llm_grammar.longest(shaped) <= MAX_TOKENS


@pytest.mark.parametrize("max_tokens", [300, 512, MAX_TOKENS])
@settings(max_examples=100, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=st.data())
def test_every_answer_the_grammar_allows_is_a_valid_review(max_tokens: int, data: st.DataObject) -> None:
    shaped = llm_grammar.fitted(validation.REVIEW_SCHEMA, max_tokens)

    answer = data.draw(allowed(shaped))

    text = json.dumps(answer)
    assert validation.parse(text).review is not None, text
    assert len(text) <= max_tokens  # ASCII only: one character is at most one token


def test_the_schema_as_written_lets_a_model_write_an_invalid_review() -> None:
    # What the converter made of the schema before shaping: the bounds of numbers were not enforced.
    answer = {"verdict": "approve", "summary": "ok", "confidence": 8, "findings": []}

    assert validation.parse(json.dumps(answer)).review is None
    assert llm_grammar.for_grammar(validation.REVIEW_SCHEMA)["properties"]["confidence"]["enum"][-1] == 1


def test_a_bound_the_grammar_cannot_express_is_refused() -> None:
    with pytest.raises(ValueError, match="cannot express"):
        llm_grammar.for_grammar({"type": "number", "minimum": 0})
    with pytest.raises(ValueError, match="exclusiveMaximum"):
        llm_grammar.for_grammar({"type": "number", "minimum": 0, "exclusiveMaximum": 1})


def test_a_token_limit_too_small_for_any_review_is_refused() -> None:
    with pytest.raises(ValueError, match="even when shrunk"):
        llm_grammar.fitted(validation.REVIEW_SCHEMA, 60)
