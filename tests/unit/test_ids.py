"""Object ids: the OpenAI prefixes and a 24-character base62 body drawn at random."""

from __future__ import annotations

import string

import pytest

from assistantd.ids import PREFIXES, new_id

ALPHABET = set(string.ascii_letters + string.digits)


@pytest.mark.parametrize("kind", sorted(PREFIXES))
def test_prefix_and_body(kind: str) -> None:
    value = new_id(kind)
    prefix = PREFIXES[kind]
    assert value.startswith(prefix)
    body = value[len(prefix) :]
    assert len(body) == 24
    assert set(body) <= ALPHABET


def test_every_position_varies_and_ids_do_not_repeat() -> None:
    bodies = [new_id("run")[len("run_") :] for _ in range(2000)]
    assert len(set(bodies)) == len(bodies)
    for position in range(24):
        # 2000 draws from 62 symbols: each position shows most of the alphabet, including
        # the last one, the most significant base-62 digit (a range too small for the body
        # would leave it stuck on a few letters).
        assert len({body[position] for body in bodies}) > 50


def test_unknown_kind_is_a_key_error() -> None:
    with pytest.raises(KeyError):
        new_id("nonsense")
