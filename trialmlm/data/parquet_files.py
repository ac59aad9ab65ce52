"""The files of a Parquet dataset and one schema for all of them, read from the files'
footers (metadata only) before any row is read.

A dataset whose files disagree on a column's kind (text in one file, numbers in another) is
a :class:`~trialmlm.errors.DataError` naming the column, the types and the files; without
the check Dask takes the first file's type, so that numbers after text become a factor of
every distinct value, and text after numbers a raw conversion error deep in a reduction.  A
column stored with Arrow's null type (a file in which it is all missing) takes the type of
the other files (float64 when no file has another), so that it is read as missing values.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import DataError

_SHOWN = 3  # files listed per type in an error message


def _kind(arrow_type) -> str:
    """The kind of an Arrow type that matters for a model column: numbers, text, ..."""
    import pyarrow as pa

    t = arrow_type.value_type if pa.types.is_dictionary(arrow_type) else arrow_type
    if pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t):
        return "numbers"
    if pa.types.is_string(t) or pa.types.is_large_string(t) or getattr(pa.types, "is_string_view",
                                                                        lambda _: False)(t):
        return "text"
    if pa.types.is_boolean(t):
        return "true/false"
    if pa.types.is_temporal(t):
        return "dates/times"
    return str(t)


def _not_a_dataset(path: Path) -> DataError:
    if path.suffix.lower() in (".csv", ".xpt", ".sas7bdat", ".txt", ".tsv"):
        return DataError(f"data='{path}' is a {path.suffix[1:].upper()} file, but a path given as data "
                         "means a Parquet dataset (a .parquet file or a folder of them); read the file "
                         "first with trialmlm.read (or pandas) and pass the DataFrame")
    return DataError(f"data='{path}' is not a Parquet dataset: a path given as data must be a .parquet file "
                     "or a folder of .parquet files")


def dataset_files(path: str | os.PathLike) -> tuple[list[str], list[str]]:
    """The Parquet files of the dataset at ``path`` (a file or a folder, searched as
    ``pyarrow.dataset`` and Dask search it: names starting with ``_`` or ``.`` left out) and
    the columns of its hive partitioning (``TRT01P=Placebo/`` folders; none for a file).

    Raises
    ------
    DataError
        No such path; a file that is not ``.parquet`` (a CSV file: read it with
        :func:`trialmlm.read`); a folder without Parquet files.
    """
    import pyarrow.dataset as ds

    path = Path(path)
    if not path.exists():
        raise DataError(f"no Parquet dataset at '{path}'")
    if path.is_file():
        if path.suffix.lower() not in (".parquet", ".parq", ".pq"):
            raise _not_a_dataset(path)
        return [str(path)], []
    files = sorted(ds.dataset(str(path), format="parquet", exclude_invalid_files=False).files)
    if not files:
        raise DataError(f"Parquet dataset folder '{path}' holds no Parquet files")
    folders = {part.split("=")[0] for name in files for part in Path(name).relative_to(path).parts[:-1]
               if "=" in part}
    return files, sorted(folders)


def dataset_schema(path: str | os.PathLike):
    """One ``pyarrow.Schema`` to read every file of the dataset at ``path`` with (module
    docstring): columns of one kind in every file unified (int64 and double: double),
    null-typed columns given the other files' type or float64; None when every file already
    has that schema (Dask's own reading is then right, hive partitioning included).

    Raises
    ------
    DataError
        From :func:`dataset_files`; a file that is not Parquet or is corrupt (named, with
        pyarrow's reason); a column with values of different kinds in different files
        (the column, each type and the files that have it); files of a hive-partitioned
        dataset (``TRT01P=Placebo/`` folders) whose types differ, which Dask cannot read
        with one schema.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    files, partitions = dataset_files(path)
    schemas = []
    for name in files:
        try:
            schemas.append(pq.read_schema(name))
        except (pa.ArrowException, OSError) as exc:
            raise DataError(f"Parquet file '{name}' of dataset '{os.fspath(path)}' cannot be read "
                            f"(corrupt or not Parquet): {exc}") from None
    _check_kinds(path, files, schemas)
    try:
        unified = pa.unify_schemas(schemas, promote_options="permissive")
    except (pa.ArrowException, TypeError) as exc:
        raise DataError(f"the files of Parquet dataset '{os.fspath(path)}' have incompatible column types: "
                        f"{exc}") from None
    null = [i for i, f in enumerate(unified) if pa.types.is_null(f.type)]
    for i in null:  # missing in every file: read as float64 NaN (as pandas reads an empty column)
        unified = unified.set(i, unified.field(i).with_type(pa.float64()))
    if all(schema.equals(unified) for schema in schemas):
        return None
    if partitions:
        raise DataError(f"the files of the partitioned Parquet dataset '{os.fspath(path)}' store columns "
                        f"with different types ({_differences(files, schemas, unified)}); write them with "
                        "one type in every file")
    return unified


def _differences(files: list[str], schemas: list, unified) -> str:
    """The first column whose type differs from ``unified`` in a file, in words."""
    for name, schema in zip(files, schemas):
        for f in schema:
            if f.type != unified.field(f.name).type:
                return f"'{f.name}' is {f.type} in {Path(name).name}, {unified.field(f.name).type} elsewhere"
    return "columns missing from some files"


def _check_kinds(path, files: list[str], schemas: list) -> None:
    """DataError for the first column stored with values of different kinds in different files."""
    import pyarrow as pa

    by_column: dict[str, dict[str, dict[str, list[str]]]] = {}
    for name, schema in zip(files, schemas):
        for f in schema:
            if not pa.types.is_null(f.type):
                kinds = by_column.setdefault(f.name, {})
                kinds.setdefault(_kind(f.type), {}).setdefault(str(f.type), []).append(Path(name).name)
    for column, kinds in by_column.items():
        if len(kinds) > 1:
            parts = []
            for kind, types in kinds.items():
                for arrow_type, names in types.items():
                    more = f" and {len(names) - _SHOWN} more" if len(names) > _SHOWN else ""
                    parts.append(f"{kind} ({arrow_type}) in {', '.join(names[:_SHOWN])}{more}")
            raise DataError(f"column '{column}' of Parquet dataset '{os.fspath(path)}' holds different types "
                            f"in different files: {'; '.join(parts)}; write it with one type in every file")
