"""benchmarks/mutation_sample.py's arithmetic and its reading of mutmut's files (mutmut itself is not run here)."""

import importlib.util
import json
import math
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "mutation_sample.py"


@pytest.fixture
def sample_tool():
    spec = importlib.util.spec_from_file_location("mutation_sample", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_interval_is_wilsons(sample_tool):
    # 8 of 10: the textbook 95% Wilson interval is 0.490-0.943 (the normal one would pass 1.0).
    low, high = sample_tool.wilson(8, 10)
    assert low == pytest.approx(49.02, abs=0.01) and high == pytest.approx(94.33, abs=0.01)
    low, high = sample_tool.wilson(344, 400)
    assert low < 86.0 < high and high - low < 7.0
    assert all(math.isnan(bound) for bound in sample_tool.wilson(0, 0))


def test_verdicts_are_read_from_every_meta_file(sample_tool, tmp_path, monkeypatch):
    monkeypatch.setattr(sample_tool, "MUTANTS", tmp_path)
    folder = tmp_path / "src" / "scratchnn" / "nn"
    folder.mkdir(parents=True)
    codes = {"a__mutmut_1": 1, "a__mutmut_2": 0, "a__mutmut_3": None, "a__mutmut_4": 33, "a__mutmut_5": -24}
    (folder / "layers.py.meta").write_text(json.dumps({"exit_code_by_key": codes}))
    (folder / "conv.py.meta").write_text(json.dumps({"exit_code_by_key": {"b__mutmut_1": 99}}))
    assert sample_tool.verdicts() == {
        "a__mutmut_1": "killed",
        "a__mutmut_2": "survived",
        "a__mutmut_3": "not checked",
        "a__mutmut_4": "no tests",
        "a__mutmut_5": "timeout",
        "b__mutmut_1": "exit 99",
    }
