"""A communication user with a token, as the tests of every capability make them."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

__all__ = ["MakeUser", "User"]


@dataclass
class User:
    id: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"authorization": f"Bearer {self.token}"}


MakeUser = Callable[..., Awaitable[User]]
