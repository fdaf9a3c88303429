"""Package sizes: what CDK uploads for the functions, against Lambda's 250 MB unzipped limit.

Each asset is measured the way ``stacks/api_stack.py`` packages it (``Code.from_asset`` with its
``exclude`` patterns): every file under the folder, minus the excluded ones, zipped with DEFLATE at
zlib's default level (CDK's zip writer, yazl, uses the same). The limit applies to one function's code
plus all its layers, unzipped: every function gets both layers and the shared functions asset.
"""

from __future__ import annotations

import fnmatch
import os
import tempfile
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
DEPENDENCY_LAYER_DIR = REPO_ROOT / ".build" / "dependency-layer"
SHARED_LAYER_DIR = REPO_ROOT / "layers" / "shared"
FUNCTIONS_DIR = REPO_ROOT / "functions"
LAMBDA_UNZIPPED_LIMIT_BYTES = 262_144_000  # "250 MB": 250 MiB, code and layers together, unzipped
MB = 1_000_000


@dataclass
class AssetSize:
    name: str
    path: Path
    exists: bool
    files: int = 0
    unzipped_bytes: int = 0
    zipped_bytes: int = 0
    largest: list[tuple[str, int]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"path": str(self.path.relative_to(REPO_ROOT)), "exists": self.exists, "files": self.files,
                "unzipped_bytes": self.unzipped_bytes, "zipped_bytes": self.zipped_bytes,
                "largest_top_level": [{"name": n, "bytes": b} for n, b in self.largest]}


def _excluded_by(patterns: Iterable[str]) -> Callable[[str], bool]:
    """CDK-style exclude globs matched against the path relative to the asset root (``/`` separated)."""
    compiled = list(patterns)

    def excluded(relative: str) -> bool:
        parts = relative.split("/")
        for pattern in compiled:
            bare = pattern.removeprefix("**/")
            if fnmatch.fnmatch(relative, pattern) or any(fnmatch.fnmatch(p, bare) for p in parts):
                return True
        return False

    return excluded


def asset_files(root: Path, exclude: Iterable[str] = ()) -> list[tuple[str, Path]]:
    """(relative path, file) for every file CDK would put in the asset of ``root``."""
    excluded = _excluded_by(exclude)
    out: list[tuple[str, Path]] = []
    for directory, dirnames, filenames in os.walk(root):
        rel_dir = Path(directory).relative_to(root).as_posix()
        dirnames[:] = [d for d in dirnames if not excluded(d if rel_dir == "." else f"{rel_dir}/{d}")]
        for filename in filenames:
            relative = filename if rel_dir == "." else f"{rel_dir}/{filename}"
            if not excluded(relative):
                out.append((relative, Path(directory) / filename))
    return sorted(out)


def zipped_size(files: Iterable[tuple[str, Path]]) -> int:
    """Bytes of the zip CDK would upload (DEFLATE, default level), written to a temporary file."""
    with tempfile.TemporaryFile() as handle:
        with zipfile.ZipFile(handle, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for relative, path in files:
                archive.write(path, relative)
        return handle.tell()


def measure_asset(name: str, root: Path, exclude: Iterable[str] = (), *, top_level_under: str | None = None,
                  top: int = 10) -> AssetSize:
    """Sizes of one asset; ``top_level_under`` names the folder whose top-level entries are ranked."""
    if not root.is_dir():
        return AssetSize(name, root, exists=False)
    files = asset_files(root, exclude)
    size = AssetSize(name, root, True, len(files), sum(p.stat().st_size for _, p in files), zipped_size(files))
    if top_level_under is not None:
        totals: dict[str, int] = {}
        prefix = top_level_under.rstrip("/") + "/"
        for relative, path in files:
            if relative.startswith(prefix):
                entry = relative[len(prefix):].split("/", 1)[0]
                totals[entry] = totals.get(entry, 0) + path.stat().st_size
        size.largest = sorted(totals.items(), key=lambda kv: -kv[1])[:top]
    return size


def run() -> list[AssetSize]:
    """The three assets every function is deployed with (patterns from stacks/api_stack.py)."""
    return [
        measure_asset("dependency layer (.build/dependency-layer)", DEPENDENCY_LAYER_DIR, [".*"],
                      top_level_under="python"),
        measure_asset("shared-code layer (layers/shared)", SHARED_LAYER_DIR, ["**/__pycache__", "**/*.pyc"]),
        measure_asset("functions code (functions/)", FUNCTIONS_DIR, ["**/__pycache__", "**/*.pyc"]),
    ]
