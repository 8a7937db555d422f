"""Without the optional extras (PyTorch, scikit-learn, matplotlib, rich, typer, numba) the network, data,
training and estimator tests still collect and run: a test that needs an extra skips, every other one passes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

OPTIONAL = ("torch", "sklearn", "matplotlib", "rich", "typer", "numba")
TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent
# A None entry in sys.modules makes `import name` (and `import name.sub`) raise ModuleNotFoundError.
RUNNER = f"""
import sys
for name in {OPTIONAL!r}:
    sys.modules[name] = None
import pytest
sys.exit(pytest.main(sys.argv[1:]))
"""


def test_the_suite_runs_without_the_optional_packages() -> None:
    files = sorted(
        str(path.relative_to(ROOT))
        for pattern in ("test_nn*.py", "test_data*.py", "test_train*.py", "test_sklearn*.py")
        for path in TESTS.glob(pattern)
        if path.name != Path(__file__).name
    )
    result = subprocess.run(
        [sys.executable, "-c", RUNNER, "-q", "-p", "no:cacheprovider", "-rs", *files],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    report = result.stdout[-4000:] + result.stderr[-2000:]
    assert result.returncode == 0, report
    assert "could not import 'torch'" in report and "could not import 'sklearn'" in report, report
    assert "could not import 'numba'" in report, report  # the fused-kernel tests skipped: NumPy code ran
