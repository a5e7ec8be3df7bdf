"""deploy/rabbitmq/definitions.json in a test's own vhost: its topology, and its users under
names of their own (users are broker-wide, so two runs side by side never share one)."""

from __future__ import annotations

from urllib.parse import quote, urlsplit

from contracts.artifacts import rabbitmq_definitions
from services.common.bus.admin import Management

#: The vhost-scoped parts of the definitions, as the broker loads them at boot.
TOPOLOGY_KEYS = ("exchanges", "queues", "bindings", "policies")


def load_topology(management: Management, vhost: str) -> None:
    """Import the exchanges, queues, bindings and policies of the definitions into ``vhost``."""
    defs = rabbitmq_definitions()
    scoped = {k: [{kk: vv for kk, vv in item.items() if kk != "vhost"} for item in defs[k]]
              for k in TOPOLOGY_KEYS}
    management.request("POST", f"/definitions/{quote(vhost, safe='')}", scoped)


def create_users(management: Management, vhost: str, amqp_base: str) -> dict[str, str]:
    """Every non-administrator user of the definitions, named ``<vhost>-<user>``, with its
    password hash, permissions and topic permissions, on ``vhost`` only; returns each user's
    AMQP URL (its development password is ``change-me-<user>``, which proves the hash)."""
    defs = rabbitmq_definitions()
    v = quote(vhost, safe="")
    broker = urlsplit(amqp_base)
    urls = {}
    for user in defs["users"]:
        if "administrator" in user["tags"]:
            continue
        name, own = user["name"], f"{vhost}-{user['name']}"
        management.request("PUT", f"/users/{quote(own, safe='')}", {
            "password_hash": user["password_hash"], "hashing_algorithm": user["hashing_algorithm"],
            "tags": ""})
        for perm in defs["permissions"]:
            if perm["user"] == name:
                management.request("PUT", f"/permissions/{v}/{quote(own, safe='')}", {
                    k: perm[k] for k in ("configure", "write", "read")})
        for perm in defs["topic_permissions"]:
            if perm["user"] == name:
                management.request("PUT", f"/topic-permissions/{v}/{quote(own, safe='')}", {
                    k: perm[k] for k in ("exchange", "write", "read")})
        urls[name] = (f"{broker.scheme}://{quote(own, safe='')}:change-me-{name}"
                      f"@{broker.hostname}:{broker.port or 5672}/{v}")
    return urls


def delete_users(management: Management, vhost: str, names: list[str]) -> None:
    for name in names:
        management.request("DELETE", f"/users/{quote(f'{vhost}-{name}', safe='')}")
