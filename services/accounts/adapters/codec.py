"""A tagged, human-readable encoding of the account aggregate's state for its MongoDB document.

Dataclasses become ``{"__t": "module:Class", field: value, ...}``, enums ``{"__e": "module:Class",
"v": value}`` (the module relative to ``services.accounts.domain``, which keeps the growing parts of
an account, its ledger entries and saga decisions, short; the full dotted name of older documents
decodes too), dates and datetimes ``{"__d": iso}`` / ``{"__dt": iso}``, tuples ``{"__tu": [...]}``,
sets ``{"__fs": [...]}`` and dicts with non-string keys ``{"__map": [[k, v], ...]}``. Decoding
only instantiates classes of ``services.accounts.domain`` (a whitelist), never arbitrary code.
"""
from __future__ import annotations

import dataclasses
import enum
import importlib
from datetime import date, datetime, timezone
from typing import Any

ALLOWED_PREFIX = "services.accounts.domain."


def encode(value: Any) -> Any:
    if isinstance(value, enum.Enum):
        return {"__e": _name(type(value)), "v": value.value}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        out = {"__t": _name(type(value))}
        for f in dataclasses.fields(value):
            out[f.name] = encode(getattr(value, f.name))
        return out
    if isinstance(value, datetime):
        return {"__dt": value.astimezone(timezone.utc).isoformat()}
    if isinstance(value, date):
        return {"__d": value.isoformat()}
    if isinstance(value, tuple):
        return {"__tu": [encode(v) for v in value]}
    if isinstance(value, (set, frozenset)):
        return {"__fs": sorted((encode(v) for v in value), key=repr)}
    if isinstance(value, list):
        return [encode(v) for v in value]
    if isinstance(value, dict):
        if all(isinstance(k, str) and not k.startswith("__") for k in value):
            return {k: encode(v) for k, v in value.items()}
        return {"__map": [[encode(k), encode(v)] for k, v in value.items()]}
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    raise TypeError(f"cannot encode {type(value).__name__}")


def decode(value: Any) -> Any:
    if isinstance(value, list):
        return [decode(v) for v in value]
    if not isinstance(value, dict):
        return value
    if "__t" in value:
        cls = _load(value["__t"])
        kwargs = {k: decode(v) for k, v in value.items() if k != "__t"}
        init = {f.name for f in dataclasses.fields(cls) if f.init}
        obj = cls(**{k: v for k, v in kwargs.items() if k in init})
        for k, v in kwargs.items():
            if k not in init:
                object.__setattr__(obj, k, v)
        return obj
    if "__e" in value:
        return _load(value["__e"])(value["v"])
    if "__dt" in value:
        return datetime.fromisoformat(value["__dt"])
    if "__d" in value:
        return date.fromisoformat(value["__d"])
    if "__tu" in value:
        return tuple(decode(v) for v in value["__tu"])
    if "__fs" in value:
        return frozenset(decode(v) for v in value["__fs"])
    if "__map" in value:
        return {decode(k): decode(v) for k, v in value["__map"]}
    return {k: decode(v) for k, v in value.items()}


def _name(cls: type) -> str:
    module = cls.__module__
    if module.startswith(ALLOWED_PREFIX):
        module = module[len(ALLOWED_PREFIX):]
    return f"{module}:{cls.__qualname__}"


def _load(name: str) -> type:
    module, _, qualname = name.partition(":")
    refused = ValueError(f"refusing to decode {name}: not a class of the accounts domain")
    if module.startswith("services."):
        if not module.startswith(ALLOWED_PREFIX):
            raise refused
    else:
        module = ALLOWED_PREFIX + module
    try:
        obj: Any = importlib.import_module(module)
    except ImportError:
        raise refused from None
    for part in qualname.split("."):
        obj = getattr(obj, part)
    return obj
