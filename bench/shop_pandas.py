"""The pandas baseline of the shop benchmark: landing files to silver Parquet, written the
straightforward way, in one process, one source at a time.

Run as `python -m bench.shop_pandas <landing root> <output dir> [gold]`; prints, on its
last line, each source's counts as JSON (rows parsed, malformed lines, silver rows,
quarantined rows) so the benchmark can check them against the platform's warehouse. With
`gold` it goes on to gold (bench/shop_gold_pandas.py) and adds gold's counts.

What it does, per source, in the order bronze takes the files (oldest first, then by path):
- JSON lines: `json.loads` per line; a line that does not parse, or is not an object, is
  malformed (kept with file, line and text). CSV: Python's `csv` reader, a row whose field
  count differs from the header's is malformed. (`pd.read_csv` cannot be used as is:
  pandas pads a row with a field too few, so it would load as a row with a null instead
  of being counted as malformed; the bronze reader rejects it.)
- every value kept as text, with its provenance (file, file order, line); fields outside
  the declared columns go to `_rescued_data` (JSON), as bronze's `rescue` mode does;
- for the four fact sources, silver: each column typed from its landed text (the first
  of its landed names present; empty text is missing), the model YAML's DROP rules
  evaluated (completeness, range, allowed_values, regex, and the `*_parses` expressions:
  the typed value is null while the landed text is not), failing rows to the quarantine
  with their first failing rule, the rest deduplicated by event_id (the first by file
  order, then line), `event_date` from the event's own timestamp (UTC);
- Parquet: `silver/<model>.parquet`, `quarantine/<source>.parquet`,
  `malformed/<source>.parquet`, and the change feeds (no silver model) as
  `bronze/<source>.parquet`.

The rules, column types and landed names are read from the dbt model YAML and the landing
config (`conf/base/shop/sources.yml`) the platform reads, so both sides cannot drift; a
DROP rule this reader does not understand stops it. WARN rules are not evaluated (they
count rows, they never move one). Decimals are kept as floats rounded to the declared
scale. Not reproduced: the ledger (file hashes, exactly-once), the expectation log,
dbt's tests.
"""

from __future__ import annotations

import csv
import gzip
import json
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import numpy as np
import pandas as pd
import yaml

from project.settings import PROJECT_ROOT

SOURCES_FILE = PROJECT_ROOT / "conf" / "base" / "shop" / "sources.yml"
SILVER_DIR = PROJECT_ROOT / "dbt_project" / "models" / "silver" / "shop"
PROVENANCE = ["_rescued_data", "_source_file", "_file_version", "_line", "_batch"]
# `<column> is not null or landed.<column> is null`: the value cast when it landed
_PARSES = re.compile(r"^\s*(\w+)\s+is\s+not\s+null\s+or\s+landed\.(\w+)\s+is\s+null\s*$", re.I)
_DECIMAL = re.compile(r"^decimal\((\d+),\s*(\d+)\)$", re.I)
# the change feeds' expressions: `landed.seq is null or (seq is not null and
# regexp_full_match(landed.seq, '[0-9]+'))`, `op = 'delete' or price is not null`, `... >= 0`
_WHOLE = re.compile(
    r"^\s*landed\.(\w+)\s+is\s+null\s+or\s+\(\s*(\w+)\s+is\s+not\s+null\s+and\s+"
    r"regexp_full_match\(\s*landed\.\w+\s*,\s*'([^']*)'\s*\)\s*\)\s*$",
    re.I,
)
_UNLESS_DELETE = re.compile(
    r"^\s*op\s*=\s*'delete'\s+or\s+(\w+)\s+(is\s+not\s+null|>=\s*0)\s*$", re.I
)
_BOOLEANS = {"true": True, "t": True, "1": True, "false": False, "f": False, "0": False}


@dataclass
class Source:
    name: str
    format: str
    columns: list[str]


@dataclass
class Silver:
    """A silver model as its YAML declares it."""

    model: str
    source: str
    event_time: str | None
    typed: dict[str, tuple[str, list[str]]]  # column -> (type, landed names)
    drops: list[dict[str, Any]] = field(default_factory=list)


def load_sources() -> dict[str, Source]:
    config = yaml.safe_load(SOURCES_FILE.read_text())
    return {
        name: Source(name, spec["format"], list(spec["columns"]))
        for name, spec in config["sources"].items()
    }


def load_silver(directory: Path = SILVER_DIR) -> dict[str, Silver]:
    """Silver models by source, from `config.meta` of the model YAML in `directory` (the
    facts'; the change feeds' are in its `changes/`)."""
    found: dict[str, Silver] = {}
    for path in sorted(directory.glob("*.yml")):
        for model in (yaml.safe_load(path.read_text()) or {}).get("models", []):
            meta = (model.get("config") or {}).get("meta") or {}
            if "shop" not in meta:
                continue
            shop = meta["shop"]
            typed = {}
            for column, declared in shop["columns"].items():
                if isinstance(declared, dict):
                    typed[column] = (declared["type"], [column, *declared.get("landed_as", [])])
                else:
                    typed[column] = (declared, [column])
            drops = [e for e in meta.get("expectations", []) if e.get("action") == "drop"]
            silver = Silver(model["name"], shop["source"], shop.get("event_time"), typed, drops)
            found[silver.source] = silver
    return found


# --- reading landing files: every value as text, with its line --------------------------------


def _open(path: Path) -> TextIO:
    if path.name.endswith(".gz"):
        return gzip.open(path, "rt", encoding="utf-8", newline="")
    return path.open(encoding="utf-8", newline="")


def _text(value: Any) -> str | None:
    """A JSON value as bronze keeps it: strings as they are, anything else as JSON text."""
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value)


def read_jsonl(path: Path) -> tuple[pd.DataFrame, list[tuple[int, str, str]]]:
    records, lines, bad = [], [], []
    with _open(path) as handle:
        for number, raw in enumerate(handle, start=1):
            line = raw.rstrip("\r\n")
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except ValueError:
                bad.append((number, line, "malformed JSON"))
                continue
            if not isinstance(record, dict):
                bad.append((number, line, "not a JSON object"))
                continue
            records.append({k: _text(v) for k, v in record.items()})
            lines.append(number)
    frame = pd.DataFrame.from_records(records) if records else pd.DataFrame()
    frame["_line"] = np.asarray(lines, dtype=np.int64)
    return frame, bad


def read_csv(path: Path) -> tuple[pd.DataFrame, list[tuple[int, str, str]]]:
    rows, lines, bad = [], [], []
    with _open(path) as handle:
        reader = csv.reader(handle)
        header = [name.strip().lstrip("\ufeff") for name in next(reader, [])]
        for row in reader:
            if not row:
                continue
            if len(row) != len(header):
                error = f"expected {len(header)} fields, saw {len(row)}"
                bad.append((reader.line_num, ",".join(row), error))
                continue
            rows.append(row)
            lines.append(reader.line_num)
    frame = pd.DataFrame(rows, columns=header, dtype="str")
    frame["_line"] = np.asarray(lines, dtype=np.int64)
    return frame, bad


def landed_files(root: Path, source: Source) -> list[Path]:
    """The source's files in bronze's order: oldest first, then by path."""
    folder = root / source.name
    suffixes = (f".{source.format}", f".{source.format}.gz")
    files = [
        p
        for p in folder.rglob("*")
        if p.is_file() and p.name.endswith(suffixes) and not p.name.startswith((".", "_"))
    ]
    return sorted(files, key=lambda p: (p.stat().st_mtime_ns, p.relative_to(root).as_posix()))


def read_source(root: Path, source: Source) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(rows as text with provenance, malformed lines) of every file of the source."""
    frames, malformed = [], []
    for order, path in enumerate(landed_files(root, source), start=1):
        relative = path.relative_to(root).as_posix()
        frame, bad = (read_jsonl if source.format == "jsonl" else read_csv)(path)
        frame["_source_file"] = relative
        frame["_file_version"] = 1
        frame["_batch"] = order
        frames.append(frame)
        malformed += [(source.name, relative, line, text, error) for line, text, error in bad]
    rows = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    for column in source.columns:
        if column not in rows.columns:
            rows[column] = pd.Series(pd.NA, index=rows.index, dtype="str")
    unknown = [c for c in rows.columns if c not in source.columns and c not in PROVENANCE]
    rows["_rescued_data"] = _rescued(rows, unknown)
    bad = pd.DataFrame(malformed, columns=["source", "source_file", "line", "raw", "error"])
    return rows, bad


def _rescued(rows: pd.DataFrame, unknown: list[str]) -> pd.Series:
    """A JSON object of the row's non-null unknown fields, or null."""
    rescued = pd.Series(None, index=rows.index, dtype="str")
    if not unknown:
        return rescued
    present = rows[unknown].notna().any(axis=1)
    rescued[present] = [
        json.dumps({k: v for k, v in record.items() if isinstance(v, str)})
        for record in rows.loc[present, unknown].to_dict("records")
    ]
    return rescued


# --- silver: typed, checked, deduplicated ----------------------------------------------------


def landed_text(rows: pd.DataFrame, names: list[str]) -> pd.Series:
    """The first of the landed names present in the row; empty text is missing."""
    text = pd.Series(pd.NA, index=rows.index, dtype="str")
    for name in names:
        if name in rows.columns:
            text = text.fillna(rows[name])
    return text.mask(text == "")


def typed_value(text: pd.Series, kind: str) -> pd.Series:
    """The value cast from its text; what does not cast is null."""
    kind = kind.strip().lower()
    if kind in ("varchar", "text", "string"):
        return text
    if kind == "boolean":
        return text.str.strip().str.lower().map(_BOOLEANS).astype("boolean")
    if kind == "timestamptz":
        return pd.to_datetime(text, utc=True, errors="coerce", format="ISO8601")
    if kind in ("integer", "int", "bigint"):
        number = pd.to_numeric(text, errors="coerce")
        limit = 2**31 if kind != "bigint" else 2**63
        number = number.where(np.isfinite(number) & (number.abs() < limit))
        return number.round().astype("Int64")
    if match := _DECIMAL.match(kind.replace(" ", "")):
        precision, scale = int(match.group(1)), int(match.group(2))
        number = pd.to_numeric(text, errors="coerce").round(scale)
        return number.where(np.isfinite(number) & (number.abs() < 10 ** (precision - scale)))
    raise ValueError(f"type {kind!r}: not known to the pandas baseline")


def fails(rule: dict[str, Any], typed: pd.DataFrame, landed: pd.DataFrame) -> pd.Series:
    """True where a row fails `rule` (a NULL passes every rule but completeness)."""
    kind, column = rule["rule"], rule.get("column")
    if kind == "completeness":
        return typed[column].isna()
    if kind == "range":
        value, failed = typed[column], pd.Series(False, index=typed.index)
        if rule.get("min") is not None:
            failed |= (value < rule["min"]).fillna(False)
        if rule.get("max") is not None:
            failed |= (value > rule["max"]).fillna(False)
        return failed
    if kind == "allowed_values":
        value = typed[column]
        return value.notna() & ~value.isin(rule["values"])
    if kind == "regex":
        text = landed[column]
        return text.notna() & ~text.str.fullmatch(rule["pattern"]).fillna(True)
    if kind == "expression" and (match := _PARSES.match(rule["expression"])):
        typed_name, landed_name = match.groups()
        return typed[typed_name].isna() & landed[landed_name].notna()
    if kind == "expression" and (match := _WHOLE.match(rule["expression"])):
        landed_name, typed_name, pattern = match.groups()
        text = landed[landed_name]
        whole = text.str.fullmatch(pattern).fillna(False).astype(bool)
        return text.notna() & (typed[typed_name].isna() | ~whole)
    if kind == "expression" and (match := _UNLESS_DELETE.match(rule["expression"])):
        column, test = match.groups()
        upsert = (typed["op"] != "delete").fillna(True).astype(bool)  # NULL op: not a delete
        if test.startswith(">="):  # NULL >= 0 is NULL: the row passes
            return upsert & (typed[column] < 0).fillna(False).astype(bool)
        return upsert & typed[column].isna()
    raise ValueError(f"drop rule {rule.get('name')!r} ({kind}): not known to the pandas baseline")


def silver_of(
    rows: pd.DataFrame, spec: Silver, key: list[str] | None = None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(silver rows, quarantined rows) of one source's landed rows; one row per `key`
    (default `event_id`), the first by file order, then line."""
    landed = pd.DataFrame(
        {name: landed_text(rows, names) for name, (_, names) in spec.typed.items()}
    )
    typed = pd.DataFrame(
        {name: typed_value(landed[name], kind) for name, (kind, _) in spec.typed.items()}
    )
    first_rule = pd.Series(None, index=rows.index, dtype="str")
    for rule in spec.drops:
        failed = fails(rule, typed, landed) & first_rule.isna()
        first_rule[failed] = rule["name"]
    dropped = first_rule.notna()

    if spec.event_time:
        typed["event_date"] = typed[spec.event_time].dt.date
    for column in PROVENANCE:
        typed[column] = rows[column]
    silver = typed[~dropped].drop_duplicates(key or ["event_id"], keep="first")

    landed_columns = [c for c in rows.columns if c not in PROVENANCE] + ["_rescued_data"]
    quarantine = rows.loc[dropped, ["_source_file", "_file_version", "_line", "_batch"]].copy()
    quarantine.insert(0, "rule", first_rule[dropped])
    quarantine.insert(0, "source", spec.source)
    if "event_id" in rows.columns:
        quarantine["event_id"] = rows.loc[dropped, "event_id"]
    as_landed = rows.loc[dropped, landed_columns]
    records = as_landed.astype(object).where(as_landed.notna()).to_dict("records")
    quarantine["record"] = [json.dumps(r) for r in records]
    return silver, quarantine


def _write(frame: pd.DataFrame, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_parquet(path, index=False, compression="zstd")


def run(root: Path, out: Path, gold: bool = False) -> dict[str, dict[str, int]]:
    """Landing to silver Parquet; with `gold`, on to gold (bench/shop_gold_pandas.py), the
    silver frames kept in memory for it. Counts per source (and gold's under "gold")."""
    counts: dict[str, dict[str, int]] = {}
    silver_specs = load_silver()
    kept: dict[str, pd.DataFrame] = {}  # silver frames (facts) and landed rows (feeds)
    for name, source in load_sources().items():
        rows, malformed = read_source(root, source)
        counts[name] = {"bronze": len(rows), "malformed": len(malformed)}
        _write(malformed, out / "malformed" / f"{name}.parquet")
        spec = silver_specs.get(name)
        if spec is None:  # a change feed: landed as text here; gold types and applies it
            _write(rows[[*source.columns, *PROVENANCE]], out / "bronze" / f"{name}.parquet")
            if gold:
                kept[name] = rows
            continue
        silver, quarantine = silver_of(rows, spec)
        _write(silver, out / "silver" / f"{spec.model}.parquet")
        _write(quarantine, out / "quarantine" / f"{name}.parquet")
        counts[name] |= {"silver": len(silver), "quarantine": len(quarantine)}
        if gold:
            kept[spec.model] = silver
        del rows, silver, quarantine
    if gold:
        from bench.shop_gold_pandas import build_gold  # it imports this module

        counts["gold"] = build_gold(kept, out)
    return counts


def _lines(counts: dict[str, dict[str, int]]) -> Iterator[str]:
    for name, c in counts.items():
        yield f"{name}: " + ", ".join(
            f"{k} {v:,}" if isinstance(v, int) else f"{k} {v}" for k, v in c.items()
        )


if __name__ == "__main__":
    result = run(Path(sys.argv[1]), Path(sys.argv[2]), gold=sys.argv[3:] == ["gold"])
    print("\n".join(_lines(result)), file=sys.stderr)
    print(json.dumps(result))
