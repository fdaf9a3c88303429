"""A module imported on first attribute access, for a heavy dependency that only some paths use.

Cold start (issue #8): ``h3 = lazy_module("h3.api.basic_int")`` costs nothing at import; the first
``h3.latlng_to_cell(...)`` imports H3, and from then on attribute access is plain. Keep the real import
under ``if TYPE_CHECKING:`` so type checkers still see the module.

Why not the standard library's ``importlib.util.LazyLoader``: it needs ``find_spec(name)`` first, which
imports the parent packages, and ``h3/__init__`` imports the whole API (measured: ``find_spec`` of
``h3.api.basic_int`` already loads it, ~36 ms), so nothing would be deferred.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any


class LazyModule(ModuleType):
    """Stands in for module ``__name__`` until an attribute is first read."""

    def __getattr__(self, attribute: str) -> Any:
        # Only called for attributes not yet copied: the first access, or a name the module lacks.
        module = importlib.import_module(self.__name__)
        self.__dict__.update({k: v for k, v in vars(module).items() if not k.startswith("__")})
        return getattr(module, attribute)


def lazy_module(name: str) -> ModuleType:
    return LazyModule(name)
