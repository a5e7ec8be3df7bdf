"""``shotline users add|list|revoke|token``: manage API users; a new token is the last stdout line."""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import datetime, timezone

from services.common.settings import load_settings
from services.ingest.settings import IngestSettings
from services.ingest.sqlite_store import SqliteJobStore
from services.ingest.store import UnknownUser, UserExists
from services.ingest.tokens import new_token, token_hash, valid_username


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="shotline users", description=__doc__)
    sub = parser.add_subparsers(dest="action", required=True)
    sub.add_parser("add", help="create a user and print its token").add_argument("name")
    sub.add_parser("list", help="list users (never their tokens)")
    sub.add_parser("revoke", help="invalidate a user's token").add_argument("name")
    sub.add_parser("token", help="issue a new token (the old one stops working)").add_argument("name")
    return parser


async def _run(args: argparse.Namespace, store: SqliteJobStore) -> int:
    if args.action == "list":
        for user in await store.list_users():
            created = datetime.fromtimestamp(user.created_at, timezone.utc).strftime("%Y-%m-%d")
            print(f"{user.name}\t{'revoked' if user.revoked else 'active'}\t{created}")
        return 0
    name: str = args.name
    if args.action == "add" and not valid_username(name):
        print(f"invalid user name {name[:80]!r}: use 1-64 of a-z 0-9 _", file=sys.stderr)
        return 2
    try:
        if args.action == "revoke":
            await store.revoke_user(name)
            print(f"revoked {name}")
            return 0
        token = new_token()
        if args.action == "add":
            await store.add_user(name, token_hash(token))
            print(f"created user {name}; the token below is shown once:")
        else:
            await store.set_token(name, token_hash(token))
            print(f"new token for {name}; the previous one no longer works:")
    except UserExists:
        print(f"user {name!r} exists; use `shotline users token {name}` for a new token",
              file=sys.stderr)
        return 1
    except UnknownUser:
        print(f"no user {name!r}", file=sys.stderr)
        return 1
    print(token)
    return 0


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    settings = load_settings(IngestSettings)

    async def session() -> int:
        store = SqliteJobStore(settings.database)
        try:
            return await _run(args, store)
        finally:
            await store.close()

    return asyncio.run(session())
