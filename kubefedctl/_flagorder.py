"""Flags anywhere on the command line, as cobra parses them.

KubeFed's kubefedctl is a cobra program: cobra finds the verb by skipping flags, then parses *every*
flag, wherever it stands, with the verb's flag set (its own flags plus the inherited persistent ones).
So ``kubefedctl --kubeconfig K --host-cluster-context host join east --cluster-context east`` and
``kubefedctl join east -v 2`` are both valid, and scripts written for KubeFed use either order. Click
only gives a group's options to the group and a command's options to the command.

:class:`FlagsAnywhereGroup` rewrites the argument list before click sees it: it tokenizes it with
pflag's rules against the chosen verb's options (first) and the group's own (``-v``), then rebuilds it
in the order click expects — group options, the verb, the verb's options, its positional arguments.
It is generic: no verb is named here. Two pflag rules come along with it:

* a boolean flag that may omit its value (``--dry-run``, ``--force``, ``-t``) takes one only as
  ``--flag=false``; ``--dry-run east`` is the flag followed by the argument ``east``;
* short flags combine (``-tc``) and a short option's value may follow ``=`` (``-o=yaml``).

Anything the tokenizer does not understand (an unknown option, a missing value) is passed through
unchanged, so click reports the error with its usual message.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import click

__all__ = ["FlagsAnywhereGroup"]


@dataclass(frozen=True)
class _Flag:
    """One option occurrence: the option and, unless it is a plain flag, its value."""

    option: click.Option
    spelling: str
    value: str | None

    def tokens(self) -> list[str]:
        """The occurrence in a form click parses the same way whatever follows it."""
        longs = [o for o in self.option.opts if o.startswith("--")]
        name = longs[0] if longs and self.spelling in self.option.opts else self.spelling
        if self.value is None:
            return [name]
        if name.startswith("--"):
            return [f"{name}={self.value}"]
        return [name, self.value]


class _Unparsed(Exception):
    """The arguments do not tokenize; click shall see them unchanged."""


def _takes_value(option: click.Option) -> bool | None:
    """True: needs a value; None: a boolean that takes one only after ``=``; False: a plain flag."""
    if option.is_flag or option.count:
        return False
    return None if isinstance(option.type, click.types.BoolParamType) else True


def _lookup(name: str, commands: Sequence[click.Command], ctx: click.Context) -> click.Option | None:
    for command in commands:
        for param in command.get_params(ctx):
            if isinstance(param, click.Option) and (name in param.opts or name in param.secondary_opts):
                return param
    return None


def _tokenize(
    args: Sequence[str],
    commands: Sequence[click.Command],
    ctx: click.Context,
    stop_at: frozenset[str] = frozenset(),
) -> tuple[list[_Flag], list[str], int]:
    """Split ``args`` into option occurrences and positional arguments (pflag's rules).

    Stops before the first positional argument in ``stop_at`` (the verb) and returns its index, or
    ``len(args)``. ``commands`` are searched in order, so the verb's options win over the group's.
    """
    flags: list[_Flag] = []
    positional: list[str] = []
    i = 0
    while i < len(args):
        arg = args[i]
        if arg == "--":
            positional.extend(args[i + 1 :])
            return flags, positional, len(args)
        if not arg.startswith("-") or arg == "-":
            if arg in stop_at:
                return flags, positional, i
            positional.append(arg)
            i += 1
            continue
        if arg.startswith("--"):
            name, eq, inline = arg.partition("=")
            option = _lookup(name, commands, ctx)
            if option is None:
                raise _Unparsed(arg)
            kind = _takes_value(option)
            if eq:
                if kind is False:
                    raise _Unparsed(arg)
                flags.append(_Flag(option, name, inline))
            elif kind is None:
                flags.append(_Flag(option, name, "true"))
            elif kind:
                if i + 1 >= len(args):
                    raise _Unparsed(arg)
                i += 1
                flags.append(_Flag(option, name, args[i]))
            else:
                flags.append(_Flag(option, name, None))
            i += 1
            continue
        j = 1  # a cluster of short options: -tc, -n demo, -ndemo, -o=yaml
        while j < len(arg):
            name = "-" + arg[j]
            option = _lookup(name, commands, ctx)
            if option is None:
                raise _Unparsed(arg)
            kind = _takes_value(option)
            rest = arg[j + 1 :]
            if kind is False:
                flags.append(_Flag(option, name, None))
                j += 1
                continue
            if kind is None:
                if rest.startswith("="):
                    flags.append(_Flag(option, name, rest[1:]))
                    break
                flags.append(_Flag(option, name, "true"))
                j += 1
                continue
            if rest:
                flags.append(_Flag(option, name, rest.removeprefix("=")))
            elif i + 1 < len(args):
                i += 1
                flags.append(_Flag(option, name, args[i]))
            else:
                raise _Unparsed(arg)
            break
        i += 1
    return flags, positional, len(args)


class FlagsAnywhereGroup(click.Group):
    """A click group whose verbs take their flags before or after the verb, as cobra's do."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        return super().parse_args(ctx, self.reorder(ctx, args))

    def reorder(self, ctx: click.Context, args: Sequence[str]) -> list[str]:
        """``args`` rebuilt as: group options, verb, the verb's options, ``--``, its arguments."""
        verb = self._find_verb(ctx, args)
        if verb is None:
            return list(args)
        index, command = verb
        before, _, _ = _tokenize(args[:index], [command, self], ctx)
        try:
            after, positional, _ = _tokenize(args[index + 1 :], [command, self], ctx)
        except _Unparsed:
            after, positional = [], []
            tail = list(args[index + 1 :])
        else:
            tail = ["--", *positional] if positional else []
        own = [f for f in before + after if _lookup(f.spelling, [command], ctx) is None]
        theirs = [f for f in before + after if _lookup(f.spelling, [command], ctx) is not None]
        return [*_flat(own), args[index], *_flat(theirs), *tail]

    def _find_verb(self, ctx: click.Context, args: Sequence[str]) -> tuple[int, click.Command] | None:
        """The first verb that the options before it can belong to (with their values skipped)."""
        for name, command in self.commands.items():
            if name not in args:
                continue
            try:
                _, positional, index = _tokenize(args, [command, self], ctx, frozenset([name]))
            except _Unparsed:
                continue
            if index < len(args) and not positional and args[index] == name:
                return index, command
        return None


def _flat(flags: Sequence[_Flag]) -> list[str]:
    return [token for flag in flags for token in flag.tokens()]
