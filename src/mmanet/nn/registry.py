"""Build components by name from small registries (an unknown name lists the valid ones)."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any, Generic, TypeVar

__all__ = ["Registry"]

T = TypeVar("T")


class Registry(Generic[T]):
    """Name -> builder; :meth:`build` reports unknown names and unknown options clearly."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._builders: dict[str, Callable[..., T]] = {}

    def register(self, name: str) -> Callable[[Callable[..., T]], Callable[..., T]]:
        """Decorator adding a builder under ``name``."""

        def add(builder: Callable[..., T]) -> Callable[..., T]:
            if name in self._builders:
                raise ValueError(f"{self.kind} {name!r} registered twice")
            self._builders[name] = builder
            return builder

        return add

    def names(self) -> list[str]:
        """Registered names, sorted."""
        return sorted(self._builders)

    def build(self, name: str, /, **kwargs: Any) -> T:
        """Call the builder ``name`` with ``kwargs``; bad names or options raise ``ValueError``."""
        if name not in self._builders:
            raise ValueError(f"unknown {self.kind} {name!r}; available: {self.names()}")
        builder = self._builders[name]
        params = inspect.signature(builder).parameters
        if not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
            unknown = sorted(set(kwargs) - set(params))
            if unknown:
                valid = sorted(k for k in params if params[k].kind is inspect.Parameter.KEYWORD_ONLY)
                raise ValueError(f"{self.kind} {name!r}: unknown options {unknown}; valid: {valid}")
        return builder(**kwargs)
