"""Shortcuts the store takes when writing, held to the long way: what is stored does not change."""

from __future__ import annotations

import json

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from aggregator import store
from aggregator.store.writes import json_list


@given(st.lists(st.text() | st.integers() | st.none() | st.floats(allow_nan=False), max_size=6))
@example(["general:products/amazon-s3", "marketing:marchitecture/storage"])
@example(["é", 'quote " and \\ backslash', "\n\t", "\u2028", "\ud83d", "😀"])
def test_json_list_writes_what_json_dumps_writes(items: list[object]) -> None:
    assert json_list(items) == json.dumps(items)
    assert json_list(tuple(items)) == json.dumps(items)


def test_a_burst_writes_with_a_larger_page_cache_and_gives_it_back(tmp_path) -> None:
    db = store.open_db(tmp_path / "archive.db")
    (before,) = db.execute("PRAGMA cache_size").fetchone()
    with store.larger_page_cache(db):
        assert db.execute("PRAGMA cache_size").fetchone() == (-store.writes.BURST_CACHE_KIB,)
    assert db.execute("PRAGMA cache_size").fetchone() == (before,)
    with pytest.raises(RuntimeError), store.larger_page_cache(db):
        raise RuntimeError("a poll that fails half-way")
    assert db.execute("PRAGMA cache_size").fetchone() == (before,)
