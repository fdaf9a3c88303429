"""Stripe's form encoding: bracket keys into nested dicts, and typed access with Stripe's errors.

The library sends `metadata[booking_id]=b1`, `transfer_data[destination]=acct_1`, lists as
`expand[0]=latest_charge` (curl users write `expand[]=...`), booleans as `true`/`false` and every
number as text. Stripe knows each field's type from its schema; `Params` plays that role per field.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from .errors import StripeApiError, invalid, missing_param

_KEY = re.compile(r"^([^\[\]]+)((?:\[[^\[\]]*\])*)$")
_PART = re.compile(r"\[([^\[\]]*)\]")
# Free-form maps whose keys may look like list indexes (metadata[0]=...) and must stay dicts.
_MAP_FIELDS = frozenset({"metadata"})


def parse_form(pairs: Iterable[tuple[str, str]]) -> dict[str, Any]:
    """Turn decoded form pairs into nested dicts/lists (`a[b][c]=v`, `a[]=v`, `a[0]=v`)."""
    root: dict[str, Any] = {}
    for raw_key, value in pairs:
        match = _KEY.match(raw_key)
        if match is None:
            raise invalid(f"Invalid parameter name: {raw_key}", param=raw_key)
        path = [match.group(1), *_PART.findall(match.group(2))]
        node = root
        for depth, part in enumerate(path):
            # `a[]` appends: give it the next free index, listified below like `a[0]`.
            key = str(len(node)) if part == "" else part
            if depth == len(path) - 1:
                if isinstance(node.get(key), dict):
                    raise invalid(f"Invalid parameter: {raw_key} is both a value and a hash", param=raw_key)
                node[key] = value
                break
            child = node.setdefault(key, {})
            if not isinstance(child, dict):
                raise invalid(f"Invalid parameter: {raw_key} is both a value and a hash", param=raw_key)
            node = child
    return _listify(root, parent=None)


def _listify(node: dict[str, Any], parent: str | None) -> Any:
    converted = {
        key: _listify(value, key) if isinstance(value, dict) else value for key, value in node.items()
    }
    if parent not in _MAP_FIELDS and converted and all(key.isdigit() for key in converted):
        return [converted[key] for key in sorted(converted, key=int)]
    return converted


class Params:
    """Typed, validated access to one request's parameters, named like Stripe names them."""

    def __init__(self, data: Mapping[str, Any], prefix: str = "") -> None:
        self.data = dict(data)
        self._prefix = prefix

    def name(self, key: str) -> str:
        return f"{self._prefix}[{key}]" if self._prefix else key

    def __contains__(self, key: str) -> bool:
        return key in self.data

    def only(self, *allowed: str) -> Params:
        """Reject unknown top-level parameters (Stripe does; it catches typos in the caller)."""
        for key in self.data:
            if key not in allowed and key != "expand":
                raise StripeApiError(
                    400, f"Received unknown parameter: {self.name(key)}", param=self.name(key),
                    code="parameter_unknown",
                )
        return self

    def raw(self, key: str) -> Any:
        return self.data.get(key)

    def string(self, key: str, *, required: bool = False, default: str | None = None) -> str | None:
        value = self.data.get(key)
        if value is None or value == "":
            if required:
                raise missing_param(self.name(key))
            return default
        if not isinstance(value, str):
            raise invalid(f"Invalid string: {self.name(key)} must be a string", param=self.name(key))
        return value

    def req_str(self, key: str) -> str:
        value = self.string(key, required=True)
        assert value is not None
        return value

    def choice(self, key: str, choices: tuple[str, ...], *, default: str | None = None) -> str | None:
        value = self.string(key, default=default)
        if value is not None and value not in choices:
            raise invalid(
                f"Invalid {self.name(key)}: must be one of {', '.join(choices)}", param=self.name(key)
            )
        return value

    def integer(self, key: str, *, required: bool = False, minimum: int | None = None) -> int | None:
        value = self.data.get(key)
        if value is None or value == "":
            if required:
                raise missing_param(self.name(key))
            return None
        if isinstance(value, bool) or not (isinstance(value, int) or re.fullmatch(r"-?\d+", str(value))):
            raise StripeApiError(
                400, f"Invalid integer: {value}", param=self.name(key), code="parameter_invalid_integer"
            )
        number = int(value)
        if minimum is not None and number < minimum:
            raise invalid(
                f"Invalid {self.name(key)}: must be at least {minimum}", param=self.name(key)
            )
        return number

    def req_int(self, key: str, *, minimum: int | None = None) -> int:
        value = self.integer(key, required=True, minimum=minimum)
        assert value is not None
        return value

    def boolean(self, key: str, *, default: bool = False) -> bool:
        value = self.data.get(key)
        if value is None or value == "":
            return default
        if isinstance(value, bool):
            return value
        if value in ("true", "false"):
            return value == "true"
        raise invalid(f"Invalid boolean: {value}", param=self.name(key))

    def hash(self, key: str) -> Params | None:
        value = self.data.get(key)
        if value is None or value == "":
            return None
        if not isinstance(value, dict):
            raise invalid(f"Invalid hash: {self.name(key)} must be a hash", param=self.name(key))
        return Params(value, self.name(key))

    def array(self, key: str) -> list[Any] | None:
        value = self.data.get(key)
        if value is None or value == "":
            return None
        if isinstance(value, str):
            # A single value without brackets; Stripe rejects it, but being lenient costs nothing here.
            return [value]
        if not isinstance(value, list):
            raise invalid(f"Invalid array: {self.name(key)} must be an array", param=self.name(key))
        return value

    def metadata(self, key: str = "metadata") -> dict[str, str] | None:
        """Stripe metadata: string keys/values, at most 50 keys, keys ≤ 40 and values ≤ 500 chars.

        An empty value means "unset this key", an empty `metadata=` means "unset all"; the caller
        merges (see `merge_metadata`)."""
        value = self.data.get(key)
        if value is None:
            return None
        if value == "":
            return {}
        if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
            raise invalid("Invalid metadata: must be a hash of strings", param=self.name(key))
        if len(value) > 50:
            raise invalid("Invalid metadata: at most 50 keys are allowed", param=self.name(key))
        for meta_key, meta_value in value.items():
            if len(meta_key) > 40 or len(meta_value) > 500:
                raise invalid(
                    "Invalid metadata: keys are limited to 40 characters and values to 500",
                    param=f"{self.name(key)}[{meta_key}]",
                )
        return dict(value)


def merge_metadata(current: dict[str, str], update: dict[str, str] | None, *, replace: bool) -> dict[str, str]:
    """Apply a metadata parameter like Stripe: on create keep non-empty values; on update merge and
    treat an empty value as deletion, an empty hash (`metadata=`) as clearing everything."""
    if update is None:
        return current
    if not update:
        return {}
    merged = {} if replace else dict(current)
    for key, value in update.items():
        if value == "":
            merged.pop(key, None)
        else:
            merged[key] = value
    return merged
