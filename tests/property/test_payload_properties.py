"""Payload hashing and deduplication: the archive's content addressing must never be wrong.

For any bodies, in any batches, with any repeats: each page row points at the sha256 of
its own bytes, each distinct body is one `raw.payloads` row and one zstd file, and the
file decompresses to exactly the bytes received. JSON bodies read back through the
`raw.payload_json` view equal what was sent.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path

import duckdb
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from project.lib import warehouse
from project.lib.pncp import payload_store
from project.lib.pncp.archive import ArchivedPage, ArchiveWriter, ensure_archive

DAY = date(2024, 7, 1)
archive_examples = settings(
    max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


@contextmanager
def fresh_archive() -> Iterator[duckdb.DuckDBPyConnection]:
    """A new warehouse per example (pytest's function fixtures outlive Hypothesis examples)."""
    with (
        tempfile.TemporaryDirectory() as tmp,
        warehouse.connection(Path(tmp) / "warehouse.duckdb") as conn,
    ):
        ensure_archive(conn)
        yield conn


def _page(number: int, body: bytes) -> ArchivedPage:
    return ArchivedPage(
        endpoint="contratos", day=DAY, modalidade=0, page=number,
        params={"pagina": str(number)}, http_status=200 if body else 204, body=body,
        etag=None, record_count=1 if body else 0, total_records=0, total_pages=0, attempts=1,
    )  # fmt: skip


@st.composite
def batches_with_repeats(draw: st.DrawFn) -> list[list[bytes]]:
    """A few distinct bodies, drawn with repeats into batches (an empty 204 body included)."""
    distinct = draw(st.lists(st.binary(max_size=2_000), min_size=1, max_size=6, unique=True))
    bodies = draw(st.lists(st.sampled_from(distinct), min_size=1, max_size=25))
    cuts = sorted(draw(st.sets(st.integers(1, max(1, len(bodies) - 1)), max_size=4)))
    edges = [0, *cuts, len(bodies)]
    return [bodies[a:b] for a, b in itertools.pairwise(edges) if bodies[a:b]]


@archive_examples
@given(batches=batches_with_repeats())
def test_each_distinct_body_is_stored_once_and_every_row_points_at_its_own_hash(
    batches: list[list[bytes]],
) -> None:
    with fresh_archive() as conn:
        writer = ArchiveWriter.on(conn, "run-1")
        number = 0
        sent: dict[int, bytes] = {}
        for batch in batches:
            pages = []
            for body in batch:
                number += 1
                sent[number] = body
                pages.append(_page(number, body))
            writer.write(pages)
        writer.close()

        rows = dict(conn.execute("SELECT page, payload_sha256 FROM raw.api_requests").fetchall())
        payloads = conn.execute(
            "SELECT payload_sha256, payload_size, stored_size FROM raw.payloads"
        ).fetchall()
        root = payload_store.root_for(conn)

        for page, body in sent.items():
            assert rows[page] == (hashlib.sha256(body).hexdigest() if body else None)
        distinct = {hashlib.sha256(b).hexdigest(): b for b in sent.values() if b}
        assert sorted(p[0] for p in payloads) == sorted(distinct)
        files = sorted(root.glob("[0-9a-f][0-9a-f]/*.json.zst"))
        assert [f.name.removesuffix(".json.zst") for f in files] == sorted(distinct)
        for sha, size, stored in payloads:
            assert size == len(distinct[sha])
            assert stored == payload_store.path_for(root, sha).stat().st_size
            assert payload_store.read(root, sha) == distinct[sha]
        assert not list(root.rglob("*.tmp")), "no temporary file is left behind"


@archive_examples
@given(bodies=st.lists(st.binary(min_size=1, max_size=500), min_size=1, max_size=8))
def test_archiving_the_same_bodies_in_a_later_run_adds_no_payload(bodies: list[bytes]) -> None:
    with fresh_archive() as conn:
        with ArchiveWriter.on(conn, "run-1") as first:
            first.write([_page(n, b) for n, b in enumerate(bodies, start=1)])
        with ArchiveWriter.on(conn, "run-2") as second:
            written = second.write(
                [_page(n, b) for n, b in enumerate(bodies, start=len(bodies) + 1)]
            )
        count = conn.execute("SELECT count(*) FROM raw.payloads").fetchone()[0]
    assert written.payload_bytes == written.stored_bytes == 0
    assert count == len(set(bodies))


@settings(deadline=None)  # each put fsyncs: timing depends on the disk, not the code
@given(body=st.binary(max_size=5_000))
def test_the_store_round_trips_any_bytes_and_writes_a_body_once(body: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        store = payload_store.PayloadStore(Path(tmp))
        sha = hashlib.sha256(body).hexdigest()
        size = store.put(sha, body)
        path = payload_store.path_for(Path(tmp), sha)
        mtime = path.stat().st_mtime_ns
        assert store.put(sha, body) == size == path.stat().st_size
        assert path.stat().st_mtime_ns == mtime, "an existing body is not rewritten"
        assert path.parent.name == sha[:2]
        assert payload_store.read(Path(tmp), sha) == body


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)


@archive_examples
@given(documents=st.lists(st.dictionaries(st.text(max_size=8), json_values), max_size=4))
def test_json_bodies_read_back_through_sql_unchanged(documents: list[dict]) -> None:
    bodies = [json.dumps(d, ensure_ascii=False).encode() for d in documents]
    with fresh_archive() as conn:
        with ArchiveWriter.on(conn, "run-1") as writer:
            writer.write([_page(n, b) for n, b in enumerate(bodies, start=1)])
        rows = conn.execute("SELECT payload_sha256, payload FROM raw.payload_json").fetchall()
    read_back = {sha: json.loads(payload) for sha, payload in rows}
    assert read_back == {hashlib.sha256(b).hexdigest(): json.loads(b) for b in bodies}
