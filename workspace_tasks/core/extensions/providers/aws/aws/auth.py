"""Credentials of provider aws, read from the environment."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

TOKEN_VARIABLE = "AWS_API_TOKEN"
URL_VARIABLE = "AWS_API_URL"


class MissingCredentials(RuntimeError):
    """The environment lacks what the provider's API needs."""


@dataclass(frozen=True)
class Credentials:
    """An API token and the endpoint it is for."""

    endpoint: str
    token: str = field(repr=False)

    def headers(self) -> dict[str, str]:
        """Return the HTTP headers that authenticate a request."""
        return {"Authorization": f"Bearer {self.token}"}


def credentials_from(environ: Mapping[str, str], default_url: str) -> Credentials:
    """Read the token (and an optional endpoint) from ``environ``.

    Raises:
        MissingCredentials: the token variable is unset or empty.
    """
    token = environ.get(TOKEN_VARIABLE, "").strip()
    if not token:
        raise MissingCredentials(f"set {TOKEN_VARIABLE} to an API token")
    return Credentials(environ.get(URL_VARIABLE) or default_url, token)
