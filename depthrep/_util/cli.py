"""One help style for depthrep's command lines (``depthrep``, ``depthrep book``, ``depthrep sweep``).

Every parser and subparser is an :class:`ArgumentParser` (a subparser is made of its parent's
class, so it is one too), whose help uses :class:`HelpFormatter`; each top level ends its help
with :func:`examples`. Programs are named as the installed script calls them: ``depthrep``,
``depthrep book``, ``depthrep sweep`` (``python -m depthrep ...`` is the same).
"""

from __future__ import annotations

import argparse
import textwrap

EXAMPLES_HEADING = "examples:"
"""The heading of every top level's epilog (:func:`examples`)."""


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Keeps the line breaks of a description or epilog, and adds ``(default: ...)`` to the help
    of an option that has a default.

    Each line of a description is its own paragraph: one longer than the terminal is wrapped;
    an indented line (an example command, a list) is kept as it is, to be copied. An option whose
    default is none (``None``, ``False``, ``[]``), a positional argument and a help that shows
    its default itself get no ``(default: ...)``; a list's is shown as it is typed, ``a b``."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        lines = []
        for line in text.splitlines():
            if line[:1].isspace() or len(indent + line) <= width:
                lines.append(indent + line)
            else:
                lines += textwrap.wrap(line, width, initial_indent=indent, subsequent_indent=indent)
        return "\n".join(lines)

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text, default = action.help, action.default
        none = default is None or default is False or default == [] or default == argparse.SUPPRESS
        if not text or none or not action.option_strings or "%(default)" in text:
            return text
        if isinstance(default, (list, tuple)):  # as it is typed: --weights random imagenet
            return f"{text} (default: {' '.join(map(str, default)).replace('%', '%%')})"
        return f"{text} (default: %(default)s)"


class ArgumentParser(argparse.ArgumentParser):
    """argparse's parser with :class:`HelpFormatter`; its subparsers are of its class, so theirs too."""

    def __init__(self, *args, formatter_class: type[argparse.HelpFormatter] = HelpFormatter, **kwargs):
        super().__init__(*args, formatter_class=formatter_class, **kwargs)


def examples(*lines: str) -> str:
    """The epilog of a top level: ``examples:``, then ``lines`` indented two (one command line
    each; a line that goes on after a ``\\`` starts with four more spaces)."""
    return "\n".join([EXAMPLES_HEADING, *(f"  {line}" for line in lines)])
