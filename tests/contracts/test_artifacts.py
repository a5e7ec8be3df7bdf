"""The checked-in schemas, AsyncAPI document, event catalogue and broker definitions are
generated from the code; these tests fail when they drift (fix: python -m contracts.artifacts)."""

import json

import pika
import pytest

from contracts.artifacts import DEFINITIONS, ROOT, rabbitmq_definitions, rendered
from contracts.topology import QUEUES
from services.common.bus.declare import declare_queues


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
    assert defs["policies"][0]["definition"]["delivery-limit"] >= 1
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
    # Then every work queue and DLQ is a quorum queue
    for spec in QUEUES:
        assert management.queue(vhost, spec.name)["type"] == "quorum"
        assert management.queue(vhost, spec.dead_letter_queue)["type"] == "quorum"
