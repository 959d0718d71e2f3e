"""The metrics history of a run, written as JSON and CSV (atomically)."""

import csv
import io
import json

from ..atomic import atomic_write_text


def write_metrics(run_dir, history):
    """``metrics.json`` (a list of per-epoch rows) and ``metrics.csv`` (a table)."""
    atomic_write_text(run_dir / "metrics.json", json.dumps(history, indent=1) + "\n")
    columns = []
    for row in history:
        columns += [key for key in row if key not in columns]
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(history)
    atomic_write_text(run_dir / "metrics.csv", text.getvalue())
