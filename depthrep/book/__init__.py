"""The book's face: the run banner and claim checks that chapters call (:mod:`depthrep.book.report`),
and the runner that executes the chapters with papermill (``python -m depthrep book``).
"""
