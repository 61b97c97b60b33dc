"""Print a digest of pyproject.toml's dependency lists (build, runtime, extras).

scripts/lock writes it at the top of each lock; tests/unit/test_lock.py compares, so a change
to the dependencies without a refreshed lock fails the suite instead of installing something
nobody chose.
"""

import hashlib
import json
import sys
import tomllib
from pathlib import Path


def digest(pyproject: Path) -> str:
    data = tomllib.loads(pyproject.read_text())
    project = data["project"]
    wanted = {
        "build": data["build-system"]["requires"],
        "dependencies": project.get("dependencies", []),
        "extras": project.get("optional-dependencies", {}),
    }
    return hashlib.sha256(json.dumps(wanted, sort_keys=True).encode()).hexdigest()[:16]


if __name__ == "__main__":
    root = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent.parent
    print(digest(root / "pyproject.toml"))
