"""Estimate the mutation score of nn/ and training/ from a uniform random sample of mutants.

A full ``make mutation`` run is about 3,900 mutants: hours on two cores. mutmut
checks the mutants it expects to be fastest first, so a run stopped early
measures a biased part (quick, well-tested functions). A seeded uniform sample
of the same mutants gives an unbiased estimate and a confidence interval:

1. ``mutmut run`` with a name that matches no mutant: it writes every mutant
   into ``mutants/`` and maps each function to the tests that reach it, then stops.
2. ``--size`` mutant names drawn uniformly (``--seed``) from all of them.
3. ``mutmut run`` on those names (configuration: ``[tool.mutmut]`` in pyproject.toml).
4. Every mutant mutmut reports as survived or timed out is run again alone, as
   mutmut runs it (``MUTANT_UNDER_TEST`` set, its mapped tests, ``pytest -x``),
   because mutmut's verdicts under load have been wrong in both directions here.
   Both counts are printed.

Score = killed / (killed + survived + no tests): a mutant that no test in
tests/nn or tests/training reaches counts against the score. Timeouts are
listed and left out of both sides.

    OPENBLAS_NUM_THREADS=1 .venv/bin/python benchmarks/mutation_sample.py --size 400 --seed 0
"""

import argparse
import json
import math
import os
import random
import shutil
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MUTANTS = ROOT / "mutants"
MUTMUT = [sys.executable, "-m", "mutmut"]

# mutmut's exit codes, as mutmut.stats reads them.
VERDICT = {
    1: "killed",
    3: "killed",
    0: "survived",
    5: "no tests",
    33: "no tests",
    34: "skipped",
    36: "timeout",
    -24: "timeout",
    24: "timeout",
    152: "timeout",
    255: "timeout",
    37: "type check",
}
RECHECK_LIMIT_S = 600


def verdicts():
    """{mutant name: mutmut's verdict} from the ``.meta`` files under mutants/."""
    found = {}
    for meta in sorted((MUTANTS / "src").rglob("*.py.meta")):
        for name, code in json.loads(meta.read_text())["exit_code_by_key"].items():
            found[name] = "not checked" if code is None else VERDICT.get(code, f"exit {code}")
    return found


def generate(env):
    """Write the mutants and the test map; mutmut then refuses the empty selection (expected)."""
    subprocess.run(
        [*MUTMUT, "run", "--max-children", "1", "no-such-mutant"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    if not verdicts() or not (MUTANTS / "mutmut-stats.json").exists():
        sys.exit("mutation_sample: mutmut wrote no mutants or no test map; run `mutmut run` to see why")


def recheck(name, tests_by_function, duration_by_test, env):
    """Run one mutant's mapped tests, fastest first, as mutmut does; return the verdict."""
    function = name.rsplit("__mutmut_", 1)[0]
    tests = sorted(tests_by_function.get(function, []), key=lambda test: duration_by_test.get(test, 0.0))
    if not tests:
        return "no tests"
    try:
        done = subprocess.run(
            [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *tests],
            cwd=MUTANTS,
            env=dict(env, MUTANT_UNDER_TEST=name, PYTHONPATH="src"),
            capture_output=True,
            text=True,
            timeout=RECHECK_LIMIT_S,
        )
    except subprocess.TimeoutExpired:
        return "timeout"
    return {0: "survived", 1: "killed"}.get(done.returncode, f"exit {done.returncode}")


def wilson(hits, n, z=1.96):
    """The 95% Wilson score interval of a proportion, in percent."""
    if n == 0:
        return math.nan, math.nan
    p = hits / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return 100 * (centre - half), 100 * (centre + half)


def report(title, verdict_by_name):
    counts = Counter(verdict_by_name.values())
    killed, survived, untested = counts["killed"], counts["survived"], counts["no tests"]
    judged = killed + survived + untested
    low, high = wilson(killed, judged)
    print(f"\n{title}: " + ", ".join(f"{verdict} {n}" for verdict, n in sorted(counts.items())))
    print(
        f"  score killed / (killed + survived + no tests) = {killed}/{judged} = "
        f"{100 * killed / max(judged, 1):.1f}%  (95% interval {low:.1f}-{high:.1f}%)"
    )
    modules = sorted({name.split(".x")[0] for name in verdict_by_name})
    for module in modules:
        mine = Counter(v for n, v in verdict_by_name.items() if n.split(".x")[0] == module)
        print(f"  {module:36s} " + "  ".join(f"{verdict} {n}" for verdict, n in sorted(mine.items())))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=400, help="mutants in the sample (default 400)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the draw (default 0)")
    parser.add_argument("--children", type=int, default=2, help="mutmut's parallel test processes")
    parser.add_argument("--reuse", action="store_true", help="keep mutants/ from an earlier run of the same code")
    args = parser.parse_args()
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", MPLBACKEND="Agg")

    started = time.monotonic()
    if not args.reuse:
        shutil.rmtree(MUTANTS, ignore_errors=True)
        generate(env)
    everything = sorted(verdicts())
    sample = sorted(random.Random(args.seed).sample(everything, min(args.size, len(everything))))
    print(f"{len(everything)} mutants; sample of {len(sample)} (seed {args.seed})", flush=True)

    subprocess.run(
        [*MUTMUT, "run", "--max-children", str(args.children), *sample], cwd=ROOT, env=env, stdout=subprocess.DEVNULL
    )
    found = verdicts()  # read the .meta files once, not once per mutant
    by_mutmut = {name: found[name] for name in sample}
    report("mutmut's verdicts", by_mutmut)

    stats = json.loads((MUTANTS / "mutmut-stats.json").read_text())
    rechecked = dict(by_mutmut)
    for name, verdict in by_mutmut.items():
        if verdict in ("survived", "timeout", "not checked"):
            rechecked[name] = recheck(name, stats["tests_by_mangled_function_name"], stats["duration_by_test"], env)
            print(f"  recheck {name}: {verdict} -> {rechecked[name]}", flush=True)
    report("after running each survivor and timeout alone", rechecked)
    print("\nnot killed:")
    for name, verdict in sorted(rechecked.items()):
        if verdict != "killed":
            print(f"  {verdict:9s} {name}")
    print(f"\n{time.monotonic() - started:.0f} s")


if __name__ == "__main__":
    main()
