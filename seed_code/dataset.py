"""Load and check the training data.

Real CSV exports carry harmless noise, which is tolerated: an unnamed index column (pandas' ``to_csv``
default), stray whitespace around names and values, and upper/lower-case differences in the header. Anything
that would silently change what the model learns is refused with a message naming the column and the CSV
line: missing or unknown columns, empty or non-numeric cells, non-finite numbers, coordinates out of range,
and delivery times that are not whole, non-negative days.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from features import FEATURES, RANGES, TARGET

COLUMNS: tuple[str, ...] = (TARGET, *FEATURES)
MIN_ROWS = 20
# pandas names an unnamed header cell "Unnamed: <position>"; an index written by to_csv looks like this.
_UNNAMED_PREFIX = "Unnamed:"


class DatasetError(ValueError):
    """The data cannot be trained on; the message says which column and line, and what was expected."""


@dataclass(frozen=True)
class Dataset:
    frame: pd.DataFrame
    source: str
    sha256: str

    @property
    def features(self) -> pd.DataFrame:
        return self.frame[list(FEATURES)]

    @property
    def target(self) -> pd.Series:
        return self.frame[TARGET]


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 16), b""):
            digest.update(block)
    return digest.hexdigest()


def load(path: Path, source: str | None = None) -> Dataset:
    """Read a deliveries CSV into a clean frame with exactly ``COLUMNS``; raises ``DatasetError``.

    ``source`` names the data in messages and on the result when ``path`` is a local copy (of an S3 object).
    """
    where = source or str(path)
    if not path.is_file():
        raise DatasetError(f"{where}: no such file")
    try:
        raw = pd.read_csv(path, dtype=str, keep_default_na=False, skipinitialspace=True)
    except pd.errors.EmptyDataError as error:
        raise DatasetError(f"{where}: the file is empty") from error
    except (pd.errors.ParserError, UnicodeDecodeError) as error:
        raise DatasetError(f"{where}: not a readable CSV file ({error})") from error
    frame = _clean_columns(raw, where)
    if len(frame) < MIN_ROWS:
        raise DatasetError(f"{where}: expected at least {MIN_ROWS} rows of data, got {len(frame)}")
    clean = pd.DataFrame({column: _numbers(frame[column], column, where) for column in COLUMNS})
    clean[TARGET] = _whole_days(clean[TARGET], where)
    return Dataset(frame=clean, source=where, sha256=sha256_of(path))


def _clean_columns(raw: pd.DataFrame, where: str) -> pd.DataFrame:
    names = [str(c).strip() for c in raw.columns]
    frame = raw.copy()
    frame.columns = names
    index_like = [n for n in names if n == "" or n.startswith(_UNNAMED_PREFIX)]
    for name in index_like:
        if not _is_row_index(frame[name]):
            raise DatasetError(f"{where}: column {name!r} has no name and is not a row index; name it or remove it")
    frame = frame.drop(columns=index_like)
    by_upper: dict[str, str] = {}
    for name in frame.columns:
        upper = name.upper()
        if upper in by_upper:
            raise DatasetError(f"{where}: column {upper} appears twice")
        by_upper[upper] = name
    missing = [c for c in COLUMNS if c not in by_upper]
    unknown = [by_upper[u] for u in by_upper if u not in COLUMNS]
    if missing:
        raise DatasetError(f"{where}: missing column(s) {', '.join(missing)}; expected {', '.join(COLUMNS)}")
    if unknown:
        raise DatasetError(f"{where}: unknown column(s) {', '.join(unknown)}; expected only {', '.join(COLUMNS)}")
    return frame.rename(columns={v: k for k, v in by_upper.items()})[list(COLUMNS)]


def _is_row_index(values: pd.Series) -> bool:
    try:
        numbers = [int(v.strip()) for v in values]
    except ValueError:
        return False
    return numbers == list(range(len(numbers))) or numbers == list(range(1, len(numbers) + 1))


def _csv_line(position: int) -> int:
    return position + 2  # one for the header, one because lines count from 1


def _numbers(values: pd.Series, column: str, where: str) -> pd.Series:
    stripped = values.str.strip()
    numbers = pd.to_numeric(stripped, errors="coerce")
    for position, (text, number) in enumerate(zip(stripped, numbers, strict=True)):
        line = _csv_line(position)
        if text == "":
            raise DatasetError(f"{where}, line {line}: {column} is empty; expected a number")
        if pd.isna(number):
            raise DatasetError(f"{where}, line {line}: {column} is {text!r}; expected a number")
        if not math.isfinite(number):
            raise DatasetError(f"{where}, line {line}: {column} is {text!r}; expected a finite number")
        if column in RANGES:
            low, high = RANGES[column]
            if not low <= number <= high:
                raise DatasetError(f"{where}, line {line}: {column} is {text}; expected {low:g} to {high:g}")
    return numbers.astype(float)


def _whole_days(values: pd.Series, where: str) -> pd.Series:
    for position, value in enumerate(values):
        if value < 0 or value != int(value):
            raise DatasetError(
                f"{where}, line {_csv_line(position)}: {TARGET} is {value:g}; expected a whole, non-negative "
                "number of days"
            )
    return values.astype(int)
