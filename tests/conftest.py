import sys
from pathlib import Path

# The optimizer registry (tests/optim_cases.py) and the reference script are imported by name.
ROOT = Path(__file__).resolve().parents[1]
for folder in (ROOT / "tests", ROOT / "scripts"):
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))
