"""The INGEST_JOB_EVENTS consumer against the real broker: events reach the store, once."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator

import pytest

from contracts.events import JobDone, JobSpooled, JobStatusChanged
from contracts.status import JobStatus
from contracts.topology import INGEST_JOB_EVENTS
from services.common.bus import Consumer, Publisher, Route
from services.ingest.service import JobEventFolder
from services.ingest.lifecycle import Transition
from services.ingest.sqlite_store import SqliteJobStore
from services.ingest.store import NewJob

from tests.ingest.conftest import FERMION_JOB

pytestmark = pytest.mark.rabbit
TIMEOUT = 20


class SignallingStore(SqliteJobStore):
    """Tells the test each time an event was applied (the signal to wait on)."""

    def __init__(self, *args, **kwargs) -> None:  # noqa: ANN002, ANN003
        super().__init__(*args, **kwargs)
        self.applied: asyncio.Queue[tuple[str, bool]] = asyncio.Queue()

    async def apply(self, message_id: str, job_id: str, change: Transition) -> bool:
        changed = await super().apply(message_id, job_id, change)
        self.applied.put_nowait((message_id, changed))
        return changed


@pytest.fixture
async def consuming(tmp_path, amqp_url: str) -> AsyncIterator[SignallingStore]:
    store = SignallingStore(tmp_path / "jobs.sqlite3")
    folder = JobEventFolder(store, asyncio.get_running_loop())
    consumer = Consumer(amqp_url, "ingest", [Route.to(INGEST_JOB_EVENTS, folder.on_job_event)])
    thread = threading.Thread(target=consumer.run, daemon=True)
    thread.start()
    assert await asyncio.to_thread(consumer.ready.wait, TIMEOUT), "consumer did not start"
    yield store
    consumer.stop()
    await asyncio.to_thread(thread.join, TIMEOUT)
    await store.close()


async def test_events_are_applied_once_even_when_redelivered(consuming: SignallingStore,
                                                             amqp_url: str) -> None:
    store = consuming
    await store.create_job(NewJob("j1", "alice", "fermions", FERMION_JOB, "Got your json."), None)
    await store.mark_queued("j1", "queued")
    progress = JobStatusChanged.create("test", job_id="j1", backend="fermions",
                                       status=JobStatus.RUNNING, detail="2 of 4",
                                       shots_done=2, shots_total=4)
    spooled = JobSpooled.create("test", job_id="j1", backend="fermions", experiments=[],
                                total_shots=4)
    done = JobDone.create("test", job_id="j1", backend="fermions", result={"results": []})

    def publish_all() -> None:
        publisher = Publisher(amqp_url, "test")
        # The progress event twice (a redelivery), then one arriving late, then done
        for event in (progress, progress, spooled, done):
            publisher.publish(event)
        publisher.close()

    await asyncio.to_thread(publish_all)
    seen = [await asyncio.wait_for(store.applied.get(), TIMEOUT) for _ in range(4)]
    assert seen == [(progress.message_id, True), (progress.message_id, False),
                    (spooled.message_id, False), (done.message_id, True)]
    job = await store.get_job("j1", "alice")
    assert job and job.status == JobStatus.DONE and job.state.shots_done == 2
    assert job.state.result == {"results": [], "status": "finished"}
