"""Run the whole test suite; end with `All tests passed!` when it really did.

Every skipped test is counted and reported, grouped by reason, with what to do
to run it (see tests/skip_policy.py). `All tests passed!` is printed, and the
exit status is 0, only when no test failed and every skip was optional (e.g.
PyTorch, the independent reference, not installed). Tests skipped because the
real datasets were not found mean the suite did not really run. In CI ($CI
set) any skip CI can remove fails the run.

The tests find the datasets as scratchnn does (--data-dir, $SCRATCHNN_DATA,
the user cache, a system copy); `make test` first downloads any that is
missing. In a development checkout with ../shared/data beside it, that folder
is used as $SCRATCHNN_DATA (tests/conftest.py), as CI does. Extra arguments go to pytest, e.g.
`python tests.py -k idx` or `python tests.py --data-dir DIR`.
"""

import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "tests"))
import pytest  # noqa: E402
from skip_policy import in_ci, kind_of  # noqa: E402


class SkipCounter:
    """A pytest plugin that collects the reason of every skipped test or module."""

    def __init__(self):
        self.reasons = []

    def _record(self, report):
        # An expected failure (xfail) is reported as skipped too; it did run.
        if report.skipped and not hasattr(report, "wasxfail") and isinstance(report.longrepr, tuple):
            self.reasons.append(report.longrepr[2].removeprefix("Skipped: "))

    def pytest_runtest_logreport(self, report):
        self._record(report)

    def pytest_collectreport(self, report):
        self._record(report)


def skip_summary(reasons, ci):
    """The report's lines, and whether the skips leave the run complete."""
    if not reasons:
        return [], True
    groups = defaultdict(list)
    for reason in reasons:
        groups[kind_of(reason)].append(reason)
    lines = [f"{len(reasons)} test{'s' * (len(reasons) != 1)} skipped:"]
    complete = True
    for kind, members in groups.items():
        fails = not kind.optional or (ci and kind.ci_provides)
        complete &= not fails
        label = "NOT RUN" if not kind.optional else ("CI must run these" if fails else "optional")
        lines.append(f"  {len(members):4d}  {label}: {kind.title}")
        for reason in sorted(set(members)):
            lines.append(f"        {members.count(reason):4d}  {reason}")
        lines.append(f"        to run them: {kind.advice}")
    return lines, complete


def main(args):
    counter = SkipCounter()
    code = pytest.main([str(ROOT / "tests"), "-q", *args], plugins=[counter])
    lines, complete = skip_summary(counter.reasons, in_ci())
    if lines:
        print("\n".join(lines))
    if code == 0 and complete:
        print("All tests passed!")
        return 0
    if code == 0:
        print(
            "Not all tests ran: the skips marked above mean part of the suite did not run"
            + (" (in CI every test CI can provide for must run)" if in_ci() else "")
            + "."
        )
        return 1
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
