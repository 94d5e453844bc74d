"""Install the scripts the book's pages load, so that the built book works offline.

    python book/vendor.py

Jupyter Book 1 pages load MathJax, require.js and the ipywidgets HTML manager from
CDNs. This script installs them from the npm registry (``package.json`` and its lock
file, ``npm ci``) and copies the few files the pages use into :data:`OFFLINE`, which
``_config.yml`` serves as static files and points Sphinx at (``mathjax_path``,
``nb_ipywidgets_js``). The folder is not the book's ``_static/``: Jupyter Book adds
every ``.js`` file there to every page as a script tag.

Without npm the folder is removed, and ``book/_ext/depthrep_book.py`` falls back to
the CDNs and says so: the book then needs a network to show math and widgets.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NODE_MODULES = ROOT / "node_modules"
OFFLINE = ROOT / "build" / "static" / "offline"
"""Served as ``_static/offline/`` in the built book (``html_static_path: build/static``)."""

FILES: dict[str, str] = {
    # destination under OFFLINE: source under node_modules. A folder is copied whole; a
    # source with a * copies every match into the destination folder.
    "require.js": "requirejs/require.js",
    "html-manager/embed-amd.js": "@jupyter-widgets/html-manager/dist/embed-amd.js",
    # The widgets' icon fonts (Font Awesome 5), woff2 only: every current browser reads it.
    # book/static/widgets-offline.js makes the widget manager look for them here.
    "html-manager": "@jupyter-widgets/html-manager/dist/*.woff2",
    # MathJax: the TeX/MathML to CommonHTML component, its fonts, and the TeX extensions
    # it loads on demand. Not its accessibility explorer (a11y/, ui/, sre/: 4.7 MB, loaded
    # only when a reader turns the explorer on in MathJax's menu).
    "mathjax/tex-mml-chtml.js": "mathjax/es5/tex-mml-chtml.js",
    "mathjax/output/chtml/fonts/woff-v2": "mathjax/es5/output/chtml/fonts/woff-v2",
    "mathjax/input/tex/extensions": "mathjax/es5/input/tex/extensions",
    # Licences travel with the code (require.js carries its own in its header).
    "LICENSES/mathjax.txt": "mathjax/LICENSE",
    "LICENSES/html-manager.txt": "@jupyter-widgets/html-manager/LICENSE",
}
PACKAGES = ("@jupyter-widgets/html-manager", "mathjax", "requirejs")


def npm_install() -> None:
    """``npm ci`` unless ``node_modules`` already matches the lock file."""
    installed = NODE_MODULES / ".package-lock.json"
    lock = ROOT / "package-lock.json"
    if installed.is_file() and installed.stat().st_mtime >= lock.stat().st_mtime:
        return
    print("vendor: npm ci (MathJax, require.js, @jupyter-widgets/html-manager) ...", flush=True)
    subprocess.run(
        ["npm", "ci", "--ignore-scripts", "--no-audit", "--no-fund", "--loglevel=error"],
        cwd=ROOT,
        check=True,
    )


def copy_files() -> int:
    """Copy :data:`FILES` into a fresh :data:`OFFLINE`; returns the bytes copied."""
    if OFFLINE.exists():
        shutil.rmtree(OFFLINE)
    for dest, src in FILES.items():
        if "*" in src:
            folder, pattern = src.rsplit("/", 1)
            pairs = [(s, OFFLINE / dest / s.name) for s in sorted((NODE_MODULES / folder).glob(pattern))]
        else:
            pairs = [(NODE_MODULES / src, OFFLINE / dest)]
        if not pairs or not all(source.exists() for source, _ in pairs):
            raise SystemExit(
                f"vendor: {src} is missing in node_modules; delete it and run `make vendor` again"
            )
        for source, target in pairs:
            target.parent.mkdir(parents=True, exist_ok=True)
            if source.is_dir():
                shutil.copytree(source, target)
            else:
                shutil.copy2(source, target)
    versions = {p: json.loads((NODE_MODULES / p / "package.json").read_text())["version"] for p in PACKAGES}
    (OFFLINE / "versions.json").write_text(json.dumps(versions, indent=2) + "\n")
    return sum(f.stat().st_size for f in OFFLINE.rglob("*") if f.is_file())


def main() -> int:
    if shutil.which("npm") is None:
        if OFFLINE.exists():
            shutil.rmtree(OFFLINE)
        print(
            "vendor: npm not found, so the book will load MathJax, require.js and the widget manager\n"
            "        from CDNs: without a network its math shows as raw TeX and its widgets stay blank.\n"
            "        Install Node.js/npm (e.g. `apt-get install npm`) and build again for an offline book.",
            file=sys.stderr,
        )
        return 0
    npm_install()
    size = copy_files()
    print(f"vendor: {size / 1e6:.1f} MB of offline scripts in {OFFLINE.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
