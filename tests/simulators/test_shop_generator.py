"""The shop data generator: deterministic landing files that honour the shop contract,
continue across batches, and carry exactly the faults its manifest lists.

The files are read back here with `csv`/`json` and DuckDB, independently of the
generator's own rendering, so a test checks the files as bronze will see them.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pytest

from project.simulators.shop import (
    FACTS,
    FEEDS,
    SOURCES,
    Fault,
    GeneratedBatch,
    ShopSpec,
    generate,
    parse_fault,
    summary,
)
from project.simulators.shop.__main__ import main

ORDER_STATUSES = {"placed", "paid", "shipped", "delivered", "cancelled"}
PAYMENT_STATUSES = {"approved", "declined", "refunded"}
EVENT_TYPES = {"page_view", "product_view", "add_to_cart", "checkout", "purchase"}
ALLOWED = {
    ("orders", "status"): ORDER_STATUSES,
    ("payments", "status"): PAYMENT_STATUSES,
    ("web_events", "event_type"): EVENT_TYPES,
}
CLEAN = ShopSpec(orders=300, seed=11, batch=1, files_per_source=2, customer_changes=80)
EVERY_FAULT = {
    Fault.NULLS: 0.04,
    Fault.NEGATIVE_PRICES: 0.04,
    Fault.UNKNOWN_STATUS: 0.04,
    Fault.MALFORMED_LINES: 0.04,
    Fault.EXTRA_COLUMN: 0.04,
    Fault.RENAMED_COLUMN: 0.5,
    Fault.DUPLICATES: 0.04,
    Fault.LATE: 0.04,
    Fault.OUT_OF_ORDER: 0.3,
}
FAULTY = ShopSpec(
    orders=400,
    seed=5,
    batch=1,
    files_per_source=3,  # over two days: the third file's day is the second day
    days=2,
    chunk_orders=64,  # several chunks per file
    faults=EVERY_FAULT,
    customer_changes=150,
    products=60,
    product_changes=120,
)


@pytest.fixture(scope="module")
def clean(tmp_path_factory: pytest.TempPathFactory) -> GeneratedBatch:
    return generate(tmp_path_factory.mktemp("clean"), CLEAN)


@pytest.fixture(scope="module")
def faulty(tmp_path_factory: pytest.TempPathFactory) -> GeneratedBatch:
    return generate(tmp_path_factory.mktemp("faulty"), FAULTY)


# -- reading the files back ------------------------------------------------------------


def _text(path: Path) -> str:
    data = path.read_bytes()
    return (gzip.decompress(data) if path.suffix == ".gz" else data).decode()


def _lines(batch: GeneratedBatch, source: str) -> list[tuple[str, int, dict[str, Any] | None]]:
    """(file, line, record or None if malformed) for every data line, in delivery order."""
    out = []
    for path in batch.files[source]:
        relative = path.relative_to(batch.root).as_posix()
        raw = _text(path).splitlines()
        if SOURCES[source].format == "csv":
            header = raw[0].split(",")
            for number, row in enumerate(csv.reader(io.StringIO("\n".join(raw[1:]))), start=2):
                record = dict(zip(header, row, strict=True)) if len(row) == len(header) else None
                if record is not None and "price" in record:  # renamed_column: back to its name
                    record["unit_price"] = record.pop("price")
                out.append((relative, number, record))
        else:
            for number, line in enumerate(raw, start=1):
                try:
                    record = json.loads(line)
                except json.JSONDecodeError:
                    record = None
                out.append((relative, number, record))
    return out


def _records(batch: GeneratedBatch, source: str) -> list[dict[str, Any]]:
    return [r for _, _, r in _lines(batch, source) if r is not None]


def _at(batch: GeneratedBatch, source: str) -> dict[tuple[str, int], dict[str, Any] | None]:
    return {(f, n): r for f, n, r in _lines(batch, source)}


def _id(source: str, record: dict[str, Any]) -> str:
    s = SOURCES[source]
    return f"{record[s.key]}:{record['seq']}" if s.change_feed else record["event_id"]


def _empty(value: Any) -> bool:
    return value is None or value == ""


def _entries(batch: GeneratedBatch, fault: Fault, source: str) -> list[dict[str, Any]]:
    return batch.faults.get(str(fault), {}).get(source, {}).get("rows", [])


def _where(batch: GeneratedBatch, fault: Fault, source: str) -> set[tuple[str, int]]:
    return {(e["file"], e["line"]) for e in _entries(batch, fault, source)}


def _tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


# -- determinism and layout ------------------------------------------------------------


def test_same_seed_and_arguments_land_byte_identical_files(tmp_path: Path) -> None:
    spec = ShopSpec(orders=120, seed=3, gzip=True, files_per_source=2, faults=EVERY_FAULT)
    generate(tmp_path / "a", spec)
    generate(tmp_path / "b", spec)
    a, b = _tree(tmp_path / "a"), _tree(tmp_path / "b")
    assert a.keys() == b.keys()
    assert [name for name in a if a[name] != b[name]] == []


def test_another_seed_lands_other_data(tmp_path: Path) -> None:
    one = generate(tmp_path / "a", ShopSpec(orders=50, seed=1))
    two = generate(tmp_path / "b", ShopSpec(orders=50, seed=2))
    assert one.files["orders"][0].read_bytes() != two.files["orders"][0].read_bytes()


def test_files_follow_the_contract_layout(clean: GeneratedBatch) -> None:
    for source in SOURCES:
        names = [p.relative_to(clean.root).as_posix() for p in clean.files[source]]
        ext = SOURCES[source].format
        assert names == [f"{source}/part-00001-{k:03d}.{ext}" for k in range(2)]
    assert clean.manifest == clean.root / "_manifest" / "batch-00001.json"


def test_records_carry_the_contract_columns(clean: GeneratedBatch) -> None:
    for source, spec in SOURCES.items():
        records = _records(clean, source)
        assert records
        assert {tuple(r) for r in records} == {spec.columns}


def test_values_are_formatted_as_the_contract_says(clean: GeneratedBatch) -> None:
    orders = _records(clean, "orders")
    order = orders[0]
    assert order["order_id"].startswith("O")
    assert len(order["order_id"]) == 9
    assert order["customer_id"].startswith("C")
    assert len(order["customer_id"]) == 7
    assert order["session_id"].startswith("S")
    assert len(order["session_id"]) == 8
    assert order["event_id"].startswith("oe-1-")
    assert datetime.strptime(order["order_ts"], "%Y-%m-%dT%H:%M:%SZ")
    assert {o["status"] for o in orders} <= ORDER_STATUSES
    assert {o["currency"] for o in orders} == {"BRL"}
    for item in _records(clean, "order_items"):
        whole, cents = item["unit_price"].split(".")
        assert whole.isdigit()
        assert len(cents) == 2
    payments = _records(clean, "payments")
    assert {p["status"] for p in payments} <= PAYMENT_STATUSES
    assert {p["method"] for p in payments} <= {"card", "pix", "boleto"}
    assert {e["event_type"] for e in _records(clean, "web_events")} == EVENT_TYPES


def test_event_ids_are_unique_without_duplicates_requested(clean: GeneratedBatch) -> None:
    for source in FACTS:
        ids = [r["event_id"] for r in _records(clean, source)]
        assert len(ids) == len(set(ids)), source


# -- counts ----------------------------------------------------------------------------


def test_rows_match_the_lines_in_the_files(faulty: GeneratedBatch) -> None:
    for source in SOURCES:
        assert faulty.rows[source] == len(_lines(faulty, source)), source
    recorded = json.loads(faulty.manifest.read_text())
    assert recorded["rows"] == faulty.rows


def test_volumes_per_order_are_those_of_a_shop(clean: GeneratedBatch) -> None:
    orders = clean.rows["orders"]
    assert orders == CLEAN.orders
    assert 1.7 < clean.rows["order_items"] / orders < 2.3
    assert 0.95 < clean.rows["payments"] / orders < 1.2
    assert 2.0 < clean.rows["web_events"] / orders < 3.0
    assert clean.events == sum(clean.rows[s] for s in FACTS)
    volumes = CLEAN.volumes(first=True)
    inserted = Counter(r["op"] for r in _records(clean, "customers"))["insert"]
    assert inserted == volumes["customers"]


# -- referential integrity -------------------------------------------------------------


def test_items_and_payments_reference_orders_of_the_batch(clean: GeneratedBatch) -> None:
    orders = {o["order_id"] for o in _records(clean, "orders")}
    items = _records(clean, "order_items")
    assert {i["order_id"] for i in items} == orders  # every order has at least one item
    assert {p["order_id"] for p in _records(clean, "payments")} <= orders
    lines = Counter(i["order_id"] for i in items)
    numbers = {(i["order_id"], int(i["line_no"])) for i in items}
    assert all((o, n) in numbers for o, count in lines.items() for n in range(1, count + 1))


def test_every_order_ends_its_session_with_a_purchase(clean: GeneratedBatch) -> None:
    events = _records(clean, "web_events")
    purchases = {(e["session_id"], e["event_ts"]) for e in events if e["event_type"] == "purchase"}
    orders = _records(clean, "orders")
    assert {(o["session_id"], o["order_ts"]) for o in orders} == purchases
    sessions = {e["session_id"] for e in events}
    assert len(sessions) > len(orders)  # browsing sessions without an order too


def test_orders_reference_customers_alive_at_order_time(clean: GeneratedBatch) -> None:
    history: dict[str, list[tuple[str, str]]] = {}
    for change in _records(clean, "customers"):
        history.setdefault(change["customer_id"], []).append((change["changed_at"], change["op"]))
    for order in _records(clean, "orders"):
        changes = sorted(history[order["customer_id"]])
        assert changes[0][1] == "insert"
        assert changes[0][0] <= order["order_ts"]
        assert not any(op == "delete" and at <= order["order_ts"] for at, op in changes)


def test_items_reference_products_active_at_order_time(clean: GeneratedBatch) -> None:
    history: dict[str, list[dict[str, Any]]] = {}
    for change in _records(clean, "products"):
        history.setdefault(change["product_id"], []).append(change)
    ordered_at = {o["order_id"]: o["order_ts"] for o in _records(clean, "orders")}
    for item in _records(clean, "order_items"):
        at = ordered_at[item["order_id"]]
        known = [c for c in history[item["product_id"]] if c["changed_at"] <= at]
        latest = max(known, key=lambda c: c["seq"])
        assert latest["op"] != "delete"
        assert latest["active"] is True
        assert latest["price"] == item["unit_price"]


def test_payments_charge_the_order_total(clean: GeneratedBatch) -> None:
    totals: Counter[str] = Counter()
    for item in _records(clean, "order_items"):
        cents = round(float(item["unit_price"]) * 100)
        totals[item["order_id"]] += int(item["quantity"]) * cents
    for payment in _records(clean, "payments"):
        assert round(float(payment["amount"]) * 100) == totals[payment["order_id"]]


# -- change feeds ----------------------------------------------------------------------


def test_change_feeds_number_each_key_in_time_order(clean: GeneratedBatch) -> None:
    for source in FEEDS:
        key = SOURCES[source].key
        by_key: dict[str, list[dict[str, Any]]] = {}
        for change in _records(clean, source):
            by_key.setdefault(change[key], []).append(change)
        for changes in by_key.values():
            assert [c["seq"] for c in changes] == list(range(1, len(changes) + 1))
            assert [c["changed_at"] for c in changes] == sorted(c["changed_at"] for c in changes)
            assert changes[0]["op"] == "insert"
            assert all(c["op"] != "delete" for c in changes[:-1])


def test_customer_updates_change_tracked_fields(clean: GeneratedBatch) -> None:
    tracked = ("name", "email", "city", "state", "segment")
    previous: dict[str, dict[str, Any]] = {}
    changed: Counter[str] = Counter()
    for change in _records(clean, "customers"):
        before = previous.get(change["customer_id"])
        if change["op"] == "update":
            diff = [f for f in tracked if change[f] != before[f]]
            assert diff
            assert "state" not in diff or "city" in diff  # a state changes with its city
            changed.update(diff)
        previous[change["customer_id"]] = change
    assert {"name", "email", "city", "segment"} <= set(changed)


def test_next_batch_continues_ids_sessions_and_seqs(tmp_path: Path) -> None:
    first = generate(tmp_path, ShopSpec(orders=200, seed=4, batch=1))
    second = generate(tmp_path, ShopSpec(orders=200, seed=4, batch=2))
    assert second.start == first.end
    assert [p.name for p in second.files["orders"]] == ["part-00002-000.jsonl"]
    assert all(p.exists() for p in first.files["orders"])
    for source, key in (("orders", "order_id"), ("payments", "payment_id")):
        before = max(r[key] for r in _records(first, source))
        assert min(r[key] for r in _records(second, source)) > before
    sessions = {r["session_id"] for r in _records(first, "web_events")}
    assert not sessions & {r["session_id"] for r in _records(second, "web_events")}
    assert _records(second, "orders")[0]["event_id"].startswith("oe-2-")
    last_seq: dict[str, int] = {}
    for change in _records(first, "customers"):
        last_seq[change["customer_id"]] = change["seq"]
    continued = [c for c in _records(second, "customers") if c["customer_id"] in last_seq]
    assert continued
    for change in continued:
        assert change["op"] != "insert"
        assert change["seq"] > last_seq[change["customer_id"]]
        last_seq[change["customer_id"]] = change["seq"]
    ordering = {c["customer_id"] for c in _records(first, "customers")}
    assert ordering & {o["customer_id"] for o in _records(second, "orders")}


def test_a_batch_is_never_landed_twice(tmp_path: Path) -> None:
    generate(tmp_path, ShopSpec(orders=20, batch=3))
    with pytest.raises(ValueError, match="batch 3"):
        generate(tmp_path, ShopSpec(orders=20, batch=3))
    generate(tmp_path / "other", ShopSpec(orders=20, batch=1, write_manifest=False))
    with pytest.raises(FileExistsError):
        generate(tmp_path / "other", ShopSpec(orders=20, batch=1, write_manifest=False))


# -- readers ---------------------------------------------------------------------------


def test_gzip_files_read_back_in_duckdb(tmp_path: Path) -> None:
    batch = generate(tmp_path, ShopSpec(orders=80, seed=9, gzip=True))
    for source in SOURCES:
        (path,) = batch.files[source]
        assert path.name.endswith(".gz")
        assert gzip.decompress(path.read_bytes())
        read = duckdb.read_csv if SOURCES[source].format == "csv" else duckdb.read_json
        assert read(str(path)).shape[0] == batch.rows[source]


def test_duckdb_reads_every_line_but_the_malformed_ones(faulty: GeneratedBatch) -> None:
    for source, spec in SOURCES.items():
        malformed = faulty.faults["malformed_lines"][source]["count"]
        for path in faulty.files[source]:
            if spec.format == "csv":
                table = duckdb.read_csv(str(path), all_varchar=True, ignore_errors=True)
                read = table.shape[0]
            else:
                # A line DuckDB cannot parse comes back as a row of NULLs.
                table = duckdb.read_json(str(path), format="newline_delimited", ignore_errors=True)
                read = table.aggregate(f"count({spec.key})").fetchone()[0]
            malformed -= _lines_in(path, faulty) - read
        assert malformed == 0, source


def _lines_in(path: Path, batch: GeneratedBatch) -> int:
    source = path.parent.name
    return sum(1 for f, _, _ in _lines(batch, source) if batch.root / f == path)


# -- faults: each one present, and exactly where the manifest says ---------------------


def test_every_requested_fault_hits_every_source_it_applies_to(faulty: GeneratedBatch) -> None:
    for fault in Fault:
        expected = {s for s, spec in SOURCES.items() if spec.supports(fault)}
        hit = {s for s, entry in faulty.faults[str(fault)].items() if entry["count"] > 0}
        assert hit == expected, fault


def test_manifest_on_disk_is_what_generate_returned(faulty: GeneratedBatch) -> None:
    recorded = json.loads(faulty.manifest.read_text())
    assert recorded["faults"] == faulty.faults
    assert recorded["spec"]["faults"] == {str(f): r for f, r in EVERY_FAULT.items()}


def test_nulls_are_exactly_the_listed_ones(faulty: GeneratedBatch) -> None:
    for source, spec in SOURCES.items():
        found = {
            (f, n)
            for f, n, r in _lines(faulty, source)
            if r is not None and any(_empty(r.get(c)) for c in spec.required)
        }
        assert found == _where(faulty, Fault.NULLS, source), source
        at = _at(faulty, source)
        for entry in _entries(faulty, Fault.NULLS, source):
            assert _empty(at[entry["file"], entry["line"]][entry["column"]])


def test_negative_prices_are_exactly_the_listed_ones(faulty: GeneratedBatch) -> None:
    for source, spec in SOURCES.items():
        if spec.price is None:
            continue
        found = set()
        for f, n, r in _lines(faulty, source):
            price = None if r is None else r.get(spec.price, r.get("price"))
            if price and price.startswith("-"):
                found.add((f, n))
        assert found == _where(faulty, Fault.NEGATIVE_PRICES, source), source


def test_unknown_statuses_are_exactly_the_listed_ones(faulty: GeneratedBatch) -> None:
    for (source, column), allowed in ALLOWED.items():
        found = {
            (f, n)
            for f, n, r in _lines(faulty, source)
            if r is not None and not _empty(r[column]) and r[column] not in allowed
        }
        assert found == _where(faulty, Fault.UNKNOWN_STATUS, source), source
        at = _at(faulty, source)
        for entry in _entries(faulty, Fault.UNKNOWN_STATUS, source):
            assert at[entry["file"], entry["line"]][column] == entry["value"]


def test_malformed_lines_are_exactly_the_listed_ones(faulty: GeneratedBatch) -> None:
    for source in SOURCES:
        found = {(f, n) for f, n, r in _lines(faulty, source) if r is None}
        assert found == _where(faulty, Fault.MALFORMED_LINES, source), source


def _file_day(batch: GeneratedBatch, file: str) -> datetime:
    """The day a file's time slice starts (`part-<batch>-<k>`: slice k of the window)."""
    k = int(Path(file).name.split(".")[0].split("-")[2])
    share = (batch.end - batch.start) * k / FAULTY.files_per_source
    return (batch.start + share).replace(hour=0, minute=0, second=0)


def test_late_events_are_days_before_the_files_day(faulty: GeneratedBatch) -> None:
    assert _file_day(faulty, "orders/part-00001-002.jsonl") > faulty.start
    for source, spec in SOURCES.items():
        if spec.time is None:
            continue
        found = set()
        for f, n, r in _lines(faulty, source):
            if r is not None and not _empty(r[spec.time]):
                day = _file_day(faulty, f).strftime("%Y-%m-%dT%H:%M:%SZ")
                if r[spec.time] < day:
                    found.add((f, n))
        # A duplicate landed in the next file keeps its original's time, a day earlier
        # than that file's when the slices cross midnight: a redelivery, not a late event.
        found -= _where(faulty, Fault.DUPLICATES, source)
        assert found == _where(faulty, Fault.LATE, source), source
        for entry in _entries(faulty, Fault.LATE, source):
            late = datetime.strptime(entry["value"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
            before = (_file_day(faulty, entry["file"]) - late).total_seconds()
            assert 0 < before <= 3 * 86_400


def test_duplicates_repeat_a_record_with_its_id(faulty: GeneratedBatch) -> None:
    for source in SOURCES:
        at = _at(faulty, source)
        entries = _entries(faulty, Fault.DUPLICATES, source)
        for entry in entries:
            copy, original = (
                at[entry["file"], entry["line"]],
                at[entry["original_file"], entry["original_line"]],
            )
            assert _id(source, copy) == _id(source, original) == entry["id"]
            assert (entry["file"], entry["line"]) > (entry["original_file"], entry["original_line"])
            columns = SOURCES[source].columns
            assert [copy.get(c) for c in columns if c in copy] == [
                original.get(c) for c in columns if c in copy
            ]
        ids = Counter(_id(source, r) for r in _records(faulty, source))
        repeated = {i for i, count in ids.items() if count > 1}
        assert repeated == {e["id"] for e in entries}, source
    files = {
        (e["file"] == e["original_file"]) for e in _entries(faulty, Fault.DUPLICATES, "web_events")
    }
    assert files == {True, False}  # in the same file and in the next one


def test_extra_columns_land_as_rows_in_json_and_headers_in_csv(faulty: GeneratedBatch) -> None:
    for source, spec in SOURCES.items():
        name = spec.extra[0]
        entry = faulty.faults["extra_column"][source]
        if spec.format == "csv":
            for file in entry["files"]:
                assert _text(faulty.root / file).splitlines()[0].endswith(f",{name}")
            assert entry["count"] == sum(
                1 for f, _, _ in _lines(faulty, source) if f in entry["files"]
            )
        else:
            found = {(f, n) for f, n, r in _lines(faulty, source) if r is not None and name in r}
            assert found == _where(faulty, Fault.EXTRA_COLUMN, source), source


def test_renamed_column_lands_under_its_new_name_in_whole_files(faulty: GeneratedBatch) -> None:
    entry = faulty.faults["renamed_column"]["order_items"]
    assert (entry["column"], entry["landed_as"]) == ("unit_price", "price")
    for path in faulty.files["order_items"]:
        header = _text(path).splitlines()[0].split(",")
        renamed = path.relative_to(faulty.root).as_posix() in entry["files"]
        assert ("price" in header, "unit_price" in header) == (renamed, not renamed)


def test_out_of_order_changes_arrive_after_a_later_seq_of_their_key(faulty: GeneratedBatch) -> None:
    for source in FEEDS:
        key = SOURCES[source].key
        lines = _lines(faulty, source)
        position = {(f, n): i for i, (f, n, _) in enumerate(lines)}
        entries = _entries(faulty, Fault.OUT_OF_ORDER, source)
        assert entries
        for entry in entries:
            i = position[entry["file"], entry["line"]]
            change = lines[i][2]
            assert _id(source, change) == entry["id"]
            assert any(
                r is not None and r[key] == change[key] and r["seq"] > change["seq"]
                for _, _, r in lines[:i]
            )


# -- spec, CLI, summary ----------------------------------------------------------------


def test_spec_rejects_unknown_faults_and_rates_above_one() -> None:
    with pytest.raises(ValueError, match=r"not a valid Fault|nope"):
        ShopSpec(faults={"nope": 0.1})
    with pytest.raises(ValueError, match="sum to"):
        ShopSpec(faults={"nulls": 0.6, "late": 0.6})
    with pytest.raises(ValueError, match="orders"):
        ShopSpec(orders=-1)
    assert parse_fault("late=0.2") == (Fault.LATE, 0.2)
    with pytest.raises(ValueError, match="NAME=RATE"):
        parse_fault("lateness=0.2")


def test_summary_names_every_source_and_fault(faulty: GeneratedBatch) -> None:
    text = "\n".join(summary(faulty))
    assert all(source in text for source in SOURCES)
    assert all(f"fault {fault}" in text for fault in Fault)


def test_cli_generates_a_batch_and_prints_its_summary(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    main(
        [
            "generate",
            "--root",
            str(tmp_path),
            "--orders",
            "40",
            "--seed",
            "2",
            "--batch",
            "7",
            "--gzip",
            "--fault",
            "nulls=0.1",
            "--files-per-source",
            "2",
            "--start-date",
            "2026-11-03",
            "--days",
            "2",
            "--customers",
            "30",
            "--products",
            "12",
            "--customer-changes",
            "5",
        ]
    )
    out = capsys.readouterr().out
    assert "shop batch 7" in out
    assert "2026-11-03T00:00:00Z .. 2026-11-05T00:00:00Z" in out
    assert (tmp_path / "orders" / "part-00007-001.jsonl.gz").exists()
    recorded = json.loads((tmp_path / "_manifest" / "batch-00007.json").read_text())
    assert recorded["volumes"]["customers"] == 30
    assert recorded["rows"]["orders"] == 40
    with pytest.raises(SystemExit):
        main(["generate", "--root", str(tmp_path), "--fault", "bogus=1"])
