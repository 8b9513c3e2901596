"""Registries of pluggable classes keyed by a URL scheme (as Papermill's engines are).

A registry names its built-in classes where they are defined (``@EXECUTORS.register("local")``);
adding one is a class in a module of its own that registers itself, imported before use or named
by an entry point of the registry's group in a package's metadata, loaded on the first scheme
the registry does not know::

    [project.entry-points."reviewkit.executors"]
    k8s = "mypackage.k8s:KubernetesExecutor"   # registered under "k8s" when loaded
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from importlib import metadata
from typing import Generic, TypeVar

__all__ = ["Registry", "scheme_of"]

T = TypeVar("T")
C = TypeVar("C")


def scheme_of(spec: str) -> str:
    """The scheme of ``spec``: what comes before ``://``, or all of it (``local``)."""
    return spec.split("://", 1)[0] if "://" in spec else spec


class Registry(Generic[T]):
    """Classes (or factories) of type ``T`` by scheme, with the entry-point ``group`` that
    packages may add to; ``check`` vets each registration (raises ``ValueError``)."""

    def __init__(self, group: str, check: Callable[[str, T], None] | None = None) -> None:
        self.group = group
        self._check = check
        self._entries: dict[str, T] = {}
        self._loaded_entry_points = False

    def register(self, *schemes: str) -> Callable[[C], C]:
        """A decorator registering its class under each of ``schemes``."""

        def register(cls: C) -> C:
            for scheme in schemes:
                self.add(scheme, cls)  # type: ignore[arg-type]
            return cls

        return register

    def add(self, scheme: str, entry: T) -> None:
        if self._check is not None:
            self._check(scheme, entry)
        self._entries[scheme] = entry

    def get(self, scheme: str) -> T | None:
        """What is registered under ``scheme`` (loading the group's entry points the first
        time a scheme is unknown), or None."""
        if scheme not in self._entries and not self._loaded_entry_points:
            self._loaded_entry_points = True
            for point in metadata.entry_points(group=self.group):
                if point.name not in self._entries:
                    self.add(point.name, point.load())
        return self._entries.get(scheme)

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __contains__(self, scheme: object) -> bool:
        return scheme in self._entries
