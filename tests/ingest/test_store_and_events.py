"""The job store, the lifecycle merge and event application: idempotent, never backwards."""

from __future__ import annotations

from contracts.events import JobCancelled, JobDone, JobFailed, JobSpooled, JobStatusChanged
from contracts.status import JobStatus
from services.ingest.events import apply_event, transition_for
from services.ingest.lifecycle import JobState, Transition, merge
from services.ingest.limits import RateLimiter, retry_after_header
from services.ingest.sqlite_store import SqliteJobStore
from services.ingest.store import Created, IdempotencyClaim, KeyConflict, NewJob, Replayed
from services.ingest.tokens import new_token, token_hash, valid_username

from tests.ingest.conftest import ALICE, FERMION_JOB

RESULT = {"backend_name": "shotline_fermions_simulator", "backend_version": "0.1",
          "job_id": "j1", "qobj_id": None, "success": True, "results": []}


def ev(cls, job_id="j1", **fields):
    return cls.create("test", job_id=job_id, backend="fermions", **fields)


async def new_job(store: SqliteJobStore, job_id: str = "j1", owner: str = "alice",
                  backend: str = "fermions") -> None:
    outcome = await store.create_job(NewJob(job_id, owner, backend, FERMION_JOB, "Got your json."), None)
    assert isinstance(outcome, Created)
    await store.mark_queued(job_id, "queued")


def test_merge_never_leaves_a_final_state() -> None:
    done = JobState(JobStatus.DONE, "Done.", result=RESULT)
    assert merge(done, Transition(JobStatus.RUNNING, shots_done=3)) is done
    assert merge(done, Transition(JobStatus.ERROR, error_message="x")) is done


def test_merge_never_moves_backwards_and_progress_only_grows() -> None:
    running = JobState(JobStatus.RUNNING, "r", shots_done=5, shots_total=10)
    assert merge(running, Transition(JobStatus.QUEUED)) is running
    later = merge(running, Transition(JobStatus.RUNNING, shots_done=3))
    assert later.shots_done == 5 and later.shots_total == 10


async def test_same_event_twice_changes_nothing(store: SqliteJobStore) -> None:
    # Given a queued job and a progress event
    await new_job(store)
    event = ev(JobStatusChanged, status=JobStatus.RUNNING, detail="2 of 4", shots_done=2, shots_total=4)
    # When it is applied twice
    first, second = await apply_event(store, event), await apply_event(store, event)
    # Then only the first application changed the job, and the history has one RUNNING entry
    assert (first, second) == (True, False)
    job = await store.get_job("j1", "alice")
    assert job and job.state.shots_done == 2
    assert [h.status for h in await store.history("j1")].count(JobStatus.RUNNING) == 1


async def test_out_of_order_events_do_not_reopen_a_done_job(store: SqliteJobStore) -> None:
    await new_job(store)
    await apply_event(store, ev(JobDone, result=RESULT))
    await apply_event(store, ev(JobSpooled, experiments=[], total_shots=4))
    await apply_event(store, ev(JobFailed, stage="analysis", reason="late"))
    job = await store.get_job("j1", "alice")
    assert job and job.status == JobStatus.DONE and job.state.result
    assert job.state.result["status"] == "finished"


async def test_every_lifecycle_event_maps_to_a_state(store: SqliteJobStore) -> None:
    await new_job(store, "a")
    await new_job(store, "b")
    await new_job(store, "c")
    await apply_event(store, ev(JobSpooled, "a", experiments=[], total_shots=8))
    await apply_event(store, ev(JobFailed, "b", stage="execution", reason="laser unlocked"))
    await apply_event(store, ev(JobCancelled, "c", shots_dropped=4))
    a, b, c = [await store.get_job(j, "alice") for j in "abc"]
    assert a and a.status == JobStatus.RUNNING and a.state.shots_total == 8
    assert b and b.status == JobStatus.ERROR and "laser unlocked" in b.state.error_message
    assert c and c.status == JobStatus.CANCELLED


def test_status_changed_done_waits_for_the_result() -> None:
    change = transition_for(ev(JobStatusChanged, status=JobStatus.DONE, detail="all shots"))
    assert change.status == JobStatus.RUNNING


async def test_event_for_unknown_job_is_ignored(store: SqliteJobStore) -> None:
    assert await apply_event(store, ev(JobDone, "ghost", result=RESULT)) is False


async def test_idempotency_claims(store: SqliteJobStore) -> None:
    claim = IdempotencyClaim("k1", "fp1")
    first = await store.create_job(NewJob("x1", "alice", "fermions", FERMION_JOB, "d"), claim)
    again = await store.create_job(NewJob("x2", "alice", "fermions", FERMION_JOB, "d"), claim)
    other = await store.create_job(NewJob("x3", "alice", "fermions", FERMION_JOB, "d"),
                                   IdempotencyClaim("k1", "fp2"))
    assert isinstance(first, Created)
    assert isinstance(again, Replayed) and again.job.job_id == "x1"
    assert isinstance(other, KeyConflict) and other.job_id == "x1"
    # Keys are per user: bob may use the same key for his own job
    bobs = await store.create_job(NewJob("x4", "bob", "fermions", FERMION_JOB, "d"), claim)
    assert isinstance(bobs, Created)


async def test_rejected_job_frees_its_key_and_is_final(store: SqliteJobStore) -> None:
    await store.create_job(NewJob("r1", "alice", "fermions", FERMION_JOB, "d"), IdempotencyClaim("k", "f"))
    await store.reject_job("r1", "broker down")
    job = await store.get_job("r1", "alice")
    assert job and job.status == JobStatus.ERROR and job.state.error_message == "broker down"
    assert await store.find_key("alice", "k") is None
    assert await store.count_unfinished("alice") == 0


async def test_queue_position_counts_unfinished_jobs_ahead(store: SqliteJobStore) -> None:
    for job_id in ("q1", "q2", "q3"):
        await new_job(store, job_id)
    await new_job(store, "other", backend="rydberg")
    await apply_event(store, ev(JobDone, "q1", result=RESULT))
    q3 = await store.get_job("q3", "alice")
    assert q3 and await store.queue_position(q3) == (2, 2)


async def test_tokens_are_stored_hashed(store: SqliteJobStore) -> None:
    token = new_token()
    await store.add_user("carol", token_hash(token))
    assert await store.user_for_token_hash(token_hash(token)) == "carol"
    rows = store._db.execute("SELECT token_hash FROM users").fetchall()  # noqa: SLF001
    assert all(token not in row[0] for row in rows)
    await store.revoke_user("carol")
    assert await store.user_for_token_hash(token_hash(token)) is None
    assert await store.user_for_token_hash(token_hash(ALICE)) == "alice"


def test_usernames_cannot_contain_dashes() -> None:
    assert valid_username("fred_2") and not valid_username("fred-2") and not valid_username("")


def test_token_bucket() -> None:
    now = [0.0]
    limiter = RateLimiter(rate=2.0, burst=2, clock=lambda: now[0])
    assert limiter.try_acquire("u") == 0 and limiter.try_acquire("u") == 0
    wait = limiter.try_acquire("u")
    assert wait == 0.5 and retry_after_header(wait) == "1"
    now[0] = 0.5
    assert limiter.try_acquire("u") == 0
    assert limiter.try_acquire("other") == 0
