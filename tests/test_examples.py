"""The front door's main functions carry runnable examples.

The examples themselves run as doctests of the package (``--doctest-modules`` over
``depthrep/`` in pyproject's ``testpaths``); this checks that they are there, so a docstring
that loses its examples fails here rather than silently running nothing.
"""

import doctest

import pytest

import depthrep

FUNCTIONS = [depthrep.invert, depthrep.load_model, depthrep.load_image, depthrep.concat_results]


@pytest.mark.parametrize("function", FUNCTIONS, ids=lambda f: f.__name__)
def test_the_main_functions_show_examples_that_the_doctests_run(function, pytestconfig):
    [test] = doctest.DocTestFinder(recurse=False).find(function, function.__name__, globs={})
    assert len(test.examples) >= 3, f"{function.__name__}'s docstring has no examples"
    assert any(example.want for example in test.examples), "examples that show nothing they return"
    assert pytestconfig.getini("testpaths") == [
        "tests",
        "depthrep",
    ] and "--doctest-modules" in pytestconfig.getini("addopts")
