"""The claims particular to one chapter, one module per chapter, each claim a named function.

A chapter's claim cell takes its module (``chapter = depthrep.book.chapters.pooling``) and lists
its claims by name, one line each (``chapter.pooling_loses_what_relu_keeps(bn1, before,
after)``); the claims that recur across chapters are in :mod:`depthrep.book.claims`. Each function takes the
results the chapter computed and returns a :class:`~depthrep.book.Claim` with its statement,
baseline, margin, guard and numbers (a claim about models a profile may leave out returns a
list: the claim, or none). The test is written here once, from what the paper says, before the
numbers were seen; the docstring says which finding it checks (the book's appendix, *How the
checks were set*, gives each one's history). Functions that compare two layers take the early
one first.

- :mod:`.method` (01), :mod:`.layers` (02), :mod:`.depth` (03), :mod:`.over_the_run` (04),
  :mod:`.width` (05), :mod:`.conditioning` (06), :mod:`.pooling` (07), :mod:`.training` (08),
  :mod:`.training_data` (09), :mod:`.architectures` (12).
"""

from depthrep.book.chapters import (
    architectures,
    conditioning,
    depth,
    layers,
    method,
    over_the_run,
    pooling,
    training,
    training_data,
    width,
)

__all__ = [
    "architectures",
    "conditioning",
    "depth",
    "layers",
    "method",
    "over_the_run",
    "pooling",
    "training",
    "training_data",
    "width",
]
