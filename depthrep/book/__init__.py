"""The book's face: the run banner and claim checks that chapters call (:mod:`depthrep.book.report`),
the named claims they check again and again (:mod:`depthrep.book.claims`), each chapter's own
claims, one module per chapter (:mod:`depthrep.book.chapters`),
and the runner that executes the chapters with papermill (``python -m depthrep book``).
"""

from depthrep.book import chapters
from depthrep.book.claims import farther_with_depth, grows_with_depth, non_uniqueness, still_falls
from depthrep.book.report import Claim, ClaimFailed, Run, check, claim, converged, start, table

__all__ = [
    "Claim",
    "ClaimFailed",
    "Run",
    "chapters",
    "check",
    "claim",
    "converged",
    "farther_with_depth",
    "grows_with_depth",
    "non_uniqueness",
    "start",
    "still_falls",
    "table",
]
