"""Poison on every work queue, consumed by the real service process: a malformed body, a wrong
schema version and an oversized message each end in the queue's DLQ, logged once; a message for
a job nobody knows meets the fate chosen for that queue; the service then handles a good one."""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pika
import pytest

from contracts.events import (
    MAX_MESSAGE_BYTES, Event, JobCancelled, JobCancelRequested, JobFailed, JobSpooled,
    JobStatusChanged, JobSubmitted, ShotAnalysed, ShotArchived, ShotFinished, SpooledExperiment,
    UndecodableEvent, decode_event, encode_event,
)
from contracts.status import JobStatus
from contracts.topology import (
    ANALYSIS_SHOTS, ARCHIVER_SHOTS, EXCHANGE, INGEST_JOB_EVENTS, QUEUES, RESULTS_PROGRESS,
    SPOOLER_CANCELS, SPOOLER_JOBS, QueueSpec,
)
from services.common.bus import Publisher
from services.common.bus.publisher import event_properties
from tests.conftest import wait_until
from tests.support.stack import Stack

pytestmark = [pytest.mark.rabbit, pytest.mark.e2e]
BACKEND = "singlequdit"
PAYLOAD = {"experiment_0": {"instructions": [["load", [0], [5]], ["measure", [0], []]],
                            "num_wires": 1, "shots": 2}}
SHA = "0" * 64
#: The three kinds every queue dead-letters, whatever its handler does.
UNDECODABLE = ("malformed body", "wrong schema version", "oversized")


def sample(queue: QueueSpec, job_id: str, **fields: Any) -> Event:
    """A valid event of the type ``queue`` consumes (routed only to it), for ``job_id``."""
    shot = {"experiment": "experiment_0", "shot_index": 0, "path": "/nonexistent/shot.h5",
            "sha256": SHA, "size": 1}
    make: dict[str, Callable[[], Event]] = {
        SPOOLER_JOBS.name: lambda: JobSubmitted.create(
            "test", job_id=job_id, backend=BACKEND, owner="alice", payload=PAYLOAD),
        SPOOLER_CANCELS.name: lambda: JobCancelRequested.create(
            "test", job_id=job_id, backend=BACKEND, requested_by="alice"),
        ANALYSIS_SHOTS.name: lambda: ShotFinished.create(
            "test", job_id=job_id, backend=BACKEND, **{**shot, **fields}),
        ARCHIVER_SHOTS.name: lambda: ShotAnalysed.create(
            "test", job_id=job_id, backend=BACKEND, memory="1", **{**shot, **fields}),
        RESULTS_PROGRESS.name: lambda: ShotArchived.create(
            "test", job_id=job_id, backend=BACKEND, memory="1", **{**shot, **fields}),
        INGEST_JOB_EVENTS.name: lambda: JobStatusChanged.create(
            "test", job_id=job_id, backend=BACKEND, status=JobStatus.RUNNING,
            detail=fields.get("detail", "poison test")),
    }
    return make[queue.name]()


def poison(kind: str, queue: QueueSpec) -> tuple[Event, bytes]:
    """(the event the message claims to be, its body) for one undecodable kind."""
    event = sample(queue, f"poison-{uuid.uuid4().hex[:8]}")
    if kind == "malformed body":
        return event, encode_event(event)[:-20] + b"\x00\xff not json"
    if kind == "wrong schema version":
        return event, json.dumps({**event.model_dump(mode="json"), "schema_version": 2}).encode()
    # A valid event padded with whitespace (still valid JSON): only the size check refuses it.
    body = encode_event(event)
    return event, body + b" " * (MAX_MESSAGE_BYTES + 1 - len(body))


class Bus:
    """The test's own connection: publishes like a producer, reads DLQs and a tap of events."""

    def __init__(self, amqp_url: str) -> None:
        self.publisher = Publisher(amqp_url, "test.poison")
        self.connection = pika.BlockingConnection(pika.URLParameters(amqp_url))
        self.channel = self.connection.channel()
        # Bound before anything is published, so no event of the test is missed.
        self.tap = self.channel.queue_declare("", exclusive=True).method.queue
        self.channel.queue_bind(self.tap, EXCHANGE, "#")
        self.seen: list[Event] = []

    def send(self, event: Event, body: bytes | None = None) -> None:
        self.publisher.publish_raw(EXCHANGE, event.routing_key(),
                                   encode_event(event) if body is None else body,
                                   event_properties(event))

    def dead_letters(self, queue: QueueSpec, count: int, timeout: float = 60) -> list[str]:
        """Message ids of the next ``count`` dead letters, taken off the DLQ as they arrive."""
        ids: list[str] = []
        for method, props, _ in self.channel.consume(queue.dead_letter_queue, inactivity_timeout=timeout):
            assert method is not None, f"only {len(ids)} of {count} reached {queue.dead_letter_queue}"
            ids.append(props.message_id)
            self.channel.basic_ack(method.delivery_tag)
            if len(ids) == count:
                break
        self.channel.cancel()
        return ids

    def depth(self, name: str) -> int:
        return self.channel.queue_declare(name, passive=True).method.message_count

    def wait_event(self, match: Callable[[Event], bool], timeout: float = 60) -> Event:
        """The first event on the tap (seen before, or arriving now) that ``match``es."""
        for event in self.seen:
            if match(event):
                return event
        deadline = time.monotonic() + timeout
        for method, props, body in self.channel.consume(self.tap, auto_ack=True, inactivity_timeout=1):
            if method is not None:
                try:
                    event = decode_event(props.type, body)
                except UndecodableEvent:
                    continue  # the test's own poison, seen on its way to the queue
                self.seen.append(event)
                if match(event):
                    self.channel.cancel()
                    return event
            if time.monotonic() > deadline:
                self.channel.cancel()
                raise AssertionError(f"no matching event; seen {[type(e).__name__ for e in self.seen]}")
        raise AssertionError("tap closed")

    def close(self) -> None:
        self.publisher.close()
        self.connection.close()


def log_lines(stack: Stack, service: str) -> list[dict[str, Any]]:
    path = stack.home / "logs" / f"{service}.log"
    lines = []
    for raw in path.read_text(errors="replace").splitlines():
        try:
            lines.append(json.loads(raw))
        except ValueError:
            continue  # a traceback line from a library, not ours
    return lines


def dead_letter_logs(stack: Stack, service: str, count: int) -> list[dict[str, Any]]:
    def found() -> list[dict[str, Any]]:
        return [ln for ln in log_lines(stack, service) if ln.get("event") == "message_dead_lettered"]

    # The service wrote each line before it rejected the message, but the test's log reader
    # thread may still be copying it from the pipe into the file.
    wait_until(lambda: len(found()) >= count, timeout=10,
               what=f"{count} message_dead_lettered lines in {service}.log")
    return found()


@pytest.fixture
def harness(tmp_path: Path, amqp_url: str) -> Iterator[Callable[..., tuple[Stack, Bus]]]:
    opened: list[Any] = []

    def start(*services: str) -> tuple[Stack, Bus]:
        stack = Stack(tmp_path / "home", amqp_url)
        opened.append(stack)
        stack.start(services)
        bus = Bus(amqp_url)
        opened.append(bus)
        return stack, bus

    yield start
    for thing in reversed(opened):
        (thing.close if isinstance(thing, Bus) else thing.stop)()


def undecodable_to_dlq(stack: Stack, bus: Bus, queue: QueueSpec) -> None:
    """Each undecodable kind ends in the queue's DLQ, in order, and is logged exactly once."""
    sent = []
    for kind in UNDECODABLE:
        event, body = poison(kind, queue)
        bus.send(event, body)
        sent.append(event.message_id)
    assert bus.dead_letters(queue, len(sent)) == sent
    lines = dead_letter_logs(stack, queue.service, len(sent))
    assert len(lines) == len(sent), lines  # once each: never re-delivered, never logged twice
    reasons = [ln["reason"] for ln in lines]
    assert "invalid" in reasons[0] and "schema_version" in reasons[1]
    assert reasons[2].startswith(f"message of {MAX_MESSAGE_BYTES + 1} bytes exceeds"), reasons[2]
    # Each line names the message it dead-lettered (the spooler's intake binds it too).
    assert [ln.get("message_id") for ln in lines] == sent


def assert_healthy(stack: Stack, bus: Bus, queue: QueueSpec) -> None:
    assert bus.depth(queue.dead_letter_queue) == 0
    assert stack.procs[queue.service].process.poll() is None, "the service died"
    assert not [ln for ln in log_lines(stack, queue.service) if ln.get("event") == "handler_crashed"]


def test_every_work_queue_has_a_poison_test():
    tested = {name.removeprefix("test_poison_") for name in globals() if name.startswith("test_poison_")}
    assert tested == {q.name.replace(".", "_") for q in QUEUES}


def test_poison_spooler_on_job_submitted(harness):
    stack, bus = harness("spooler")
    undecodable_to_dlq(stack, bus, SPOOLER_JOBS)
    # A JobSubmitted is a job's first message: there is no registry to find an unknown job
    # in, so a job the ingest never stored is spooled like any other (keeping others from
    # publishing job.submitted is the broker's job: topic permissions).
    ghost = sample(SPOOLER_JOBS, "ghost-job")
    bus.send(ghost)
    assert bus.wait_event(lambda e: isinstance(e, JobSpooled) and e.job_id == "ghost-job").total_shots == 2
    # The next good job is taken too (jobs_in_hand = 2 holds both).
    bus.send(sample(SPOOLER_JOBS, "good-job"))
    bus.wait_event(lambda e: isinstance(e, JobSpooled) and e.job_id == "good-job")
    assert_healthy(stack, bus, SPOOLER_JOBS)


def test_poison_spooler_on_job_cancel_requested(harness):
    stack, bus = harness("spooler")
    bus.send(sample(SPOOLER_JOBS, "real-job"))
    bus.wait_event(lambda e: isinstance(e, JobSpooled) and e.job_id == "real-job")
    undecodable_to_dlq(stack, bus, SPOOLER_CANCELS)
    # A cancel may overtake its job (two queues): for an unknown job it is acked and recorded,
    # and the job is dropped when it arrives.
    bus.send(sample(SPOOLER_CANCELS, "ghost-job"))
    bus.send(sample(SPOOLER_CANCELS, "real-job"))  # the good message
    cancelled = bus.wait_event(lambda e: isinstance(e, JobCancelled) and e.job_id == "real-job")
    assert cancelled.shots_dropped >= 0
    assert [ln for ln in log_lines(stack, "spooler")
            if ln.get("event") == "cancel_recorded" and ln.get("job_id") == "ghost-job"]
    bus.send(sample(SPOOLER_JOBS, "ghost-job"))
    dropped = bus.wait_event(lambda e: isinstance(e, JobCancelled) and e.job_id == "ghost-job")
    assert dropped.shots_dropped == 2
    assert not [e for e in bus.seen if isinstance(e, JobSpooled) and e.job_id == "ghost-job"]
    assert_healthy(stack, bus, SPOOLER_CANCELS)


def test_poison_analysis_on_shot_finished(harness, tmp_path):
    from tests.analysis.shotfiles import build_job, shot_finished

    stack, bus = harness("analysis")
    undecodable_to_dlq(stack, bus, ANALYSIS_SHOTS)
    shots = stack.shots_dir / BACKEND
    # A shot of an unknown job whose file does not exist: the job (if it exists anywhere)
    # fails with a reason a user can read; nothing to retry, so nothing to dead-letter.
    bus.send(sample(ANALYSIS_SHOTS, "ghost-job", path=str(shots / "ghost-job/experiment_0/0000.h5")))
    failed = bus.wait_event(lambda e: isinstance(e, JobFailed) and e.job_id == "ghost-job")
    assert failed.stage == "analysis" and "does not exist" in failed.reason
    # A shot file outside the shot folders is never opened: the message is dead-lettered.
    outside = build_job(tmp_path / "elsewhere", BACKEND, "forged-job", {"experiment_0": 1})["experiment_0"][0]
    forged = shot_finished(outside)
    bus.send(forged)
    assert bus.dead_letters(ANALYSIS_SHOTS, 1) == [forged.message_id]
    good = build_job(shots, BACKEND, "good-job", {"experiment_0": 1})["experiment_0"][0]
    bus.send(shot_finished(good))
    bus.wait_event(lambda e: isinstance(e, ShotAnalysed) and e.job_id == "good-job")
    assert_healthy(stack, bus, ANALYSIS_SHOTS)


def test_poison_archiver_on_shot_analysed(harness, tmp_path):
    stack, bus = harness("archiver")
    undecodable_to_dlq(stack, bus, ARCHIVER_SHOTS)
    shots = stack.shots_dir / BACKEND
    # Nothing to archive and nothing archived: the job fails at the archiving stage.
    bus.send(sample(ARCHIVER_SHOTS, "ghost-job", path=str(shots / "ghost-job/experiment_0/0000.h5")))
    failed = bus.wait_event(lambda e: isinstance(e, JobFailed) and e.job_id == "ghost-job")
    assert failed.stage == "archiving" and "never archived" in failed.reason
    # A file outside the shot folders is never archived (nor deleted): dead-lettered.
    outside = tmp_path / "precious.h5"
    outside.write_bytes(b"not a shot")
    forged = sample(ARCHIVER_SHOTS, "forged-job", path=str(outside), size=10,
                    sha256=hashlib.sha256(b"not a shot").hexdigest())
    bus.send(forged)
    assert bus.dead_letters(ARCHIVER_SHOTS, 1) == [forged.message_id]
    assert outside.read_bytes() == b"not a shot"
    shot = shots / "good-job" / "experiment_0" / "0000.h5"
    shot.parent.mkdir(parents=True)
    shot.write_bytes(b"shot bytes")
    bus.send(sample(ARCHIVER_SHOTS, "good-job", path=str(shot), size=10,
                    sha256=hashlib.sha256(b"shot bytes").hexdigest()))
    archived = bus.wait_event(lambda e: isinstance(e, ShotArchived) and e.job_id == "good-job")
    assert Path(archived.path).read_bytes() == b"shot bytes" and not shot.exists()
    assert_healthy(stack, bus, ARCHIVER_SHOTS)


def test_poison_analysis_on_job_progress(harness):
    stack, bus = harness("analysis")
    undecodable_to_dlq(stack, bus, RESULTS_PROGRESS)
    # Events of a job reach this queue in any order: an archived shot of a job not yet known is
    # kept (acked, nothing published) until the job's JobSpooled says what to expect.
    bus.send(sample(RESULTS_PROGRESS, "ghost-job", path="/archive/ghost/0.h5"))
    spooled = JobSpooled.create(
        "test", job_id="ghost-job", backend=BACKEND, total_shots=2,
        experiments=[SpooledExperiment(name="experiment_0", n_shots=2)])
    bus.send(spooled)  # the good message: it counts the shot that came first
    progress = bus.wait_event(lambda e: isinstance(e, JobStatusChanged) and e.job_id == "ghost-job")
    assert (progress.shots_done, progress.shots_total) == (1, 2)
    assert not [e for e in bus.seen if isinstance(e, (JobFailed, ShotArchived)) and e.producer != "test"]
    assert_healthy(stack, bus, RESULTS_PROGRESS)


def test_poison_ingest_on_job_event(harness):
    stack, bus = harness("ingest")
    stack.add_user("alice")
    job_id = stack.post_job(BACKEND, PAYLOAD)
    undecodable_to_dlq(stack, bus, INGEST_JOB_EVENTS)
    # The ingest is where jobs are born: an event for a job not in its store changes nothing
    # and is acked (logged as job_event changed=false); no job appears from it.
    bus.send(sample(INGEST_JOB_EVENTS, "ghost-job"))
    bus.send(sample(INGEST_JOB_EVENTS, job_id, detail="good message after poison"))
    deadline = time.monotonic() + 30
    while stack.status(BACKEND, job_id)["detail"] != "good message after poison":
        assert time.monotonic() < deadline, stack.status(BACKEND, job_id)
        time.sleep(0.1)  # the HTTP API has no push: poll it as every client does
    assert stack.status(BACKEND, job_id)["status"] == "RUNNING"
    assert stack.status(BACKEND, "ghost-job")["status"] == "ERROR"  # "unknown job", not a job
    ghost = [ln for ln in log_lines(stack, "ingest")
             if ln.get("event") == "job_event" and ln.get("job_id") == "ghost-job"]
    assert [ln["changed"] for ln in ghost] == [False]
    assert_healthy(stack, bus, INGEST_JOB_EVENTS)


def test_the_spooler_intake_takes_a_job_only_under_its_own_routing_key(harness):
    stack, bus = harness("spooler")
    forged = {"x-shotline-routing-key": "job.submitted.rydberg"}
    # Given a rydberg job published under the singlequdit key, its header claiming the right one
    misrouted = sample(SPOOLER_JOBS, "misrouted-job").model_copy(update={"backend": "rydberg"})
    bus.publisher.publish_raw(EXCHANGE, "job.submitted.singlequdit", encode_event(misrouted),
                              event_properties(misrouted, forged))
    # ... and a good job returned under the intake's own name (as from its retry buffer), its
    # header naming another backend's key
    returned = sample(SPOOLER_JOBS, "returned-job")
    bus.publisher.publish_raw("", SPOOLER_JOBS.name, encode_event(returned),
                              event_properties(returned, forged))
    # Then the misrouted one waits in the DLQ, logged once, and the returned one is spooled
    # for the backend its body names
    assert bus.dead_letters(SPOOLER_JOBS, 1) == [misrouted.message_id]
    (line,) = dead_letter_logs(stack, "spooler", 1)
    assert "does not belong on routing key 'job.submitted.singlequdit'" in line["reason"]
    spooled = bus.wait_event(lambda e: isinstance(e, JobSpooled) and e.job_id == "returned-job")
    assert spooled.backend == BACKEND
    bus.send(sample(SPOOLER_JOBS, "good-job"))
    bus.wait_event(lambda e: isinstance(e, JobSpooled) and e.job_id == "good-job")
    # (the tap saw the JobSubmitted itself on its way in; nothing came of it)
    assert [type(e) for e in bus.seen if e.job_id == "misrouted-job"] == [JobSubmitted]
    assert_healthy(stack, bus, SPOOLER_JOBS)
