"""Build the Lambda dependency layer from requirements.txt without Docker.

pip downloads manylinux wheels for CPython 3.12 on x86_64 (the functions' runtime and architecture)
into ``.build/dependency-layer/python``, the layout Lambda expects under ``/opt``. Nothing is compiled
locally (``--only-binary=:all:``), so the host's Python version and OS do not leak into the layer.

boto3, botocore and s3transfer are removed after the install: the Lambda runtime ships them, and some
of our dependencies (pynamodb, aws-xray-sdk) pull botocore in transitively, so pip alone cannot leave
them out.

The build is skipped when the fingerprint of requirements.txt and of the pip target (platform,
Python version) is the one stored in the output folder, so calling it before every synth is cheap.
The new layer is built next to the old one and swapped in at the end: an interrupted build never
leaves a half-filled folder behind a valid fingerprint.

Usage::

    python layers/build_dependency_layer.py [--force]
"""

from __future__ import annotations

import argparse
import hashlib
import shutil
import subprocess
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
REQUIREMENTS = REPO_ROOT / "requirements.txt"
OUTPUT_DIR = REPO_ROOT / ".build" / "dependency-layer"
FINGERPRINT_FILE = ".requirements.sha256"

# Must match the functions' runtime and architecture in stacks/api_stack.py.
PLATFORM = "manylinux2014_x86_64"
PYTHON_VERSION = "3.12"
# Provided by the Lambda Python runtime; shipping our own copy would only add megabytes.
RUNTIME_PROVIDED = ("boto3", "botocore", "s3transfer")


def fingerprint(requirements: Path) -> str:
    """Hash of everything that decides the layer's content."""
    digest = hashlib.sha256(requirements.read_bytes())
    digest.update(f"|{PLATFORM}|{PYTHON_VERSION}|{','.join(RUNTIME_PROVIDED)}".encode())
    return digest.hexdigest()


def is_current(output_dir: Path = OUTPUT_DIR, requirements: Path = REQUIREMENTS) -> bool:
    """True when ``output_dir`` holds a complete layer built from this ``requirements`` file."""
    stamp = output_dir / FINGERPRINT_FILE
    return (output_dir / "python").is_dir() and stamp.is_file() and (
        stamp.read_text().strip() == fingerprint(requirements)
    )


def _remove_runtime_provided(site: Path) -> None:
    for name in RUNTIME_PROVIDED:
        shutil.rmtree(site / name, ignore_errors=True)
        for dist_info in site.glob(f"{name}-*.dist-info"):
            shutil.rmtree(dist_info)
    # Console scripts are useless inside a layer.
    shutil.rmtree(site / "bin", ignore_errors=True)


def build(
    output_dir: Path = OUTPUT_DIR, requirements: Path = REQUIREMENTS, *, force: bool = False
) -> bool:
    """Build the layer into ``output_dir/python``; return False when it was already current."""
    if not force and is_current(output_dir, requirements):
        return False
    staging = output_dir.with_name(output_dir.name + ".tmp")
    shutil.rmtree(staging, ignore_errors=True)
    site = staging / "python"
    command = [
        sys.executable, "-m", "pip", "install",
        "--quiet", "--disable-pip-version-check", "--no-compile",
        "--platform", PLATFORM,
        "--only-binary=:all:",
        "--python-version", PYTHON_VERSION,
        "--implementation", "cp",
        "--target", str(site),
        "-r", str(requirements),
    ]
    subprocess.run(command, check=True)  # noqa: S603 - fixed argv, no shell
    _remove_runtime_provided(site)
    (staging / FINGERPRINT_FILE).write_text(fingerprint(requirements) + "\n")
    shutil.rmtree(output_dir, ignore_errors=True)
    staging.rename(output_dir)
    return True


def _size_mb(path: Path) -> float:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 1_000_000


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--force", action="store_true", help="rebuild even if requirements are unchanged")
    args = parser.parse_args(argv)
    started = time.monotonic()
    built = build(force=args.force)
    where = OUTPUT_DIR.relative_to(REPO_ROOT)
    if built:
        print(
            f"dependency layer built in {time.monotonic() - started:.1f} s: "
            f"{where}/python, {_size_mb(OUTPUT_DIR / 'python'):.1f} MB"
        )
    else:
        print(f"dependency layer up to date: {where}/python")
    return 0


if __name__ == "__main__":
    sys.exit(main())
