"""Every ACS API request carries an api-version (the server answers 400 without one, as ACS
does). Tests that speak the wire by hand add the SDKs' versions with these helpers:
``versioned(path)`` for one URL, ``hooks()`` / ``async_hooks()`` as an httpx client's
``event_hooks`` for every request it sends (a request naming its own version keeps it)."""

from __future__ import annotations

from typing import Any

import httpx

__all__ = ["VERSIONS", "add_api_version", "async_hooks", "hooks", "version_for", "versioned"]

# What the official SDKs pinned in pyproject.toml send.
VERSIONS = {
    "/chat/config/": "2024-09-01",
    "/chat": "2024-03-07",
    "/identities": "2023-10-01",
    "/networkTraversal": "2022-03-01-preview",
    "/availablePhoneNumbers": "2025-06-01",
    "/phoneNumbers": "2025-06-01",
    "/operatorInformation": "2025-06-01",
    "/sms/optouts": "2024-12-10-preview",
    "/sms": "2021-03-07",
}


def version_for(path: str) -> str | None:
    return next((v for prefix, v in VERSIONS.items() if path.startswith(prefix)), None)


def versioned(url: str) -> str:
    """``url`` with the api-version of its API added (unchanged if it has one or needs none)."""
    parsed = httpx.URL(url)
    version = version_for(parsed.path)
    if version is None or "api-version" in parsed.params:
        return url
    return url + ("&" if "?" in url else "?") + f"api-version={version}"


def add_api_version(request: httpx.Request) -> None:
    """Add the api-version of the request's API if it names none."""
    version = version_for(request.url.path)
    if version is not None and "api-version" not in request.url.params:
        request.url = request.url.copy_add_param("api-version", version)


def hooks() -> dict[str, list[Any]]:
    return {"request": [add_api_version]}


async def _add_async(request: httpx.Request) -> None:
    add_api_version(request)


def async_hooks() -> dict[str, list[Any]]:
    return {"request": [_add_async]}
