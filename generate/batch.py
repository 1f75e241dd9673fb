"""A batch of briefs: one run per row of a CSV or JSONL file, checked whole before any call.

Stages (:func:`prepare_batch`, then :func:`generate.batch_run.arun_prepared`):

1. **Read** the rows (:func:`read_rows`): a ``.csv`` with a header row, or ``.jsonl`` with one JSON
   object per line; or, from the library and the HTTP service, a list of dicts. Columns are
   :class:`generate.pipeline.RunRequest` fields (``brief`` is required; ``style`` is accepted for
   ``style_id``; names are matched without case or surrounding spaces, each column once); an
   empty cell takes the batch's default (the CLI's flags), then the style's. A CSV may be saved
   with ``,``, ``;`` (a spreadsheet in a decimal-comma locale) or tabs between cells, with or
   without a UTF-8 byte-order mark, with CRLF line ends and blank lines (skipped); in a
   ``;`` file, a decimal comma in ``max_cost_usd`` and ``timeout_s`` (``0,50``) is read as a point.
   In CSV, ``context`` holds one note and ``references`` paths separated by ``;``; relative
   ``image`` and ``references`` paths are taken from the batch file's folder.
2. **Check every row** before anything is written or called: the row's ``RunRequest`` and then
   :meth:`SketchPipeline.validate` (unknown style, a size the model lacks, a row over its own
   ``max_cost_usd`` or alone over the batch's, missing credentials...). Every problem is listed, one line each, with its
   row number: the file's line for CSV and JSONL (the header is row 1), the position (from 1) for
   a list. Any problem raises :class:`BatchInvalid` and nothing runs.
3. **The manifest** (:class:`generate.batch_manifest.Manifest`): ``<outputs>/batches/<batch_id>/
   manifest.json``. The same source (path and sha256) with the same defaults finds its earlier
   manifest, so running the same command again resumes that batch.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from generate.errors import ConfigError
from generate.validation import field_bounds, human_message

__all__ = [
    "MAX_BATCH_ROWS",
    "BatchRow",
    "CsvText",
    "BatchInvalid",
    "PlannedRow",
    "PreparedBatch",
    "read_rows",
    "rows_from_file",
    "rows_from_csv_text",
    "rows_from_dicts",
    "prepare_batch",
]

MAX_BATCH_ROWS = 10_000
_ALIASES = {"style": "style_id"}
_LIST_FIELDS = {"context", "references"}


@dataclass(frozen=True)
class CsvText:
    """CSV rows given as text (the HTTP service's ``csv`` field) rather than as a file."""

    text: str


@dataclass
class BatchRow:
    """One row as read: ``number`` is what problems and the manifest call it; ``values`` are the
    cells that were filled (field name -> value as written)."""

    number: int
    values: dict[str, Any]


class BatchInvalid(ConfigError):
    """The batch has problems; ``problems`` lists them, one line each, with their row numbers."""

    def __init__(self, problems: list[str], source: str) -> None:
        self.problems = problems
        count = f"{len(problems)} problem{'s' if len(problems) != 1 else ''}"
        super().__init__(f"{count} in {source}, nothing was run:\n  " + "\n  ".join(problems), field="rows")


def _known_fields() -> set[str]:
    from generate.pipeline import RunRequest

    return set(RunRequest.model_fields)


def _column(name: str) -> str:
    key = str(name).strip().lower()
    return _ALIASES.get(key, key)


_SEPARATORS = (",", ";", "\t")
_DECIMAL_FIELDS = {"max_cost_usd", "timeout_s"}
_DECIMAL_COMMA = re.compile(r"[+-]?\d+,\d+")
# Above any cell a batch can hold (the HTTP body's 4 MiB): an over-long brief is then reported by
# its own limit ("brief must be at most ... characters") instead of stopping the read of the file.
_CELL_LIMIT = 16 * 1024 * 1024


def _separator(text: str) -> str:
    """The header's separator: ``,``, or ``;`` (a spreadsheet set to a decimal-comma locale saves
    its CSV so) or a tab, whichever splits the header into the most known column names."""
    first = text.split("\n", 1)[0]
    known = _known_fields() | set(_ALIASES)
    best, best_count = ",", -1
    for sep in _SEPARATORS:
        try:
            header = next(csv.reader([first], delimiter=sep), [])
        except csv.Error:
            continue
        count = sum(1 for c in header if _column(c) in known)
        if count > best_count:
            best, best_count = sep, count
    return best


def rows_from_csv_text(text: str, source: str = "the CSV") -> tuple[list[BatchRow], list[str]]:
    """(rows, problems) of CSV text with a header row; see the module docstring."""
    problems: list[str] = []
    text = text.lstrip("\ufeff")
    if csv.field_size_limit() < _CELL_LIMIT:
        csv.field_size_limit(_CELL_LIMIT)
    separator = _separator(text)
    reader = csv.reader(io.StringIO(text), delimiter=separator)
    try:
        header = next(reader)
    except StopIteration:
        return [], [f"{source} is empty: it needs a header row naming the columns (brief, style_id, ...)"]
    except csv.Error as exc:
        return [], [f"row 1: not readable as CSV ({exc})"]
    columns = [_column(c) for c in header]
    known = _known_fields()
    for name in columns:
        if name and name not in known:
            problems.append(f"row 1: unknown column {name!r} (columns: {', '.join(sorted(known))})")
    if "brief" not in columns:
        problems.append("row 1: missing column 'brief'")
    for name in sorted({c for c in columns if c and columns.count(c) > 1}):
        problems.append(f"row 1: column {name!r} appears {columns.count(name)} times; keep one")
    rows: list[BatchRow] = []
    line = reader.line_num
    try:
        for cells in reader:
            number, line = line + 1, reader.line_num
            if not any(c.strip() for c in cells):
                continue
            if len(cells) > len(columns):
                problems.append(
                    f"row {number}: {len(cells)} cells but the header names {len(columns)} columns"
                )
                continue
            values: dict[str, Any] = {}
            for name, cell in zip(columns, cells, strict=False):
                if name not in known or not cell.strip():  # an unknown column is reported once, above
                    continue
                if name == "references":
                    values[name] = [p.strip() for p in cell.split(";") if p.strip()]
                elif name == "context":
                    values[name] = [cell.strip()]
                else:
                    values[name] = cell.strip()
                    if (
                        separator == ";"
                        and name in _DECIMAL_FIELDS
                        and _DECIMAL_COMMA.fullmatch(values[name])
                    ):
                        values[name] = values[name].replace(",", ".")  # the locale's "0,50" is 0.50
            rows.append(BatchRow(number, values))
    except csv.Error as exc:
        problems.append(f"row {line + 1}: not readable as CSV ({exc})")
    return rows, problems


def _jsonl_rows(text: str) -> tuple[list[BatchRow], list[str]]:
    rows, problems = [], []
    for number, line in enumerate(text.lstrip("\ufeff").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
        except ValueError as exc:
            problems.append(f"row {number}: not valid JSON ({exc.args[0] if exc.args else exc})")
            continue
        if not isinstance(data, dict):
            problems.append(f'row {number}: must be a JSON object, like {{"brief": "..."}}')
            continue
        rows.append(BatchRow(number, data))
    return rows, problems


def rows_from_dicts(items: Iterable[dict[str, Any]]) -> tuple[list[BatchRow], list[str]]:
    """(rows, problems) of dicts, numbered from 1."""
    rows, problems = [], []
    for number, item in enumerate(items, start=1):
        if not isinstance(item, dict):
            problems.append(f"row {number}: must be an object with a brief")
            continue
        rows.append(BatchRow(number, dict(item)))
    return rows, problems


def rows_from_file(path: Path | str) -> tuple[list[BatchRow], list[str], str]:
    """(rows, problems, sha256 of the bytes) of a ``.csv`` or ``.jsonl`` file."""
    path = Path(path)
    kind = path.suffix.lower()
    if kind not in (".csv", ".jsonl"):
        raise ConfigError(f"a batch file must be .csv or .jsonl, got {path.name!r}", field="file")
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"no such batch file: {path}", field="file") from None
    except OSError as exc:
        raise ConfigError(f"cannot read batch file {path}: {exc.strerror}", field="file") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError(
            f"batch file {path.name} is not UTF-8 text: save it as UTF-8 (a spreadsheet's "
            '"CSV UTF-8" format)',
            field="file",
        ) from None
    rows, problems = rows_from_csv_text(text, path.name) if kind == ".csv" else _jsonl_rows(text)
    return rows, problems, hashlib.sha256(data).hexdigest()


def _relative_to(values: dict[str, Any], folder: Path) -> None:
    def beside(p: Any) -> Any:
        return str(folder / p) if isinstance(p, str) and p and not Path(p).expanduser().is_absolute() else p

    if "image" in values:
        values["image"] = beside(values["image"])
    if isinstance(values.get("references"), list):
        values["references"] = [beside(p) for p in values["references"]]


def read_rows(source: Any) -> tuple[list[BatchRow], list[str], dict[str, Any]]:
    """(rows, problems, source record ``{path, sha256, format}``) of a file path or a list of dicts."""
    if isinstance(source, (str, Path)):
        path = Path(source)
        rows, problems, sha = rows_from_file(path)
        for row in rows:  # a row's image files are found beside the batch file, wherever it is run from
            _relative_to(row.values, path.resolve().parent)
        return rows, problems, {"path": str(path.resolve()), "sha256": sha, "format": path.suffix.lower()[1:]}
    if isinstance(source, CsvText):
        rows, problems = rows_from_csv_text(source.text)
        sha = hashlib.sha256(source.text.encode("utf-8")).hexdigest()
        return rows, problems, {"path": None, "sha256": sha, "format": "csv"}
    if isinstance(source, (list, tuple)):
        rows, problems = rows_from_dicts(source)
        text = json.dumps([r.values for r in rows], sort_keys=True, default=str)
        return (
            rows,
            problems,
            {"path": None, "sha256": hashlib.sha256(text.encode()).hexdigest(), "format": "rows"},
        )
    raise ConfigError("a batch is a .csv or .jsonl path, or a list of rows", field="rows")


def _request_problems(data: dict[str, Any], labels: dict[str, str] | None = None) -> tuple[Any, list[str]]:
    """(RunRequest or None, every problem of its fields as one line each, named by ``labels``)."""
    from generate.pipeline import RunRequest

    try:
        return RunRequest.model_validate(data), []
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            where = ".".join(str(p) for p in err["loc"][:1]) or "row"
            label = (labels or {}).get(where, where)
            lines.append(human_message(err, label, field_bounds(RunRequest, where)))
        return None, lines


def _spans(numbers: list[int]) -> str:
    """``[2, 3, 4, 7]`` -> ``"2-4, 7"``."""
    spans: list[list[int]] = []
    for n in numbers:
        if spans and n == spans[-1][1] + 1:
            spans[-1][1] = n
        else:
            spans.append([n, n])
    return ", ".join(f"{a}-{b}" if b > a else str(a) for a, b in spans)


def _collapse(problems: list[str]) -> list[str]:
    """The same problem in three rows or more (missing credentials, a bad default) said once, with
    its rows: ``rows 2-201 (200 rows): ...``, at the place of its first row."""
    by_text: dict[str, list[int]] = {}
    for problem in problems:
        number = _row_of(problem)
        if number:
            by_text.setdefault(problem.split(": ", 1)[1], []).append(number)
    out, said = [], set()
    for problem in problems:
        number = _row_of(problem)
        text = problem.split(": ", 1)[1] if number else problem
        rows = by_text.get(text, []) if number else []
        if len(rows) < 3:
            out.append(problem)
        elif text not in said:
            said.add(text)
            out.append(f"rows {_spans(rows)} ({len(rows)} rows): {text}")
    return out


@dataclass
class PlannedRow:
    """A checked row, ready to run: its ``prepared`` run and worst-case cost."""

    number: int
    prepared: Any  # generate.pipeline.PreparedRun
    worst_case_usd: float


@dataclass
class PreparedBatch:
    """A checked batch and its manifest; run it with :func:`generate.batch_run.arun_prepared`."""

    pipeline: Any
    rows: list[PlannedRow]
    manifest: Any  # generate.batch_manifest.Manifest
    max_cost_usd: float | None = None
    parallel: int = 4
    resumed: bool = False
    closed: bool = field(default=False, repr=False)

    @property
    def batch_id(self) -> str:
        return self.manifest.batch_id

    def close(self) -> None:
        """Let go of the rows' adapters (a batch that will not run, or rows it skips)."""
        if not self.closed:
            self.closed = True
            for row in self.rows:
                row.prepared.adapter.close()


def _check_rows(
    pipeline, rows: list[BatchRow], defaults: dict[str, Any], forbidden: frozenset[str] = frozenset()
) -> tuple[list[PlannedRow], list[str]]:
    from generate.budget import planned_worst_case

    known = _known_fields() - forbidden
    planned: list[PlannedRow] = []
    problems: list[str] = []
    for row in rows:
        values = {_column(k): v for k, v in row.values.items()}
        unknown = sorted(k for k in values if k not in known)
        if unknown:
            problems.append(
                f"row {row.number}: unknown field{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}"
            )
            continue
        for name in _LIST_FIELDS & values.keys():
            if isinstance(values[name], str):
                values[name] = [values[name]]
        request, lines = _request_problems({**defaults, **values})
        if lines:
            problems.extend(f"row {row.number}: {line}" for line in lines)
            continue
        try:
            prepared = pipeline.validate(request)
        except ConfigError as exc:
            problems.append(f"row {row.number}: {exc}")
            continue
        worst = planned_worst_case(
            prepared.adapter,
            prepared.config,
            references=request.top_k + len(prepared.user_references),
            input_images=tuple(prepared.plan.input_images) if prepared.plan is not None else (),
        )
        planned.append(PlannedRow(row.number, prepared, worst))
    return planned, problems


def _row_of(problem: str) -> int:
    head = problem.split(":", 1)[0]
    return int(head[4:]) if head.startswith("row ") and head[4:].isdigit() else 0


def prepare_batch(
    pipeline,
    source: Any,
    *,
    defaults: dict[str, Any] | None = None,
    max_cost_usd: float | None = None,
    resume: str | None = None,
    parallel: int = 4,
    forbidden: frozenset[str] = frozenset(),
    labels: dict[str, str] | None = None,
    batch_api: bool = False,
) -> PreparedBatch:
    """Read and check every row (raising :class:`BatchInvalid` listing each problem), then find
    this batch's manifest (``resume``: by its id; else the newest for the same source and
    defaults) or create one. No model is called. ``forbidden``: fields no row may set (the HTTP
    service refuses server file paths: ``image``, ``references``). ``labels`` names the defaults
    the way the caller's user gave them (the CLI's flags). With ``max_cost_usd``, a row whose
    worst case alone is over it is a problem (it would stop the batch at that row), except for
    ``batch_api``: the job's whole worst case, at the batch price, is checked instead."""
    from generate.batch_manifest import Manifest, batches_root
    from generate.types import check_max_cost, default_output_root

    cap = check_max_cost(max_cost_usd)
    if isinstance(parallel, bool) or not isinstance(parallel, int) or parallel < 1:
        raise ConfigError(
            f"parallel must be a whole number of at least 1, got {parallel!r}", field="parallel"
        )
    defaults = {_column(k): v for k, v in (defaults or {}).items() if v is not None}
    unknown = sorted(set(defaults) - (_known_fields() - forbidden) - {"brief"})
    if unknown:
        raise ConfigError(
            f"unknown default{'s' if len(unknown) > 1 else ''}: {', '.join(unknown)}", field="defaults"
        )
    _, bad_defaults = _request_problems({"brief": "(the defaults)", **defaults}, labels)
    if bad_defaults:  # said once, not once per row
        raise ConfigError("; ".join(bad_defaults), field="defaults")
    rows, problems, record = read_rows(source)
    label = Path(record["path"]).name if record["path"] else "the batch"
    if len(rows) > MAX_BATCH_ROWS:
        raise ConfigError(
            f"{label} has {len(rows)} rows; a batch takes at most {MAX_BATCH_ROWS}", field="rows"
        )
    if not rows and not problems:
        problems.append(f"{label} has no rows")
    planned, row_problems = _check_rows(pipeline, rows, defaults, forbidden) if rows else ([], [])
    if cap is not None and not batch_api:  # such a row would stop the batch at it
        row_problems += [
            f"row {p.number}: could cost up to ${p.worst_case_usd:.4f} on its own, over the batch's "
            f"max_cost_usd ${cap:.4f}: raise the cap, or ask for fewer sketches, a smaller size or a "
            "cheaper model"
            for p in planned
            if p.worst_case_usd > cap + 1e-9
        ]
    # In file order, whichever stage found them; one line for a problem many rows share.
    problems = _collapse(sorted(problems + row_problems, key=_row_of))
    if problems:
        for row in planned:
            row.prepared.adapter.close()
        raise BatchInvalid(problems, label)
    root = batches_root(pipeline.output_dir if pipeline.output_dir is not None else default_output_root())
    try:
        if resume:
            manifest, resumed = Manifest.open(root, resume), True
            manifest.check_source(record)
        else:
            manifest, resumed = Manifest.find_or_create(root, record, defaults, planned)
        manifest.add_missing(planned)
        manifest.data["max_cost_usd"] = cap
    except BaseException:
        for row in planned:
            row.prepared.adapter.close()
        raise
    return PreparedBatch(pipeline, planned, manifest, cap, parallel, resumed)
