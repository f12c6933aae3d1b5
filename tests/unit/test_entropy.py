"""Entropy: keys look random, names are made of words; git object names and UUIDs are not secrets."""

from __future__ import annotations

import base64
import random

from guardrails.text import entropy

_KEY = base64.b64encode(random.Random(7).randbytes(30)).decode()


def test_looks_random_separates_keys_from_names():
    assert entropy.looks_random(_KEY)
    assert not entropy.looks_random("getUserAccountSettingsForTenant2")
    assert not entropy.looks_random("a" * 40)


def test_git_object_names_and_uuids_are_not_random():
    assert not entropy.looks_random("3f786850e387550fdab836ed7e6dc881de23001b")
    assert not entropy.looks_random("123e4567-e89b-12d3-a456-426614174000")
    assert not entropy.looks_random("pack-3f786850e387550fdab836ed7e6dc881de23001b")


def test_entropy_of_a_uniform_text_is_its_alphabet_size_in_bits():
    assert entropy.shannon_entropy("abcd" * 4) == 2.0
    assert entropy.shannon_entropy("") == 0.0
