"""Pages from Jinja2 templates, in the person's language, with what their scripts need.

Every page extends ``base.html``: navigation, the language switch, the signed-in person,
the CSRF token of their session (``<meta name="csrf-token">``, sent back by ``app.js`` on
every change) and one JSON data block with the translations, the sites' time zones and
the locale, so scripts format times and numbers as the page does. Nothing inline runs:
the Content-Security-Policy allows only this origin's script files.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape

from linetrace.central.web.i18n import choose_language, locale_tag, translator

if TYPE_CHECKING:
    from starlette.requests import Request

    from linetrace.central.config import CentralSettings

__all__ = ["TEMPLATES_DIR", "environment", "gettext_for", "page_data", "render_page"]

TEMPLATES_DIR = Path(__file__).with_name("templates")


@cache
def environment() -> Environment:
    """One template environment; translations are bound per render, not globally."""
    env = Environment(
        loader=FileSystemLoader(TEMPLATES_DIR),
        autoescape=select_autoescape(default=True, default_for_string=True),
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
    )
    return env


def page_data(request: Request, settings: CentralSettings, language: str) -> dict[str, Any]:
    """What the page's scripts read from its JSON data block (app.js ``pageData``)."""
    principal = getattr(request.state, "principal", None)
    return {
        "language": language,
        "locale": locale_tag(language),
        "messages": translator(language).messages,
        "time_zone": settings.web.default_time_zone,
        "sites": {
            site_id: {"name": site.name or site_id, "time_zone": site.time_zone}
            for site_id, site in settings.sites.items()
        },
        "user": None
        if principal is None
        else {
            "name": principal.name,
            "role": str(principal.role),
            "scopes": [str(scope) for scope in principal.scopes],
        },
    }


def render_page(
    request: Request,
    template: str,
    *,
    title: str,
    scripts: Sequence[str] = (),
    styles: Sequence[str] = (),
    status_code: int = 200,
    site: str | None = None,
    **context: Any,
) -> HTMLResponse:
    """``template`` rendered for this request's person; ``title`` is already translated
    (pass ``_("...")`` from :func:`gettext_for`) and ``scripts``/``styles`` name files in
    ``/static``."""
    settings: CentralSettings = request.app.state.settings
    language = choose_language(request, settings, site)
    words = translator(language)
    template_object = environment().get_template(template)
    data = page_data(request, settings, language)
    html = template_object.render(
        request=request,
        title=title,
        scripts=list(scripts),
        styles=list(styles),
        language=language,
        user=data["user"],
        csrf_token=getattr(request.state, "csrf_token", None) or "",
        page_json=json.dumps(data, ensure_ascii=False).replace("</", "<\\/"),
        path=request.url.path,
        gettext=words.gettext,
        ngettext=words.ngettext,
        _=words.gettext,
        **context,
    )
    return HTMLResponse(html, status_code=status_code)


def gettext_for(request: Request, site: str | None = None) -> Any:
    """The ``_`` of this request's language, for titles and messages made in Python."""
    settings: CentralSettings = request.app.state.settings
    return translator(choose_language(request, settings, site)).gettext
