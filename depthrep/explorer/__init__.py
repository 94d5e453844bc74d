"""The explorer's face: a stoppable session in a background thread, what it shows as PNG and
HTML, the live widgets (ipywidgets, only when asked for), and the layer picker that works in the
static book.
"""

from depthrep.explorer.grid import LayerGrid, layer_grid

__all__ = ["LayerGrid", "LayerPicker", "explore", "layer_grid", "layer_picker"]

# The widgets import ipywidgets (the ``[widgets]`` extra): only when asked for.
_WIDGETS = {"explore": "widgets", "LayerPicker": "picker", "layer_picker": "picker"}


def __getattr__(name: str):
    if name in _WIDGETS:
        import importlib

        return getattr(importlib.import_module(f"depthrep.explorer.{_WIDGETS[name]}"), name)
    raise AttributeError(f"module 'depthrep.explorer' has no attribute {name!r}")
