"""Frozen: an immutable record compared by value, what ``@dataclass(frozen=True)`` gives without
importing dataclasses (with inspect) and typing at run time: the patch apply path (ppm.delta,
ppm.exe_transform) is held to bspatch's time, and those imports cost more than decoding a small
patch. A subclass names its fields in ``__slots__ = _fields = (...)`` and sets them in its own
``__init__`` through :meth:`Frozen._init`."""

from __future__ import annotations


class Frozen:
    __slots__ = ()
    _fields: tuple[str, ...] = ()

    def _init(self, *values: object) -> None:
        for name, value in zip(self._fields, values, strict=True):
            object.__setattr__(self, name, value)

    def _values(self) -> tuple[object, ...]:
        return tuple(getattr(self, f) for f in self._fields)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Frozen) and other.__class__ is self.__class__ and self._values() == other._values()

    def __hash__(self) -> int:
        return hash(self._values())

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(f'{f}={getattr(self, f)!r}' for f in self._fields)})"

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"{type(self).__name__} is immutable: cannot assign to {name!r}")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"{type(self).__name__} is immutable: cannot delete {name!r}")

    def __reduce__(self) -> tuple[type[Frozen], tuple[object, ...]]:  # pickle and copy, past __setattr__
        return type(self), self._values()
