"""driveway_hub.lazy: a module imported on first attribute access (cold start, issue #8)."""

from __future__ import annotations

import sys

import pytest

from driveway_hub.lazy import lazy_module


def test_the_module_is_imported_on_first_use_and_then_read_directly(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delitem(sys.modules, "colorsys", raising=False)
    colorsys = lazy_module("colorsys")
    assert "colorsys" not in sys.modules
    assert colorsys.rgb_to_hsv(1.0, 0.0, 0.0) == (0.0, 1.0, 1.0)
    assert "colorsys" in sys.modules
    assert colorsys.__dict__["rgb_to_hsv"] is sys.modules["colorsys"].rgb_to_hsv  # copied: no second lookup


def test_a_missing_name_is_an_attribute_error() -> None:
    json = lazy_module("json")
    with pytest.raises(AttributeError):
        _ = json.no_such_function
