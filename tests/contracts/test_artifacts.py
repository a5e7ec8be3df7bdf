"""The checked-in schemas, AsyncAPI document, event catalogue and broker definitions are
generated from the code; these tests fail when they drift (fix: python -m contracts.artifacts)."""

import json

import pika
import pytest

from contracts.artifacts import DEFINITIONS, ROOT, rabbitmq_definitions, rendered
from contracts.topology import QUEUES
from services.common.bus.declare import declare_queues
from tests.conftest import wait_until


@pytest.mark.parametrize("path", sorted(rendered()), ids=lambda p: str(p.relative_to(ROOT)))
def test_generated_file_is_current(path):
    assert path.exists(), f"{path} missing: run python -m contracts.artifacts"
    assert path.read_text() == rendered()[path], f"{path} drifted: run python -m contracts.artifacts"


def test_definitions_declare_every_queue_as_the_code_does():
    defs = json.loads(DEFINITIONS.read_text())
    by_name = {q["name"]: q for q in defs["queues"]}
    for spec in QUEUES:
        assert by_name[spec.name]["arguments"] == spec.arguments
        assert by_name[spec.dead_letter_queue]["arguments"]["x-queue-type"] == "quorum"
        bound = {b["routing_key"] for b in defs["bindings"] if b["destination"] == spec.name}
        assert bound == set(spec.bindings)
    import re
    for spec in QUEUES:
        matching = [p for p in defs["policies"] if re.fullmatch(p["pattern"], spec.name)]
        assert [p["definition"]["delivery-limit"] for p in matching] == [spec.delivery_limit]
        assert not any(re.fullmatch(p["pattern"], spec.dead_letter_queue) for p in defs["policies"])
    users = {u["name"] for u in defs["users"]}
    assert {"ingest", "spooler", "shotwatch", "analysis", "archiver"} <= users


@pytest.mark.rabbit
def test_definitions_load_into_a_broker_and_match_what_services_declare(management, vhost, bare_amqp_url):
    # Given the vhost-scoped part of definitions.json imported into a fresh vhost
    defs = rabbitmq_definitions()
    scoped = {k: [dict(item, vhost=vhost) for item in defs[k]]
              for k in ("exchanges", "queues", "bindings", "policies")}
    from urllib.parse import quote
    management.request("POST", f"/definitions/{quote(vhost, safe='')}",
                       {k: [{kk: vv for kk, vv in i.items() if kk != "vhost"} for i in v] for k, v in scoped.items()})
    # When the services declare their queues (a mismatch would raise PRECONDITION_FAILED)
    connection = pika.BlockingConnection(pika.URLParameters(bare_amqp_url))
    declare_queues(connection.channel(), QUEUES)
    connection.close()
    # Then every work queue, DLQ and retry buffer is a quorum queue; delivery limits in force
    for spec in QUEUES:
        # The management API fills in policy fields with its next stats pass: no signal to wait on.
        info = wait_until(lambda: (q := management.queue(vhost, spec.name)).get(
            "effective_policy_definition") and q, what=f"policy on {spec.name}")
        assert info["type"] == "quorum"
        assert info["effective_policy_definition"]["delivery-limit"] == spec.delivery_limit
        assert management.queue(vhost, spec.dead_letter_queue)["type"] == "quorum"
        assert management.queue(vhost, spec.retry_queue)["type"] == "quorum"


def test_documented_producers_are_the_services_that_publish_each_event():
    # PRODUCERS feeds the event catalogue and the broker's topic permissions: a service missing
    # from it could not publish in production. Read who really creates each event: built with
    # ``X.create(``, published as ``publish(..., X, ...)`` through a job's context, or a
    # ``ctx.fail("stage", ...)`` (a JobFailed).
    import re

    from contracts.artifacts import PRODUCERS, SERVICE_USERS

    found: dict[str, set[str]] = {}
    for service in SERVICE_USERS + ("emulator",):
        for source in (ROOT / "services" / service).rglob("*.py"):
            text = source.read_text()
            names = re.findall(r"\b([A-Z][A-Za-z]+)\.create\(", text)
            names += re.findall(r"publish\((?:[a-z_.]+, )*([A-Z][A-Za-z]+)\b", text)
            names += ["JobFailed"] * len(re.findall(r"\.fail\(\s*\"", text))
            for name in names:
                found.setdefault(name, set()).add(service)
    assert {name: set(users) for name, users in PRODUCERS.items()} == found
