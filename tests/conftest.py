import sys
from pathlib import Path

# Tests import the package from src/ even when it is not installed, and the
# shared helpers (gradcheck) from this folder.
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "tests"))
