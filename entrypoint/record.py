"""Record: a tuple whose fields have names, as collections.namedtuple makes them, without its
import (collections brings operator, keyword, reprlib and more into every start)."""
from _operator import itemgetter


class Record(tuple):
    """Subclasses name their ``fields`` and the ``defaults`` of those that have one, and declare
    ``__slots__ = ()``. Built from positions or keywords; equal to a tuple of the same values."""
    __slots__ = ()
    fields: tuple = ()
    defaults: dict = {}

    def __init_subclass__(cls):
        for index, name in enumerate(cls.fields):
            setattr(cls, name, property(itemgetter(index)))

    def __new__(cls, *args, **kwargs):
        if len(args) > len(cls.fields):
            raise TypeError(f"{cls.__name__} takes at most {len(cls.fields)} values")
        values = list(args)
        for name in cls.fields[len(args):]:
            if name in kwargs:
                values.append(kwargs.pop(name))
            elif name in cls.defaults:
                values.append(cls.defaults[name])
            else:
                raise TypeError(f"{cls.__name__} needs {name}")
        if kwargs:
            raise TypeError(f"{cls.__name__} has no field {next(iter(kwargs))}")
        return tuple.__new__(cls, values)

    def _replace(self, **changes):
        values = [changes.pop(name, value) for name, value in zip(self.fields, self)]
        return type(self)(*values, **changes)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(" + ", ".join(f"{n}={v!r}" for n, v in zip(self.fields, self)) + ")"
