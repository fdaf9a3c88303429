"""PynamoDB base model bound to a table from settings, not from the environment at import time.

A handler calls ``bind_models(get_settings())`` on its first invocation; tests and the local cloud
can therefore set the environment before binding, and no model reads os.environ while being imported.
Models are imported where they are first used (issue #8: PynamoDB is not loaded at cold start by
handlers that do not need it), so a model defined after ``bind_models`` is bound as it is defined.
The table's keys are declared in ``driveway_hub.data.tables`` (shared with CDK); each model names the
spec it lives in with ``logical_id``.
"""

from __future__ import annotations

from typing import Any, ClassVar

from pynamodb.models import Model

from driveway_hub.config import Settings


class TableModel(Model):
    logical_id: ClassVar[str] = ""

    class Meta:
        table_name = "unbound"
        region: str | None = None
        host: str | None = None
        # Short timeouts and bounded retries: a Lambda behind API Gateway has ~29 s in all.
        connect_timeout_seconds = 3
        read_timeout_seconds = 10
        max_retry_attempts = 3

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if _bound_to is not None:
            _bind(cls, _bound_to)


# The settings of the last bind_models(), for models defined (imported) after it.
_bound_to: Settings | None = None


def _subclasses(cls: type[TableModel]) -> list[type[TableModel]]:
    found = []
    for sub in cls.__subclasses__():
        found.append(sub)
        found.extend(_subclasses(sub))
    return found


def bind_models(settings: Settings) -> None:
    """Point every model at its table for these settings (idempotent; cheap after the first call)."""
    global _bound_to
    _bound_to = settings
    for model in _subclasses(TableModel):
        _bind(model, settings)


def _bind(model: type[TableModel], settings: Settings) -> None:
    if not model.logical_id:
        return
    if "Meta" not in model.__dict__:
        # Models inherit TableModel.Meta; binding must not write one table name for them all.
        model.Meta = type("Meta", (model.Meta,), {})  # type: ignore[assignment,misc]
    name = getattr(settings.tables, model.logical_id)
    meta = model.Meta
    if (meta.table_name, meta.region, meta.host) == (name, settings.region, settings.aws_endpoint_url):
        return
    model.Meta.table_name = name
    model.Meta.region = settings.region
    model.Meta.host = settings.aws_endpoint_url
    model._connection = None  # PynamoDB caches the connection with the old table name
