"""A small client of the RabbitMQ management API, for operator tools and tests (not services)."""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import quote, unquote, urlsplit

from contracts.topology import policies


class ManagementError(RuntimeError):
    pass


class Management:
    """Talks to ``http://host:15672/api`` with the credentials of an AMQP URL."""

    def __init__(self, base_url: str, amqp_url: str) -> None:
        parts = urlsplit(amqp_url)
        user, password = unquote(parts.username or "guest"), unquote(parts.password or "guest")
        self._base = base_url.rstrip("/") + "/api"
        self._auth = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
        self.user = user

    def request(self, method: str, path: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self._base + path, data=data, method=method)
        req.add_header("Authorization", self._auth)
        req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                raw = resp.read()
        except urllib.error.HTTPError as exc:
            raise ManagementError(f"{method} {path}: {exc.code} {exc.read()[:300]!r}") from exc
        return json.loads(raw) if raw else None

    def create_vhost(self, vhost: str) -> None:
        self.request("PUT", f"/vhosts/{quote(vhost, safe='')}", {})
        self.request(
            "PUT", f"/permissions/{quote(vhost, safe='')}/{quote(self.user, safe='')}",
            {"configure": ".*", "write": ".*", "read": ".*"},
        )
        self.apply_policies(vhost)

    def delete_vhost(self, vhost: str) -> None:
        try:
            self.request("DELETE", f"/vhosts/{quote(vhost, safe='')}")
        except ManagementError:
            pass

    def apply_policies(self, vhost: str) -> None:
        """The operational policies of ``deploy/rabbitmq/definitions.json`` (delivery limit)."""
        for policy in policies(vhost):
            name = policy.pop("name")
            policy.pop("vhost")
            self.request("PUT", f"/policies/{quote(vhost, safe='')}/{quote(name, safe='')}", policy)

    def connections(self, vhost: str) -> list[dict[str, Any]]:
        return [c for c in self.request("GET", "/connections") if c.get("vhost") == vhost]

    def close_connection(self, name: str) -> None:
        self.request("DELETE", f"/connections/{quote(name, safe='')}")

    def queue(self, vhost: str, name: str) -> dict[str, Any]:
        return self.request("GET", f"/queues/{quote(vhost, safe='')}/{quote(name, safe='')}")

    def get_messages(self, vhost: str, queue: str, count: int = 10, requeue: bool = True) -> list[dict]:
        return self.request(
            "POST", f"/queues/{quote(vhost, safe='')}/{quote(queue, safe='')}/get",
            {"count": count, "ackmode": "ack_requeue_true" if requeue else "ack_requeue_false",
             "encoding": "auto"},
        )

