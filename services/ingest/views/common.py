"""Helpers shared by the views: authentication and which backend a URL names."""

from __future__ import annotations

from aiohttp import web
from pydantic import SecretStr

from contracts.backends import BackendSpec
from services.ingest.context import Services
from services.ingest.errors import ApiError, unauthorized
from services.ingest.tokens import token_hash


async def authenticate(svc: Services, token: SecretStr | None) -> str:
    """The user owning ``token``; 401 for a missing, unknown or revoked one."""
    if token is None or not token.get_secret_value():
        raise unauthorized()
    user = await svc.store.user_for_token_hash(token_hash(token.get_secret_value()))
    if user is None:
        raise unauthorized()
    return user


def backend_of(svc: Services, request: web.Request) -> BackendSpec:
    """The backend named in the URL; the configured one for the single-backend /shots/ API."""
    name = request.match_info.get("backend")
    if name is None:
        name = svc.settings.shots_backend
        if name is None:
            raise ApiError(404, "Not found.", "the /shots/ API is not enabled on this server")
    return svc.backend(name)
