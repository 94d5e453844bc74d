"""The built book, read as a reader would: every page of ``_build/html`` in headless Chromium.

Run ``make book-html`` first (``make browser`` and ``make test`` do). Every request that is
not for a local file is blocked, so passing proves the book works offline. A page fails
on an image that did not load, a link to a missing page or anchor, a console error or
uncaught exception, a failed or blocked request, math left as raw TeX, or a widget
output left empty. A screenshot of one chapter is saved under ``_build/screenshots/``.

Chromium: Debian's ``chromium`` package, driven by Playwright from PyPI (Playwright's own
browser download does not work offline). Without it the test is skipped, unless
``DEPTHREP_REQUIRE_BROWSER=1`` (as ``.ci/run`` sets) makes that a failure.
``DEPTHREP_BOOK_HTML`` checks a book built elsewhere.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
from conftest import BOOK_HTML as HTML
from conftest import CHROMIUM_ARGS, offline

pytestmark = pytest.mark.browser

SCREENSHOTS = HTML.parent / "screenshots"
SCREENSHOT_OF = "notebooks/03_depth.html"
"""The chapter photographed (the first chapter if this one is absent)."""
WAIT_MS = 20_000
"""Longest wait for MathJax, images and widgets on one page."""

# Text a reader should never see outside code: TeX delimiters and commands MathJax did not
# typeset. Checked on the text of the page with code, scripts and typeset math removed.
RAW_TEX = re.compile(
    r"\\[()\[\]]|\$\$|\\(?:frac|sum|prod|nabla|partial|mathrm|mathbf|mathcal|operatorname|lVert|rVert"
    r"|Vert|cdot|left|right|leq?|geq?|times|alpha|beta|epsilon|varepsilon|sigma|theta|lambda|mu)\b"
    r"|\$[^\s$][^$\n]{0,80}\$"
)


def _pages() -> list[str]:
    skip = {"_static", "_sources", "_images"}
    return sorted(
        p.relative_to(HTML).as_posix()
        for p in HTML.rglob("*.html")
        if not skip & set(p.relative_to(HTML).parts)
    )


@dataclass
class Page:
    """What one page showed in the browser."""

    name: str
    problems: list[str] = field(default_factory=list)
    links: list[str] = field(default_factory=list)
    ids: set[str] = field(default_factory=set)


@pytest.fixture(scope="module")
def visited(chromium) -> dict[str, Page]:
    """Open every page of the built book once, offline; what each showed, by page name."""
    from playwright.sync_api import sync_playwright

    pages = _pages()
    if not pages:
        pytest.fail(f"no built book in {HTML}: run `make book-html` first")
    shot = SCREENSHOT_OF if SCREENSHOT_OF in pages else next((p for p in pages if "/" in p), pages[0])
    results = {}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            for name in pages:  # each page as a first visit: a fresh context, nothing stored
                context = browser.new_context(viewport={"width": 1280, "height": 900})
                try:
                    results[name] = _visit(context, name, screenshot=name == shot)
                finally:
                    context.close()
        finally:
            browser.close()
    return results


def _visit(context, name: str, screenshot: bool) -> Page:
    page = Page(name)
    tab = context.new_page()

    offline(tab, page.problems)
    try:
        tab.goto((HTML / name).as_uri(), wait_until="load")
        if name == "index.html":  # Jupyter Book's redirect to the root page
            tab.wait_for_url(lambda url: not url.endswith("/index.html"), timeout=WAIT_MS)
            tab.wait_for_load_state("load")
        _wait_for(tab, page, _MATH_DONE, "MathJax did not finish typesetting")
        _wait_for(tab, page, _IMAGES_DONE, "images did not finish loading")
        _wait_for(tab, page, _WIDGETS_DONE, "widgets did not render")
        found = tab.evaluate(_INSPECT)
        page.problems += [f"image did not load: {src}" for src in found["brokenImages"]]
        page.problems += [f"math not typeset: {tex!r}" for tex in found["untypeset"]]
        page.problems += [f"raw TeX in the text: {m.group(0)!r}" for m in RAW_TEX.finditer(found["text"])]
        page.problems += [f"widget output left empty: {w}" for w in found["emptyWidgets"]]
        page.links, page.ids = found["links"], set(found["ids"])
        _try_explorers(tab, page)
        if screenshot:
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            tab.screenshot(path=SCREENSHOTS / f"{Path(name).stem}.png", full_page=True)
    except Exception as error:  # a page that breaks the browser fails alone, with the reason
        page.problems.append(f"could not be read: {type(error).__name__}: {error}")
    finally:
        tab.close()
    return page


def _try_explorers(tab, page: Page) -> None:
    """Click a toggle button of each widget output that also shows images: an image must change.

    This is the explorer pattern of the book (ToggleButtons jslinked to a Stack of Images),
    which works in the static page only if the widget state and links were saved with it.
    """
    explorers = tab.locator(".cell_output:has(.widget-toggle-buttons):has(img.widget-image)")
    for i in range(explorers.count()):
        explorer = explorers.nth(i)
        before = explorer.evaluate(_SHOWN_IMAGES)
        explorer.locator(".widget-toggle-button:not(.mod-active)").first.click()
        try:
            tab.wait_for_function(
                f"([el, before]) => JSON.stringify(({_SHOWN_IMAGES})(el)) !== JSON.stringify(before)",
                arg=[explorer.element_handle(), before],
                timeout=5_000,
            )
        except Exception:
            page.problems.append(f"widget explorer {i + 1}: clicking a toggle button changed no image")


_SHOWN_IMAGES = "el => Array.from(el.querySelectorAll('img.widget-image'))"
_SHOWN_IMAGES += ".filter(img => img.offsetParent !== null).map(img => img.src)"


def _wait_for(tab, page: Page, condition: str, failure: str) -> None:
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    try:
        tab.wait_for_function(condition, timeout=WAIT_MS, polling=100)
    except PlaywrightTimeout:
        page.problems.append(f"{failure} within {WAIT_MS / 1000:.0f} s")


_MATH_DONE = """async () => {
    if (!document.querySelector('.math')) return true;
    if (!(window.MathJax && MathJax.startup && MathJax.startup.promise)) return false;
    await MathJax.startup.promise;
    return true;
}"""

_IMAGES_DONE = """() => {
    for (const img of document.images) img.loading = 'eager';
    return Array.from(document.images).every(img => img.complete);
}"""

_VIEWS = "script[type='application/vnd.jupyter.widget-view+json']"

# html-manager inserts each widget's view as a new element just before its view script.
_WIDGETS_DONE = """() => Array.from(document.querySelectorAll("VIEWS")).every(s => {
    const view = s.previousElementSibling;
    return view !== null && view.tagName !== 'SCRIPT' && view.querySelector('*') !== null;
})""".replace("VIEWS", _VIEWS)

_INSPECT = """() => {
    const brokenImages = Array.from(document.images)
        .filter(img => img.naturalWidth === 0)
        .map(img => img.getAttribute('src').slice(0, 120));
    const untypeset = Array.from(document.querySelectorAll('.math'))
        .filter(el => !el.querySelector('mjx-container') && !el.closest('mjx-container'))
        .map(el => el.textContent.trim().slice(0, 80));
    const main = (document.querySelector('main') || document.body).cloneNode(true);
    main.querySelectorAll('pre, code, script, style, textarea, mjx-container, .highlight')
        .forEach(el => el.remove());
    const emptyWidgets = Array.from(document.querySelectorAll("VIEWS")).filter(s => {
        const view = s.previousElementSibling;
        return !view || view.tagName === 'SCRIPT' || view.getBoundingClientRect().height === 0;
    }).map(s => s.textContent.trim().slice(0, 80));
    return {
        brokenImages, untypeset, emptyWidgets,
        text: main.textContent,
        links: Array.from(document.querySelectorAll('a[href]')).map(a => a.href),
        ids: Array.from(document.querySelectorAll('[id], a[name]')).map(el => el.id || el.name),
    };
}""".replace("VIEWS", _VIEWS)


def test_book_is_built_with_its_offline_scripts():
    assert (HTML / "index.html").is_file(), f"no book in {HTML}: run `make book-html` first"
    assert (HTML / "_static" / "offline" / "versions.json").is_file(), (
        "the book was built without its offline scripts, so it needs CDNs: install npm and run "
        "`make book-html` again (book/vendor.py)"
    )


@pytest.mark.parametrize("name", _pages() or ["index.html"])
def test_page_reads_offline(visited, name):
    assert name in visited, f"{name} was not visited"
    problems = list(dict.fromkeys(visited[name].problems))  # each once, in order
    shown = problems[:25] + ([f"... and {len(problems) - 25} more"] if len(problems) > 25 else [])
    assert not problems, f"{name}:\n  " + "\n  ".join(shown)


def test_internal_links_resolve(visited):
    broken = []
    for page in visited.values():
        for href in page.links:
            url = urlsplit(href)
            if url.scheme != "file":
                continue  # the web, mail: not part of the offline book
            target = Path(unquote(url.path))
            if not target.exists():
                broken.append(f"{page.name}: {href} (no such file)")
                continue
            if url.fragment and target.suffix == ".html":
                name = target.resolve().relative_to(HTML).as_posix()
                ids = visited[name].ids if name in visited else _ids_on_disk(target)
                if unquote(url.fragment) not in ids:
                    broken.append(f"{page.name}: {href} (no anchor #{url.fragment})")
    assert not broken, "broken internal links:\n  " + "\n  ".join(sorted(set(broken)))


def _ids_on_disk(path: Path) -> set[str]:
    text = path.read_text(encoding="utf-8", errors="replace")
    return set(re.findall(r"""\b(?:id|name)=["']([^"']+)["']""", text))


def test_screenshot_saved(visited):
    shots = list(SCREENSHOTS.glob("*.png"))
    assert shots and all(s.stat().st_size > 10_000 for s in shots), f"no screenshot in {SCREENSHOTS}"
