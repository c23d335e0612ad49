"""Options declared once: each setting's flag, help, group and range live on its field.

A settings dataclass (``RunConfig``, ``ReadOptions``, ``SyntheticOptions``) declares every
field with :func:`option`. From that one declaration the command line builds its flag
(``dna_tutorial.app.cli``), parses and range-checks what the user typed, and maps it back
to the field; the dataclass checks values given in Python against the same range. Adding
an option is one edit: a field.

Ranges are what the frameworks take (a batch index is an int32 in JAX, a seed a uint32 in
NumPy) and what makes sense (finite learning rates, dropout below 1); a value outside is
refused with a message naming the flag.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: The most epochs, patience or warm-up epochs any run takes (tqdm and the histories hold
#: one entry per epoch).
MAX_EPOCHS = 1_000_000
#: The largest batch, filter count, width or length: JAX indexes with int32.
MAX_INT32 = 2**31 - 1
#: The largest seed every framework accepts (NumPy's legacy seeding stops at 2**32 - 1).
MAX_SEED = 2**32 - 1
#: Virtual or real devices one process trains over: XLA:CPU's collectives stall past a few
#: hundred threads on a small machine (999 aborted after a rendezvous timeout; 256 ran).
MAX_DEVICES = 64


class Kind:
    """What values an option takes: parses the text typed for it and checks a value."""

    @property
    def expects(self) -> str:
        """How a message names the values it takes, e.g. "an integer from 1 to 50"."""
        return "a value"

    def parse(self, text: str) -> Any:
        raise NotImplementedError

    def ok(self, value) -> bool:
        raise NotImplementedError

    def convert(self, text: str):
        """``text`` as a value, or ValueError naming what was expected."""
        try:
            value = self.parse(text)
        except (ValueError, OverflowError):
            value = None
        if value is None or not self.ok(value):
            raise ValueError(f"expected {self.expects}, got {text!r}")
        return value


@dataclass(frozen=True)
class Int(Kind):
    lo: int = 1
    hi: int = MAX_INT32

    @property
    def expects(self) -> str:
        return f"an integer from {self.lo:,} to {self.hi:,}"

    def parse(self, text: str) -> int:
        if not text.strip().isascii():  # int() reads other scripts' digits too
            raise ValueError(text)
        return int(text)

    def ok(self, value) -> bool:
        integer = isinstance(value, int) and not isinstance(value, bool)
        return integer and self.lo <= value <= self.hi


@dataclass(frozen=True)
class Real(Kind):
    """A finite number in [lo, hi], or (lo, hi] with ``above``."""

    lo: float = -math.inf
    hi: float = math.inf
    above: bool = False
    below: bool = False

    @property
    def expects(self) -> str:
        if self.lo == -math.inf and self.hi == math.inf:
            return "a finite number"
        if self.hi == math.inf:
            return f"a finite number {'above' if self.above else 'from'} {self.lo:g}"
        left, right = "(" if self.above else "[", ")" if self.below else "]"
        return f"a number in {left}{self.lo:g}, {self.hi:g}{right}"

    def parse(self, text: str) -> float:
        return float(text)

    def ok(self, value) -> bool:
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            return False
        if not math.isfinite(value):
            return False
        low = value > self.lo if self.above else value >= self.lo
        high = value < self.hi if self.below else value <= self.hi
        return low and high


@dataclass(frozen=True)
class Choice(Kind):
    """One of ``values`` (or of what ``values()`` returns, for a table that can grow)."""

    values: tuple[str, ...] | Callable[[], Sequence[str]] = ()

    @property
    def choices(self) -> tuple[str, ...]:
        return tuple(self.values() if callable(self.values) else self.values)

    @property
    def expects(self) -> str:
        return "one of " + ", ".join(self.choices)

    def parse(self, text: str) -> str:
        return text

    def ok(self, value) -> bool:
        return value in self.choices


@dataclass(frozen=True)
class Block(Kind):
    """A convolution block written ``filters:width:pool``, each an integer >= 1."""

    @property
    def expects(self) -> str:
        return "filters:width:pool, e.g. 32:7:2"

    def parse(self, text: str) -> tuple[int, ...]:
        return tuple(Int().parse(v) for v in text.split(":"))

    def ok(self, value) -> bool:
        triple = isinstance(value, (tuple, list)) and len(value) == 3
        return triple and all(Int().ok(v) for v in value)


@dataclass(frozen=True)
class Text(Kind):
    """A non-empty name, e.g. a column's."""

    @property
    def expects(self) -> str:
        return "a non-empty name"

    def parse(self, text: str) -> str:
        return text

    def ok(self, value) -> bool:
        return isinstance(value, str) and bool(value.strip()) and encodable(value)


@dataclass(frozen=True)
class File(Kind):
    """A path: reports, manifests and messages write it as UTF-8 text, so it must be one."""

    @property
    def expects(self) -> str:
        return "a path that can be written as UTF-8 text (set a UTF-8 locale, or rename it)"

    def parse(self, text: str) -> Path:
        return Path(text)

    def ok(self, value) -> bool:
        return isinstance(value, Path) and bool(str(value)) and encodable(str(value))


def encodable(text: str) -> bool:
    """Whether ``text`` can be written as UTF-8: a file name the locale could not decode
    reaches Python as lone surrogates, which no text file can hold."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return "\0" not in text


@dataclass(frozen=True)
class Switch(Kind):
    """A flag that is on when given."""

    @property
    def expects(self) -> str:
        return "true or false"

    def ok(self, value) -> bool:
        return isinstance(value, bool)


@dataclass(frozen=True)
class Option:
    """How a field appears on the command line (see :func:`option`)."""

    help: str
    kind: Kind
    flag: str | None = None
    group: str | None = None
    #: argparse's nargs for a field that holds a tuple: "+", "*" or a count.
    nargs: str | int | None = None
    metavar: str | tuple[str, ...] | None = None
    #: With ``nargs="?"``: the value when the flag is given alone.
    const: Any = None
    #: The ports that use it, where not every port does: a command running none of them
    #: refuses it when it is given.
    ports: tuple[str, ...] = ()
    #: Turns the parsed value (or tuple of values) into the field's value.
    to_field: Callable[[Any], Any] | None = None
    #: Checks the field's value where ``kind`` checks one element (a tuple's, a mapped one's).
    check: Callable[[Any], bool] | None = None
    #: Which models use it (a predicate on a registry spec), and in words: a run that
    #: trains none of them refuses the option rather than ignore it.
    used_by: Callable[[Any], bool] | None = None
    users: str = ""


def option(default, help: str, kind: Kind, **how) -> Any:
    """A dataclass field declared as an option (``default`` immutable: a tuple, not a
    list); ``how`` as :class:`Option`'s fields."""
    return dataclasses.field(default=default, metadata={"option": Option(help, kind, **how)})


def declared(cls) -> list[tuple[dataclasses.Field, Option]]:
    """The fields of a settings dataclass that are options, in declaration order."""
    return [(f, f.metadata["option"]) for f in dataclasses.fields(cls) if "option" in f.metadata]


def flag(field: dataclasses.Field, opt: Option) -> str:
    """The field's command-line flag: declared, or its name (``batch_size`` -> ``--batch-size``)."""
    return opt.flag or "--" + field.name.replace("_", "-")


def value_ok(opt: Option, value) -> bool:
    """Whether ``value`` lies in the option's range (each element, for a tuple)."""
    if opt.check is not None:
        return opt.check(value)
    if value is None:
        return True  # unset optional settings
    if opt.nargs in (None, "?"):
        return opt.kind.ok(value)
    count_ok = opt.nargs in ("*", "+") or len(value) == opt.nargs
    return (
        isinstance(value, (tuple, list))
        and count_ok
        and (opt.nargs != "+" or len(value) > 0)
        and all(opt.kind.ok(v) for v in value)
    )


def out_of_range(settings) -> list[str]:
    """One phrase per field of ``settings`` whose value is outside its option's range."""
    return [
        f"{field.name} ({flag(field, opt)}) must be {opt.kind.expects}, got "
        f"{getattr(settings, field.name)!r}"
        for field, opt in declared(type(settings))
        if not value_ok(opt, getattr(settings, field.name))
    ]


def argument_type(kind: Kind, name: str) -> Callable[[str], Any]:
    """``kind`` as an argparse ``type=``: the parsed value, or argparse's error naming what
    was expected."""

    def convert(text: str):
        try:
            return kind.convert(text)
        except ValueError as err:
            raise argparse.ArgumentTypeError(str(err)) from None

    convert.__name__ = name  # argparse names the type in its messages
    return convert
