"""The explorer's face: a stoppable session in a background thread, what it shows as PNG and
HTML, the live widgets (ipywidgets, only when asked for), and the layer picker that works in the
static book.
"""
