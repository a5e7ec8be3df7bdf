"""The ingest app served in-process on a real port (SQLite store, recording publisher), for
tests that drive it with a synchronous HTTP client from the test thread."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web

from services.ingest.app import create_app
from services.ingest.connections import GuardedRunner, connection_limits
from services.ingest.sqlite_store import SqliteJobStore
from services.ingest.tokens import token_hash

from tests.ingest.conftest import ALICE, RecordingPublisher, always_ready, make_settings


@dataclass(frozen=True)
class Served:
    base_url: str
    app: web.Application
    port: int


@contextmanager
def serve_in_thread(tmp: Path, **overrides: Any) -> Iterator[Served]:
    """The app on a real port, its loop in a thread, user ``alice`` holding ``ALICE``.

    The runner is the production one (``GuardedRunner``, its per-connection bounds), so a long
    or malformed request meets the same answer as against ``shotline ingest``. ``overrides`` go
    to the settings.
    """
    loop = asyncio.new_event_loop()
    started = threading.Event()
    holder: dict[str, Any] = {}

    async def start() -> None:
        store = SqliteJobStore(tmp / "jobs.sqlite3")
        await store.add_user("alice", token_hash(ALICE))
        settings = make_settings(tmp, **overrides)
        app = create_app(settings, store, RecordingPublisher(), broker_ready=always_ready)
        runner = GuardedRunner(app, connection_limits(settings))
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        holder.update(runner=runner, app=app, store=store, port=runner.addresses[0][1])
        started.set()

    thread = threading.Thread(target=lambda: (loop.run_until_complete(start()), loop.run_forever()),
                              daemon=True)
    thread.start()
    assert started.wait(20), "app did not start"
    try:
        port = holder["port"]
        yield Served(f"http://127.0.0.1:{port}", holder["app"], port)
    finally:
        asyncio.run_coroutine_threadsafe(holder["runner"].cleanup(), loop).result(20)
        asyncio.run_coroutine_threadsafe(holder["store"].close(), loop).result(20)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(20)
        loop.close()
