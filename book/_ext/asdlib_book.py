"""A local Sphinx extension for the book: two fixes to the theme's pages.

* sphinx-thebe registers its configuration script twice under Jupyter Book
  1.x, and the second ``const THEBE_JS_URL`` is a JavaScript error on every
  page: each page's scripts are de-duplicated.
* pydata-sphinx-theme logs an error when no colour mode is set: each page
  asks for the light mode (the reader's own choice, once made, still wins).
"""


def _key(script) -> tuple:
    attributes = getattr(script, "attributes", {}) or {}
    return str(getattr(script, "filename", script) or ""), tuple(sorted((k, str(v)) for k, v in attributes.items()))


def _dedupe_scripts(app, pagename, templatename, context, doctree) -> None:
    context.setdefault("default_mode", "light")
    scripts = context.get("script_files")
    if not scripts:
        return
    seen, kept = set(), []
    for script in scripts:
        if _key(script) not in seen:
            seen.add(_key(script))
            kept.append(script)
    # in place: the list is the builder's own, to which handlers that run later (sphinx.ext.mathjax
    # on a page with formulas) add their scripts; a new list here lost MathJax on every page
    scripts[:] = kept


def setup(app):
    app.connect("html-page-context", _dedupe_scripts, priority=1)  # first: a handler that returns a template stops the event
    return {"parallel_read_safe": True, "parallel_write_safe": True}
