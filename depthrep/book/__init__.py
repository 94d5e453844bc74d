"""The book's face: the run banner and claim checks that chapters call (:mod:`depthrep.book.report`),
and the runner that executes the chapters with papermill (``python -m depthrep book``).
"""

from depthrep.book.report import Claim, ClaimFailed, Run, check, claim, converged, start, table

__all__ = ["Claim", "ClaimFailed", "Run", "check", "claim", "converged", "start", "table"]
