"""Entry point of the ``shotline`` command; dispatches to the services and tools."""

from __future__ import annotations

import argparse
import importlib
import sys

#: Services in the order a job meets them; each declares ``services.<name>.service:SERVICE``.
SERVICES = ("ingest", "spooler", "emulator", "shotwatch", "analysis", "archiver")


def available_services() -> list[str]:
    """Services whose package is installed (``make up`` starts whatever exists)."""
    found = []
    for name in SERVICES:
        try:
            importlib.util.find_spec(f"services.{name}.service")
        except ModuleNotFoundError:
            continue
        if importlib.util.find_spec(f"services.{name}.service") is not None:
            found.append(name)
    return found


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="shotline", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in SERVICES:
        sub.add_parser(name, help=f"run the {name} service in the foreground")
    up = sub.add_parser("up", help="run every service as a child process; restart any that dies")
    up.add_argument("--only", nargs="*", choices=SERVICES, help="run just these services")
    sub.add_parser("users", help="manage API users: add, list, revoke, token", add_help=False)
    events = sub.add_parser("events", help="print events as they are published")
    events.add_argument("--follow", metavar="PATTERN", default="#",
                        help="routing-key pattern, e.g. 'job.#' or 'shot.finished.fermions'")
    events.add_argument("--count", type=int, default=0, help="exit after this many events (0: never)")
    submit = sub.add_parser("submit", help="submit a job file through the HTTP API")
    submit.add_argument("file", help="job JSON (experiment_<n> -> experiment)")
    submit.add_argument("--backend", required=True)
    submit.add_argument("--wait", action="store_true", help="wait for the result, with progress")
    submit.add_argument("--url", help="API base URL (default http://127.0.0.1:$SHOTLINE_HTTP_PORT)")
    submit.add_argument("--token", help="API token (default $SHOTLINE_TOKEN)")
    submit.add_argument("--timeout", type=float, default=600.0)
    sub.add_parser("topology", help="declare every exchange, queue and DLQ on the broker")
    dlq = sub.add_parser("dlq", help="inspect or replay a dead-letter queue")
    dlq.add_argument("action", choices=("show", "replay"))
    dlq.add_argument("queue", help="work queue name, e.g. analysis.on_shot_finished")
    dlq.add_argument("--count", type=int, default=10)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "users":
        # The users tool owns its own argument parsing (add|list|revoke|token).
        return importlib.import_module("services.ingest.users_cli").main(argv[1:])
    args = build_parser().parse_args(argv)
    if args.command in SERVICES:
        from services.common.runner import declaration, run

        run(declaration(args.command))
        return 0
    if args.command == "up":
        from services.cli.up import supervise

        return supervise(args.only or available_services())
    if args.command == "events":
        from services.cli.events import follow

        return follow(args.follow, args.count)
    if args.command == "submit":
        from services.cli.submit import submit

        return submit(args)
    if args.command == "topology":
        from services.cli.operator import declare_topology

        return declare_topology()
    if args.command == "dlq":
        from services.cli.operator import dead_letters

        return dead_letters(args.action, args.queue, args.count)
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
