"""Tests of the text helpers."""

import pytest

from text import slugify


@pytest.mark.parametrize(
    ("title", "slug"),
    [
        ("Hello World", "hello-world"),
        ("  spaces   everywhere ", "spaces-everywhere"),
        ("C'est l'été!", "c-est-l-t"),
        ("", ""),
    ],
)
def test_slugify(title, slug):
    assert slugify(title) == slug
