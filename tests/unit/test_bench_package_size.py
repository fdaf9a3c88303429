"""Package sizes (bench/package_size.py): CDK-style excludes, zipped size, largest top-level entries."""

from __future__ import annotations

from pathlib import Path

from bench import package_size


def test_an_asset_is_measured_as_cdk_packages_it(tmp_path: Path) -> None:
    root = tmp_path / "layer"
    (root / "python" / "big").mkdir(parents=True)
    (root / "python" / "small").mkdir()
    (root / "python" / "big" / "__pycache__").mkdir()
    (root / "python" / "big" / "data.txt").write_text("x" * 10_000)
    (root / "python" / "big" / "__pycache__" / "m.cpython-312.pyc").write_bytes(b"\0" * 5_000)
    (root / "python" / "small" / "m.py").write_text("y = 1\n")
    (root / ".fingerprint").write_text("abc")
    size = package_size.measure_asset("layer", root, [".*", "**/__pycache__"], top_level_under="python")
    assert size.exists and size.files == 2
    assert size.unzipped_bytes == 10_000 + 6
    assert 0 < size.zipped_bytes < size.unzipped_bytes
    assert [name for name, _ in size.largest] == ["big", "small"]
    assert not package_size.measure_asset("missing", tmp_path / "nope").exists
