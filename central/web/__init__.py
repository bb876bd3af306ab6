"""The operators' and auditors' pages, served by central itself.

Jinja2 templates in the person's language (``render.py``, ``i18n.py``), plain script
modules and stylesheets in ``static/`` with no build step and nothing fetched from the
internet, so the pages work on a factory network with no way out. In: the API's answers
(the pages' scripts call ``/api``). Out: HTML, and the files under ``/static``.
"""

from __future__ import annotations

from linetrace.central.web.pages import STATIC_DIR, router, static_files

__all__ = ["STATIC_DIR", "router", "static_files"]
