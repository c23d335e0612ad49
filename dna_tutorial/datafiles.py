"""Reading a user's sequences and measurements: CSV, TSV or FASTA, optionally gzipped.

Every problem is a :class:`DataFileError` naming the file, the line or record, and what
is wrong, so that the command line can print it as one line. Formats:

- **CSV / TSV** (``.csv``; ``.tsv``, ``.tab``, ``.txt``): a header row, then one sequence
  per row. The sequence and target columns are named by options (``seq`` and ``score``);
  an ``id`` column is used when present.
- **FASTA** (``.fa``, ``.fasta``, ``.fna``, ``.fas``): ``>id`` headers, sequences over one or
  more lines. The target comes from the header, as ``score=3.2`` (the target column's
  name) or as a lone value after the id (``>seq1 3.2``), or from a side table
  (``--labels``: CSV/TSV with ``id`` and target columns).

``.gz`` files are decompressed on the fly (recognised by their content, not their name).
Sequences are case-insensitive; letters other than A, C, G, T and N are refused.
"""

from __future__ import annotations

import csv
import gzip
import io
import math
import re
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dna_tutorial import memory
from dna_tutorial.dataset import TutorialData
from dna_tutorial.errors import ConfigError, DataFileError
from dna_tutorial.options import File, Int, Text, option
from dna_tutorial.recipe import min_rows_for_split, tutorial_split
from dna_tutorial.sequences import InvalidSequenceError, encode_codes
from dna_tutorial.spec import SEED, SPLIT_FRAC, UNKNOWN_BASE

FASTA_SUFFIXES = {".fa", ".fasta", ".fna", ".fas"}
TSV_SUFFIXES = {".tsv", ".tab", ".txt"}
#: The most classes ``--task classify`` accepts: a target with more distinct values is
#: almost surely a measurement to regress on, and a confusion matrix beyond this is unreadable.
MAX_CLASSES = 50


_READING = "your own data (CSV, TSV or FASTA, optionally gzipped)"


@dataclass(frozen=True)
class ReadOptions:
    """How to read a data file: :func:`read_records`'s keywords, declared as the options
    that ``run``, ``predict`` and ``explain`` share."""

    seq_col: str = option("seq", "sequence column (default 'seq')", Text(), group=_READING)
    target_col: str = option(
        "score", "target column, or the FASTA header key (default 'score')", Text(),
        group=_READING,
    )  # fmt: skip
    id_col: str = option("id", "id column, if any (default 'id')", Text(), group=_READING)
    labels: Path | None = option(
        None, "for FASTA: a CSV/TSV table of id and target columns", File(), metavar="TABLE",
        group=_READING,
    )  # fmt: skip
    pad_to: int | None = option(
        None, "pad shorter sequences with N to length L", Int(), metavar="L", group=_READING
    )
    trim_to: int | None = option(
        None, "cut longer sequences to their first L letters", Int(), metavar="L",
        group=_READING,
    )  # fmt: skip


@dataclass(frozen=True)
class Records:
    """What a data file holds, validated: one entry per sequence, in file order."""

    path: Path
    ids: list[str]
    seqs: list[str]  # uppercase, one common length
    targets: list[str | None] | None  # raw target strings (None where absent), None when no targets
    where: list[str]  # "line 7" or "record 3 (>id)", for messages


#: Memory that reading a table takes, per byte of its text and per line (the text,
#: Python's strings for each field and row, the encoded sequences). Measured: 2.1 GB for
#: 50 MB of 2.2 million short rows; 6 GB for one line of 1 GB.
TEXT_FACTOR, LINE_BYTES = 8, 1_000
#: Decompressed in pieces of this many bytes, so that a gzip bomb is caught early.
_PIECE = 16 * 2**20
_CSV_FIELD_LIMIT = csv.field_size_limit()


def _reading_fits(path: Path, size: int, lines: int) -> None:
    try:
        memory.refuse_unless_fits(
            {
                f"{size / 1e6:,.0f} MB of text in {lines:,} lines": TEXT_FACTOR * size
                + LINE_BYTES * lines
            },
            "split the file, or keep fewer rows",
            what="reading it",
        )
    except ConfigError as err:
        raise DataFileError(f"{path}: {err}") from None


def _read_text(path: Path) -> str:
    """The file's text (gunzipped if it is a gzip file), refused if reading it would not
    fit in memory, which is checked as it is decompressed."""
    try:
        with open(path, "rb") as f:
            gzipped = f.read(2) == b"\x1f\x8b"
            f.seek(0)
            if not gzipped:
                raw = f.read()
                _reading_fits(path, len(raw), raw.count(b"\n"))
            else:
                pieces, size, lines = [], 0, 0
                with gzip.GzipFile(fileobj=f) as unzipped:
                    while piece := unzipped.read(_PIECE):
                        pieces.append(piece)
                        size, lines = size + len(piece), lines + piece.count(b"\n")
                        _reading_fits(path, size, lines)
                raw = b"".join(pieces)
    except FileNotFoundError:
        raise DataFileError(f"{path}: no such file") from None
    except (EOFError, gzip.BadGzipFile, zlib.error) as err:
        raise DataFileError(f"{path}: not a readable gzip file ({err})") from None
    except OSError as err:
        raise DataFileError(f"{path}: cannot read it ({err.strerror or err})") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise DataFileError(f"{path}: not UTF-8 text (byte {err.start})") from None
    if not text.strip():
        raise DataFileError(f"{path} is empty")
    return text


def _format(path: Path, text: str) -> str:
    suffixes = [s.lower() for s in path.suffixes if s.lower() != ".gz"]
    last = suffixes[-1] if suffixes else ""
    if last in FASTA_SUFFIXES:
        return "fasta"
    if last == ".csv":
        return "csv"
    if last in TSV_SUFFIXES:
        return "tsv"
    if text.lstrip().startswith(">"):
        return "fasta"
    return "tsv" if "\t" in text.splitlines()[0] else "csv"


def _check_nonempty(seqs: list[str], where: list[str], path: Path) -> None:
    for seq, w in zip(seqs, where):
        if not seq:
            raise DataFileError(f"{path}, {w}: empty sequence")


def _table(path: Path, text: str, delimiter: str, columns: tuple[str, ...]):
    """Rows of a CSV/TSV as (line number, {column: value}), after checking the header."""
    # A long sequence in one field: allow it (its memory was checked as the file was read).
    csv.field_size_limit(max(len(text) + 1, _CSV_FIELD_LIMIT))
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    try:
        header = next(reader)
    except csv.Error as err:
        raise DataFileError(f"{path}, line 1: {err}") from None
    header = [h.strip() for h in header]
    duplicates = sorted({h for h in header if header.count(h) > 1})
    if duplicates:
        raise DataFileError(f"{path}, line 1: duplicate column(s) {duplicates} in the header")
    missing = [c for c in columns if c not in header]
    if missing:
        raise DataFileError(
            f"{path}, line 1: no column {', '.join(map(repr, missing))}; the header has "
            f"{header} (choose columns with --seq-col / --target-col)"
        )
    rows = []
    try:
        for fields in reader:
            if not any(f.strip() for f in fields):
                continue  # blank line
            line = reader.line_num
            if len(fields) != len(header):
                raise DataFileError(
                    f"{path}, line {line}: {len(fields)} fields, but the header has {len(header)}"
                )
            rows.append((line, dict(zip(header, (f.strip() for f in fields)))))
    except csv.Error as err:
        raise DataFileError(f"{path}, line {reader.line_num}: {err}") from None
    if not rows:
        raise DataFileError(f"{path} has a header but no rows")
    return header, rows


def _read_table(
    path: Path,
    text: str,
    delimiter: str,
    seq_col: str,
    target_col: str,
    id_col: str,
    need_target: bool,
) -> Records:
    header, rows = _table(
        path, text, delimiter, (seq_col, target_col) if need_target else (seq_col,)
    )
    if id_col != ReadOptions.id_col and id_col not in header:  # asked for, not the default
        raise DataFileError(f"{path}, line 1: no id column {id_col!r}; the header has {header}")
    has_ids, has_targets = id_col in header, target_col in header
    where = [f"line {line}" for line, _ in rows]
    seqs = [row[seq_col] for _, row in rows]
    ids = [row[id_col] if has_ids else str(i + 1) for i, (_, row) in enumerate(rows)]
    targets = [row[target_col] for _, row in rows] if has_targets else None
    return Records(path, ids, seqs, targets, where)


_VALUE = re.compile(r"^(\S+)=(.*)$")


def _read_fasta(path: Path, text: str, target_col: str) -> Records:
    ids: list[str] = []
    seqs: list[str] = []
    targets: list[str | None] = []
    where: list[str] = []
    parts: list[str] = []

    def close() -> None:
        if ids:
            seqs.append("".join(parts))

    for number, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith(";"):
            continue
        if line.startswith(">"):
            close()
            parts = []
            fields = line[1:].split()
            if not fields:
                raise DataFileError(f"{path}, line {number}: a '>' header without an id")
            ids.append(fields[0])
            where.append(f"record {len(ids)} (>{fields[0]}, line {number})")
            pairs = {m[1]: m[2] for f in fields[1:] if (m := _VALUE.match(f))}
            bare = [f for f in fields[1:] if not _VALUE.match(f)]
            targets.append(pairs.get(target_col, bare[0] if len(bare) == 1 else None))
        else:
            if not ids:
                raise DataFileError(f"{path}, line {number}: sequence before any '>' header")
            parts.append(line)
    close()
    return Records(path, ids, seqs, targets, where)


def _side_table(records: Records, labels: Path, id_col: str, target_col: str) -> Records:
    text = _read_text(labels)
    delimiter = "\t" if _format(labels, text) == "tsv" else ","
    _, rows = _table(labels, text, delimiter, (id_col, target_col))
    table: dict[str, str] = {}
    for line, row in rows:
        if row[id_col] in table:
            raise DataFileError(f"{labels}, line {line}: id {row[id_col]!r} appears twice")
        table[row[id_col]] = row[target_col]
    seen: dict[str, str] = {}
    for i, where in zip(records.ids, records.where):
        if i in seen:
            raise DataFileError(
                f"{records.path}, {where}: id {i!r} also names {seen[i]}; --labels joins "
                "targets by id, so each id must be unique"
            )
        seen[i] = where
    missing = [i for i in records.ids if i not in table]
    if missing:
        raise DataFileError(
            f"{labels}: no {target_col!r} for {len(missing)} sequence id(s) of {records.path}, "
            f"e.g. {missing[:3]}"
        )
    return Records(
        records.path, records.ids, records.seqs, [table[i] for i in records.ids], records.where
    )


def _fix_lengths(records: Records, pad_to: int | None, trim_to: int | None) -> list[str]:
    seqs = records.seqs
    if trim_to is not None:
        seqs = [s[:trim_to] for s in seqs]
    if pad_to is not None:
        too_long = [i for i, s in enumerate(seqs) if len(s) > pad_to]
        if too_long:
            i = too_long[0]
            raise DataFileError(
                f"{records.path}, {records.where[i]}: length {len(seqs[i])} is more than "
                f"--pad-to {pad_to}; add --trim-to {pad_to} to cut long sequences"
            )
        seqs = [s + UNKNOWN_BASE * (pad_to - len(s)) for s in seqs]
    lengths = np.fromiter(map(len, seqs), dtype=np.int64, count=len(seqs))
    odd = np.flatnonzero(lengths != lengths[0])
    if odd.size:
        i = int(odd[0])
        raise DataFileError(
            f"{records.path}: sequences differ in length ({lengths[0]} in "
            f"{records.where[0]}, {lengths[i]} in {records.where[i]}); the tutorial's models "
            "need one length: pass --pad-to L (pads with N) and/or --trim-to L"
        )
    return seqs


def _validated(records: Records, seqs: list[str]) -> list[str]:
    """``seqs`` in uppercase, or the encoder's complaint moved to the file and line."""
    try:
        encode_codes(seqs)
    except InvalidSequenceError as err:
        raise DataFileError(f"{records.path}, {records.where[err.index]}: {err.detail}") from None
    return [s.upper() for s in seqs]


def read_records(
    path: str | Path,
    *,
    seq_col: str = "seq",
    target_col: str = "score",
    id_col: str = "id",
    labels: str | Path | None = None,
    need_target: bool = True,
    pad_to: int | None = None,
    trim_to: int | None = None,
) -> Records:
    """Read and validate a data file (see the module docstring for the formats)."""
    path = Path(path)
    for name, value in (("--pad-to", pad_to), ("--trim-to", trim_to)):
        if value is not None and value < 1:
            raise DataFileError(f"{name} must be a positive length, got {value}")
    text = _read_text(path)
    kind = _format(path, text)
    if kind == "fasta":
        records = _read_fasta(path, text, target_col)
        if not records.ids:
            raise DataFileError(f"{path} holds no FASTA records")
        if labels is not None:
            records = _side_table(records, Path(labels), id_col, target_col)
        elif need_target:
            assert records.targets is not None  # a FASTA file's records list one each
            missing = [w for w, t in zip(records.where, records.targets) if t is None]
            if missing:
                raise DataFileError(
                    f"{path}, {missing[0]}: no {target_col!r} in the header; write it as "
                    f"'>id {target_col}=<value>' or give a table with --labels"
                )
        elif all(t is None for t in records.targets or ()):
            records = Records(path, records.ids, records.seqs, None, records.where)
    else:
        if labels is not None:
            raise DataFileError("--labels goes with FASTA files; a table holds its own targets")
        records = _read_table(
            path, text, "\t" if kind == "tsv" else ",", seq_col, target_col, id_col, need_target
        )
    _check_nonempty(records.seqs, records.where, path)
    seqs = _validated(records, _fix_lengths(records, pad_to, trim_to))
    return Records(path, records.ids, seqs, records.targets, records.where)


def _given_targets(records: Records) -> list[str | None]:
    if records.targets is None:  # read_records refuses a file without targets first
        raise DataFileError(f"{records.path} holds no targets")
    return records.targets


def _numbers(records: Records, target_col: str) -> np.ndarray:
    raws = _given_targets(records)
    values = np.empty(len(raws), dtype=np.float32)
    for i, (raw, where) in enumerate(zip(raws, records.where)):
        try:
            value = float(raw if raw is not None else "missing")
        except ValueError:
            raise DataFileError(
                f"{records.path}, {where}: {target_col} {raw!r} is not a number"
            ) from None
        if not math.isfinite(value):
            raise DataFileError(
                f"{records.path}, {where}: {target_col} is {raw!r}; targets must be finite numbers"
            )
        with np.errstate(over="ignore"):
            values[i] = value  # training runs in float32: check the value it will see
        if not np.isfinite(values[i]):
            raise DataFileError(
                f"{records.path}, {where}: {target_col} {raw!r} is beyond float32's range "
                f"(about ±3.4e38); rescale the targets"
            )
    return values


def _classes(records: Records, target_col: str) -> tuple[np.ndarray, tuple[str, ...]]:
    labels = []
    for raw, where in zip(_given_targets(records), records.where):
        if raw is None or not raw.strip() or raw.strip().lower() in {"nan", "na", "none"}:
            raise DataFileError(f"{records.path}, {where}: missing {target_col} (class label)")
        labels.append(raw.strip())
    names = sorted(set(labels), key=lambda s: (0, float(s), s) if _is_number(s) else (1, 0, s))
    index = {name: i for i, name in enumerate(names)}
    return np.array([index[label] for label in labels], dtype=np.int64), tuple(names)


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def load_data(
    path: str | Path,
    *,
    task: str = "regress",
    seq_col: str = "seq",
    target_col: str = "score",
    id_col: str = "id",
    labels: str | Path | None = None,
    pad_to: int | None = None,
    trim_to: int | None = None,
    seed: int = SEED,
) -> TutorialData:
    """A data file as :class:`~dna_tutorial.dataset.TutorialData`, split 64/16/20.

    Regression targets must be finite numbers; classification targets are any labels
    (numbers or names), one class per distinct label.
    """
    if task not in ("regress", "classify"):
        raise DataFileError(f"task must be 'regress' or 'classify', got {task!r}")
    records = read_records(
        path,
        seq_col=seq_col,
        target_col=target_col,
        id_col=id_col,
        labels=labels,
        pad_to=pad_to,
        trim_to=trim_to,
    )
    names: tuple[str, ...] = ()
    if task == "regress":
        targets = _numbers(records, target_col)
    else:
        targets, names = _classes(records, target_col)
        if len(names) < 2:
            raise DataFileError(
                f"{records.path}: classification needs at least two classes, found only {names}"
            )
        if len(names) > MAX_CLASSES:
            raise DataFileError(
                f"{records.path}: {target_col} has {len(names):,} distinct values, more than the "
                f"{MAX_CLASSES} classes --task classify accepts; if it is a measurement, "
                "use --task regress"
            )
    need = min_rows_for_split(SPLIT_FRAC)
    if len(records.seqs) < need:
        raise DataFileError(
            f"{records.path} has {len(records.seqs)} sequence(s); the train/validation/test "
            f"split needs at least {need} (two in each part)"
        )
    return TutorialData(
        seqs=records.seqs,
        task=task,
        targets=targets,
        class_names=names,
        source=str(records.path),
        split=tutorial_split(len(records.seqs), seed=seed),
    )
