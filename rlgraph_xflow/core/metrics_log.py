"""The training loop's metrics file (metrics.csv): a CSV that grows by one row at a time.

Every trainer writes it (through rlgraph_xflow.execution.training.Trainer);
the report (rlgraph_xflow.reporting) reads it back.

Holds:
  MetricsLog: appends rows with a fixed set of columns to a CSV file, resumes
    an existing file with the same columns, reads rows back, and truncates
    the rows logged after a checkpoint (for --resume).
  MetricsLogError: the file or a row does not fit the log's columns.
  read_metrics_csv: reads any metrics CSV (columns and rows) without knowing
    its columns beforehand; the report uses it.

File format: a header line with the column names, then one line per row.
Numbers are written with repr(float(x)) (ints with str), so they read back
exactly; strings are written as they are (csv quoting for commas and quotes;
line breaks are refused so that every row is one line). Reading turns every
cell that parses as a float into a float ("nan" included) and leaves the
others as strings, so integers come back as floats (1000 -> 1000.0).

Every row is written and flushed before `append` returns (the file is opened
per row), so a run that is killed keeps every row it logged; rows are not
fsync'ed, so a power cut may still lose the last ones.
"""
from __future__ import annotations

import csv
import io
import math
import numbers
import os
import pathlib
from typing import Mapping, Sequence, Union

from rlgraph_xflow.core.atomic_file import write_atomically
from rlgraph_xflow.core.validation import is_instance_not_bool

CellValue = Union[float, str]


class MetricsLogError(ValueError):
    """A metrics file or row does not match the expected columns; the message names file, line and column."""


def _parse_cell(cell: str) -> CellValue:
    try:
        return float(cell)
    except ValueError:
        return cell


def read_metrics_csv(path: Union[str, os.PathLike]) -> tuple[list[str], list[dict[str, CellValue]]]:
    """Reads a metrics CSV written by MetricsLog.

    Args:
        path: the CSV file.

    Returns:
        (columns, rows): the header's column names, and one dict per row from
        column name to a float (cells that parse as floats) or a string. A
        file with 0 bytes has no columns and no rows.

    Raises:
        FileNotFoundError: there is no file at path.
        MetricsLogError: a row has a different number of cells than the
            header (the message names the file and line).
    """
    path = pathlib.Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"metrics file '{path}' does not exist (expected the CSV the training loop writes)")
    with open(path, newline="", encoding="utf-8") as stream:
        reader = csv.reader(stream)
        columns = next(reader, None)
        if columns is None:
            return [], []
        rows = []
        for cells in reader:
            if len(cells) != len(columns):
                raise MetricsLogError(
                    f"metrics file '{path}', line {reader.line_num}: expected {len(columns)} cells "
                    f"({', '.join(columns)}), found {len(cells)}: {cells!r}"
                )
            rows.append({column: _parse_cell(cell) for column, cell in zip(columns, cells)})
    return columns, rows


def _format_value(value: object, column: str, path: pathlib.Path) -> str:
    # bool is an Integral; it would come back as "True", not as what was logged.
    if not is_instance_not_bool(value, (numbers.Real, str)):
        raise MetricsLogError(
            f"metrics file '{path}', column '{column}': expected a number or a string, found "
            f"{type(value).__name__} {value!r} (log a bool as int(value))"
        )
    if isinstance(value, str):
        if "\n" in value or "\r" in value:
            raise MetricsLogError(
                f"metrics file '{path}', column '{column}': a string value must not contain a line break, found {value!r}"
            )
        return value
    if isinstance(value, numbers.Integral):
        return str(int(value))
    return repr(float(value))


class MetricsLog:
    """Appends rows with fixed columns to a CSV file, one flushed line per row.

    Example:
        log = MetricsLog(run_dir / "metrics.csv", ["env_steps", "episode_reward"])
        log.append({"env_steps": 200, "episode_reward": 1.5})
        log.rows()  # [{"env_steps": 200.0, "episode_reward": 1.5}]

    Opening a file that already holds the same header resumes it (new rows
    are appended); a file with another header is an error, never overwritten.
    A last line without its line break (the process died while writing it)
    is incomplete by construction and is cut off when the log is opened.
    """

    def __init__(self, path: Union[str, os.PathLike], fields: Sequence[str]):
        """Opens or creates the metrics file.

        Args:
            path: the CSV file; its folder must exist.
            fields: the column names, in order; non-empty strings, no duplicates.

        Raises:
            MetricsLogError: fields are empty, duplicated or not strings, or
                the file exists with a different header.
            FileNotFoundError: the file's folder does not exist.
        """
        self._path = pathlib.Path(path)
        if isinstance(fields, str):
            raise MetricsLogError(f"metrics file '{self._path}': fields must be a list of column names, found the string {fields!r}")
        fields = list(fields)
        if not fields:
            raise MetricsLogError(f"metrics file '{self._path}': fields must name at least one column, found none")
        for field in fields:
            if not isinstance(field, str) or not field or "\n" in field or "\r" in field:
                raise MetricsLogError(
                    f"metrics file '{self._path}': every field must be a non-empty one-line string, found {field!r}"
                )
        duplicates = sorted({field for field in fields if fields.count(field) > 1})
        if duplicates:
            raise MetricsLogError(f"metrics file '{self._path}': duplicate field names {duplicates}")
        self._fields = fields
        if not self._path.parent.is_dir():
            raise FileNotFoundError(f"metrics file '{self._path}': folder '{self._path.parent}' does not exist")
        if self._path.exists() and self._path.stat().st_size > 0:
            self._drop_incomplete_last_line()
            found, _ = read_metrics_csv(self._path)
            if found != self._fields:
                raise MetricsLogError(
                    f"metrics file '{self._path}' has columns {found} but this log writes {self._fields}; "
                    "resume only with the same columns, or use a new run directory"
                )
        else:
            self._write_lines([self._fields], mode="w")

    @property
    def path(self) -> pathlib.Path:
        """The CSV file."""
        return self._path

    @property
    def fields(self) -> list[str]:
        """The column names, in file order."""
        return list(self._fields)

    def _drop_incomplete_last_line(self) -> None:
        with open(self._path, "rb") as stream:
            content = stream.read()
        if content.endswith(b"\n"):
            return
        # Only the header line can be incomplete in a 1-line file, and then the
        # header check below reports it rather than this cutting it away.
        last_break = content.rfind(b"\n")
        if last_break >= 0:
            os.truncate(self._path, last_break + 1)

    def _write_lines(self, rows: Sequence[Sequence[str]], mode: str) -> None:
        with open(self._path, mode, newline="", encoding="utf-8") as stream:
            writer = csv.writer(stream, lineterminator="\n")
            writer.writerows(rows)
            stream.flush()

    def append(self, row: Mapping[str, object]) -> None:
        """Appends one row and flushes it to the file.

        Args:
            row: a value for every field and nothing else; values are numbers
                (Python or numpy; not bool) or one-line strings.

        Raises:
            MetricsLogError: a field is missing, an unknown field is given, or
                a value is not a number or a one-line string.
        """
        if not isinstance(row, Mapping):
            raise MetricsLogError(f"metrics file '{self._path}': a row must be a mapping from field to value, found {type(row).__name__}")
        unknown = [key for key in row if key not in self._fields]
        missing = [field for field in self._fields if field not in row]
        if unknown or missing:
            problems = []
            if unknown:
                problems.append(f"unknown fields {unknown}")
            if missing:
                problems.append(f"missing fields {missing}")
            raise MetricsLogError(
                f"metrics file '{self._path}': row has {' and '.join(problems)}; expected exactly {self._fields}"
            )
        self._write_lines([[_format_value(row[field], field, self._path) for field in self._fields]], mode="a")

    def rows(self) -> list[dict[str, CellValue]]:
        """Reads every row back.

        Returns:
            One dict per row, field -> float (cells that parse as a float) or str.

        Raises:
            MetricsLogError: the file's header no longer matches the fields, or
                a row is malformed.
        """
        found, rows = read_metrics_csv(self._path)
        if found != self._fields:
            raise MetricsLogError(f"metrics file '{self._path}' has columns {found}, expected {self._fields}")
        return rows

    def truncate_after(self, step_field: str, value: float) -> int:
        """Drops every row whose step_field is greater than value.

        Used by --resume: rows logged after the last checkpoint describe
        training that the restored agent never did. Kept rows are rewritten
        byte for byte; the file is replaced atomically (temporary file in the
        same folder, then os.replace), so a crash leaves the old or the new
        file, never half of one.

        Args:
            step_field: a numeric field (for example "env_steps").
            value: the last step to keep (rows with step <= value stay).

        Returns:
            The number of rows dropped.

        Raises:
            MetricsLogError: step_field is not a field, value is not a finite
                number, or a row's step cell is not a number (names the line).
        """
        if step_field not in self._fields:
            raise MetricsLogError(f"metrics file '{self._path}': step field {step_field!r} is not one of the fields {self._fields}")
        if not is_instance_not_bool(value, numbers.Real) or not math.isfinite(value):
            raise MetricsLogError(f"metrics file '{self._path}': truncate_after needs a finite number for {step_field!r}, found {value!r}")
        column = self._fields.index(step_field)
        with open(self._path, newline="", encoding="utf-8") as stream:
            reader = csv.reader(stream)
            header = next(reader, None)
            if header != self._fields:
                raise MetricsLogError(f"metrics file '{self._path}' has columns {header}, expected {self._fields}")
            kept = [header]
            dropped = 0
            for cells in reader:
                if len(cells) != len(header):
                    raise MetricsLogError(
                        f"metrics file '{self._path}', line {reader.line_num}: expected {len(header)} cells, found {len(cells)}"
                    )
                step = _parse_cell(cells[column])
                if not isinstance(step, float) or math.isnan(step):
                    raise MetricsLogError(
                        f"metrics file '{self._path}', line {reader.line_num}, column '{step_field}': "
                        f"expected a number, found {cells[column]!r}"
                    )
                if step <= value:
                    kept.append(cells)
                else:
                    dropped += 1
        buffer = io.StringIO()
        csv.writer(buffer, lineterminator="\n").writerows(kept)
        write_atomically(self._path, lambda stream: stream.write(buffer.getvalue()), encoding="utf-8", newline="")
        return dropped
