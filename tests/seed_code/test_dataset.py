"""The sample dataset is reproducible and has signal; user CSVs are cleaned or refused with a message."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import dataset
import numpy as np
import pytest
from features import FEATURES, TARGET

ROOT = Path(__file__).resolve().parents[2]
GENERATOR = ROOT / "seed_code" / "data" / "generate_deliveries.py"
HEADER = ",".join((TARGET, *FEATURES))
ROW = "20,31.23,121.47,51.95,4.14"


def csv_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "data.csv"
    path.write_text(text)
    return path


def rows(n: int = 25, row: str = ROW) -> str:
    return "\n".join([row] * n)


def test_committed_csv_is_what_the_generator_produces():
    result = subprocess.run([sys.executable, str(GENERATOR), "--check"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_generator_check_notices_an_edited_file(tmp_path):
    edited = tmp_path / "edited.csv"
    edited.write_text((ROOT / "seed_code" / "data" / "deliveries.csv").read_text().replace("25,", "26,", 1))
    result = subprocess.run(
        [sys.executable, str(GENERATOR), "--check", "--output", str(edited)], capture_output=True, text=True
    )
    assert result.returncode == 1 and "rerun without --check" in result.stderr


def test_sample_dataset_has_hundreds_of_whole_day_rows(deliveries):
    assert 300 <= len(deliveries.frame) <= 1000
    assert list(deliveries.frame.columns) == [TARGET, *FEATURES]
    assert deliveries.target.dtype.kind == "i" and (deliveries.target >= 1).all()


def test_sample_dataset_has_signal_beyond_a_constant(deliveries):
    # Delivery time grows with the distance between the ports.
    frame = deliveries.frame
    distance = np.hypot(frame.PORT_LOAD_LAT - frame.PORT_DEL_LAT, frame.PORT_LOAD_LONG - frame.PORT_DEL_LONG)
    assert np.corrcoef(distance, frame[TARGET])[0, 1] > 0.5


def test_sha256_identifies_the_file(deliveries, tmp_path):
    copy = csv_file(tmp_path, Path(deliveries.source).read_text())
    assert dataset.load(copy).sha256 == deliveries.sha256
    copy.write_text(copy.read_text() + ROW + "\n")
    assert dataset.load(copy).sha256 != deliveries.sha256


@pytest.mark.parametrize(
    "text",
    [
        f",{HEADER}\n" + "\n".join(f"{i},{ROW}" for i in range(25)),  # pandas to_csv index
        f"Unnamed: 0,{HEADER}\n" + "\n".join(f"{i + 1},{ROW}" for i in range(25)),
        " " + HEADER.replace(",", " , ") + "\n" + rows(25, ROW.replace(",", " , ")),
        HEADER.lower() + "\n" + rows(),
        HEADER + "\n" + rows(25, "20.0,31.23,121.47,51.95,4.14"),
    ],
    ids=["index-column", "named-unnamed-index", "whitespace", "lower-case-header", "whole-float-days"],
)
def test_harmless_noise_is_tolerated(tmp_path, text):
    loaded = dataset.load(csv_file(tmp_path, text))
    assert list(loaded.frame.columns) == [TARGET, *FEATURES]
    assert loaded.frame.iloc[0].tolist() == [20, 31.23, 121.47, 51.95, 4.14]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "the file is empty"),
        (HEADER + "\n" + rows(5), "at least 20 rows"),
        (
            HEADER.replace(",PORT_DEL_LONG", "") + "\n" + rows(25, "20,31.23,121.47,51.95"),
            "missing column(s) PORT_DEL_LONG",
        ),
        (HEADER + ",SHIP_NAME\n" + rows(25, ROW + ",Ever Given"), "unknown column(s) SHIP_NAME"),
        (HEADER + "," + TARGET.lower() + "\n" + rows(25, ROW + ",3"), f"column {TARGET} appears twice"),
        (f"notes,{HEADER}\n" + rows(25, "x," + ROW).replace("Unnamed", ""), "unknown column(s) notes"),
        (f",{HEADER}\n" + "\n".join(f"a{i},{ROW}" for i in range(25)), "has no name and is not a row index"),
        (HEADER + "\n" + rows(3) + "\n20,north,121.47,51.95,4.14\n" + rows(), "line 5: PORT_LOAD_LAT is 'north'"),
        (HEADER + "\n" + rows() + "\n20,31.23,,51.95,4.14", "line 27: PORT_LOAD_LONG is empty"),
        (HEADER + "\n20,31.23,121.47,inf,4.14\n" + rows(), "line 2: PORT_DEL_LAT is 'inf'; expected a finite"),
        (HEADER + "\n20,31.23,121.47,51.95,NaN\n" + rows(), "line 2: PORT_DEL_LONG is 'NaN'"),
        (HEADER + "\n20,95.5,121.47,51.95,4.14\n" + rows(), "PORT_LOAD_LAT is 95.5; expected -90 to 90"),
        (HEADER + "\n20.5,31.23,121.47,51.95,4.14\n" + rows(), "DELIVERY_TIME_DAYS is 20.5; expected a whole"),
        (HEADER + "\n-3,31.23,121.47,51.95,4.14\n" + rows(), "DELIVERY_TIME_DAYS is -3"),
    ],
    ids=[
        "empty",
        "too-few-rows",
        "missing-column",
        "unknown-column",
        "duplicate-column",
        "named-extra",
        "unnamed-non-index",
        "non-numeric",
        "empty-cell",
        "infinite",
        "nan",
        "out-of-range",
        "fractional-days",
        "negative-days",
    ],
)
def test_bad_data_is_refused_naming_column_and_line(tmp_path, text, message):
    with pytest.raises(dataset.DatasetError) as raised:
        dataset.load(csv_file(tmp_path, text))
    assert message in str(raised.value)


def test_missing_file_is_refused(tmp_path):
    with pytest.raises(dataset.DatasetError, match="no such file"):
        dataset.load(tmp_path / "nope.csv")
