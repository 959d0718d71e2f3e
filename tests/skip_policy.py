"""Why a test may be skipped, and which skips mean the suite did not really run.

A skipped test has not checked anything, so ``tests.py`` reads every skip
reason against :data:`SKIP_KINDS` and reports them grouped:

- an *optional* kind (an independent reference such as PyTorch, hardware such
  as a GPU) leaves the suite complete: ``All tests passed!`` is still printed,
  below a line that says what was skipped and how to run it;
- any other skip, including one no kind matches, means the suite did not
  really run: no success line, and a non-zero exit status;
- in CI (``$CI`` set, as CI services do), a skip whose cause CI can remove
  (``ci_provides``) fails the run, since there it would hide a regression.

Tests skip with the reason texts below (``dataset_missing_reason``,
``pytest.importorskip("torch")``), so the patterns stay in one place.
"""

import os
import re
from dataclasses import dataclass

from scratchnn.data import describe_search

DATASET_TITLES = {"mnist": "MNIST", "fashion-mnist": "Fashion-MNIST"}


@dataclass(frozen=True)
class SkipKind:
    """One reason tests may be skipped, recognised by a regular expression over the reason."""

    title: str
    pattern: str
    optional: bool
    ci_provides: bool
    advice: str

    def matches(self, reason: str) -> bool:
        return re.search(self.pattern, reason) is not None


SKIP_KINDS = (
    SkipKind(
        "real dataset not found",
        r"^real (MNIST|Fashion-MNIST) not found",
        optional=False,
        ci_provides=True,
        advice="`make test` downloads missing datasets into the user cache before the tests; or run "
        "`.venv/bin/scratchnn download mnist fashion-mnist`, or set SCRATCHNN_DATA to a folder "
        "holding mnist/ and fashion-mnist/ (Fashion-MNIST also comes with Debian's "
        "`apt install dataset-fashion-mnist`)",
    ),
    SkipKind(
        "PyTorch not installed (an optional independent reference)",
        r"could not import 'torch'|needs torch\b|^PyTorch not installed",
        optional=True,
        ci_provides=True,
        advice="`.venv/bin/pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu` "
        "(the CPU-only build, the version the `reference` extra pins; a plain `pip install torch` "
        "on Linux fetches a multi-GB CUDA build)",
    ),
    SkipKind(
        "a test dependency not installed",
        r"could not import '|\[test\]",
        optional=False,
        ci_provides=True,
        advice="`.venv/bin/pip install -e '.[test]'` (what `make test` installs)",
    ),
    SkipKind(
        "no browser (for the web tests)",
        r"^needs a browser",
        optional=True,
        ci_provides=True,
        advice="install Chromium (Debian: `apt install chromium`)",
    ),
    SkipKind(
        "no GPU",
        r"^needs a GPU",
        optional=True,
        ci_provides=False,
        advice="run them on a machine with a GPU",
    ),
    SkipKind(
        "not applicable yet (what they check does not exist in this version)",
        r"^not applicable:",
        optional=True,
        ci_provides=False,
        advice="nothing to do: they run once what they check exists (the reason says what)",
    ),
)

UNKNOWN = SkipKind(
    "a reason tests/skip_policy.py does not know",
    r"",
    optional=False,
    ci_provides=True,
    advice="give the skip a reason listed in tests/skip_policy.py (or add a kind there) so that it is "
    "counted as optional or not",
)


def kind_of(reason: str) -> SkipKind:
    """The kind a skip reason belongs to (:data:`UNKNOWN` when none matches)."""
    return next((kind for kind in SKIP_KINDS if kind.matches(reason)), UNKNOWN)


def in_ci() -> bool:
    """True where ``$CI`` says so (GitHub, GitLab and most CI services set CI=true)."""
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def dataset_missing_reason(name: str, error: str = "") -> str:
    """The skip reason of a test that needs the real dataset ``name``, saying where it was looked for."""
    looked = error or "looked in " + "; ".join(
        line.strip().removeprefix("- ") for line in describe_search(name).splitlines()
    )
    return (
        f"real {DATASET_TITLES[name]} not found ({looked}); `make test` downloads it, or run "
        f"`.venv/bin/scratchnn download {name}`"
    )
