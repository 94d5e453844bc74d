"""The examples in the docstrings of the front door's main functions run, and show what they say.

Each function's ``Examples`` are run with the standard library's :mod:`doctest`, one case per
function; a docstring that loses its examples fails too (``attempted > 0``).
"""

import doctest

import pytest

import depthrep

FUNCTIONS = [depthrep.invert, depthrep.load_model, depthrep.load_image, depthrep.concat_results]


@pytest.mark.parametrize("function", FUNCTIONS, ids=lambda f: f.__name__)
def test_examples_run(function, cache):  # they build untrained models and write nothing; a cache all the same
    tests = doctest.DocTestFinder(recurse=False).find(function, function.__name__, globs={})
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    report = []
    for test in tests:
        runner.run(test, out=report.append)
    result = runner.summarize(verbose=False)
    assert result.attempted > 0, f"{function.__name__}'s docstring has no examples"
    assert result.failed == 0, "".join(report)
