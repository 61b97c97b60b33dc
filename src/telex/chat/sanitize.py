"""HTML message content reduced to a safe allowlist (ammonia, via ``nh3``).

Scripts, event handlers, styles, iframes and non-http(s)/mailto URLs never reach another
client; formatting, links, lists, tables and images (as ACS inline images) survive.
"""

from __future__ import annotations

import nh3

__all__ = ["sanitize_html"]

_TAGS = {
    "a", "b", "blockquote", "br", "code", "del", "div", "em", "h1", "h2", "h3", "h4", "h5", "h6",
    "i", "img", "li", "ol", "p", "pre", "s", "span", "strike", "strong", "sub", "sup", "table",
    "tbody", "td", "th", "thead", "tr", "u", "ul",
}  # fmt: skip
_ATTRIBUTES = {
    "a": {"href", "title"},
    "img": {"src", "alt", "title", "width", "height", "id"},
    "td": {"colspan", "rowspan"},
    "th": {"colspan", "rowspan"},
}


def sanitize_html(content: str) -> str:
    """``content`` with everything outside the allowlist removed (text is kept, escaped)."""
    return nh3.clean(
        content,
        tags=_TAGS,
        attributes=_ATTRIBUTES,
        url_schemes={"http", "https", "mailto"},
        link_rel="noopener noreferrer",
    )
