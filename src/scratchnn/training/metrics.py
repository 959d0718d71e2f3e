"""The metrics history of a run, written as JSON and CSV (atomically)."""

import csv
import io
import json
import math

from ..atomic import atomic_write_text


def _json_value(value):
    """JSON has no NaN or infinity: such a value is written as null (empty in the CSV)."""
    return None if isinstance(value, float) and not math.isfinite(value) else value


def write_metrics(run_dir, history):
    """``metrics.json`` (a list of per-epoch rows) and ``metrics.csv`` (a table)."""
    history = [{key: _json_value(value) for key, value in row.items()} for row in history]
    atomic_write_text(run_dir / "metrics.json", json.dumps(history, indent=1, allow_nan=False) + "\n")
    columns = []
    for row in history:
        columns += [key for key in row if key not in columns]
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(history)
    atomic_write_text(run_dir / "metrics.csv", text.getvalue())
