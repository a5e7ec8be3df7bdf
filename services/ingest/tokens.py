"""API tokens: generated with high entropy, stored only as their SHA-256, never logged."""

from __future__ import annotations

import hashlib
import re
import secrets

#: 32 random bytes; a plain hash is enough because the token is not guessable (unlike a password).
TOKEN_BYTES = 32
MAX_TOKEN_LENGTH = 256
USERNAME_PATTERN = re.compile(r"^[a-z0-9_]{1,64}$")


def new_token() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def valid_username(name: str) -> bool:
    """Lower-case letters, digits and `_`: legacy job ids split on `-`, so none is allowed."""
    return bool(USERNAME_PATTERN.fullmatch(name))
