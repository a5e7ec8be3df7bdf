"""Hypothesis fuzzing of every query parameter of every ingest route, with raw hostile queries."""

from __future__ import annotations

import base64
import http.client
import inspect
import json
import re
import time
import zlib
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

import pytest
from aiohttp import web
from aiohttp.web_protocol import RequestHandler
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from contracts.status import JobStatus
from services.ingest.context import SERVICES
from services.ingest.openapi import OPENAPI

from tests.ingest.conftest import ALICE, FERMION_JOB, SPIN_JOB
from tests.ingest.inprocess import Served, serve_in_thread

INGEST = Path(__file__).resolve().parents[2] / "services" / "ingest"
#: Examples per query name of a route: for a name it reads, for the credentials (every route
#: reads them through the same pick_token) and for a name it ignores (username, and token
#: where nothing needs one). All 31 routes take about 20 s on an idle machine.
EXAMPLES_READ, EXAMPLES_CREDENTIAL, EXAMPLES_IGNORED = 100, 30, 10
CREDENTIALS = ("token", "password")
#: The server's request-line limit: aiohttp's default, which the ingest keeps (connections.py).
LINE_LIMIT = inspect.signature(RequestHandler.__init__).parameters["max_line_size"].default
#: Room left on the request line for the method, path, "HTTP/1.1" and the other parameters.
LINE_BUDGET = LINE_LIMIT - 1024
#: Query names each view reads, directly or through the wire helpers (pick_token reads
#: token and password, job_id_of reads job_id and json). A view missing here fails the test.
HANDLER_READS: dict[str, tuple[str, ...]] = {
    "healthz": (), "readyz": (), "openapi_json": (), "docs_page": (), "list_backends": (),
    "get_config": (), "get_backend_status": (),
    "list_jobs": ("token", "password", "backend", "status", "limit", "cursor"),
    "delete_job": ("token", "password"),
    "post_job": ("token", "password"),
    "get_job_status": ("job_id", "json", "token", "password"),
    "get_job_result": ("job_id", "json", "token", "password"),
    "cancel_job": ("job_id", "json", "token", "password"),
}
#: Fuzzed on every route: a route that ignores them must still answer cleanly.
EVERYWHERE = ("token", "username")
#: Every answer the ingest may give to a hostile query; anything else is imprecise.
EXPECTED = {200, 202, 400, 401, 404, 409, 415, 422}


@dataclass(frozen=True)
class Route:
    method: str
    template: str  # separators as single "/", path variables as {name}
    view: str
    params: tuple[str, ...]
    reads: frozenset[str]  # the params the view reads, from OpenAPI and HANDLER_READS

    @property
    def variables(self) -> list[str]:
        return re.findall(r"\{(\w+)\}", self.template)


def template_of(formatter: str) -> str:
    # routes.tolerant() writes separators as {_sN} and the trailing slashes as {_t}.
    return re.sub(r"\{_t\}", "", re.sub(r"\{_s\d+\}", "/", formatter))


def openapi_query_params(doc: dict[str, Any], method: str, template: str) -> set[str]:
    """Query names the document gives for this route or the operation it aliases."""
    candidates = {template, template + "/", template.replace("/api/v3/", "/api/v2/"),
                  template.replace("/shots/", "/api/v2/{backend}/")}
    names: set[str] = set()
    for path in candidates:
        op = doc["paths"].get(path, {}).get(method.lower(), {})
        names |= {p["name"] for p in op.get("parameters", []) if p["in"] == "query"}
    return names


def enumerate_routes(app: web.Application) -> list[Route]:
    doc = app[OPENAPI]
    routes = []
    for route in app.router.routes():
        view = route.handler.__name__
        assert view in HANDLER_READS, f"{view}: declare the query names it reads in HANDLER_READS"
        template = template_of(route.resource.get_info()["formatter"])
        params = openapi_query_params(doc, route.method, template) | set(HANDLER_READS[view])
        routes.append(Route(route.method, template, view, tuple(sorted(params | set(EVERYWHERE))),
                            frozenset(params)))
    return routes


# -- values ---------------------------------------------------------------------------------
def enc(text: str) -> str:
    return quote(text, safe="")


def b64(data: bytes, urlsafe: bool = True, pad: bool = False) -> str:
    out = (base64.urlsafe_b64encode if urlsafe else base64.b64encode)(data).decode()
    return out if pad else out.rstrip("=")


TRICKY_TEXT = ["", " ", "\x00", "\x1b[2J", "\r\n", "\u202e", "\u200f", "\ufeff", "²", "¹²³",
               "１２", "٣", "𝟗", "Ⅻ", "e\u0301", "ß", "İ", "ı", "ﬁ", "\ud800", "💣", "null",
               "true", "[]", "{}", "../../etc/passwd", "x' OR '1'='1", "%", "+", "&", "="]
NUMBERS = ["-1", "0", "-0", "1", "100", "101", "999999", "1000000", str(2**31), str(2**63 - 1),
           str(2**63), str(2**64), str(10**400), "1e309", "-1e309", "1.5", "1e2", "NaN", "nan",
           "inf", "-Infinity", "0x10", "1_0", "+5", " 5", "5 ", "05", "0" * 20 + "1",
           "²", "¹⁰", "２０", "٢٠", "①", "𝟙𝟘", "1²"]
#: Digits str.isdigit() or int() accepts beyond ASCII: superscripts, fullwidth, Arabic-Indic,
#: Devanagari, mathematical, NKo, and the circled and subscript forms.
ODD_DIGITS = "²³¹⁰⁹₂０１２９١٢٣۴०९𝟗𝟘߁①⑩"
numbers = st.one_of(
    st.sampled_from(NUMBERS),
    st.integers().map(str),
    st.text(st.sampled_from(ODD_DIGITS), min_size=1, max_size=3),
    st.tuples(st.sampled_from(["", "", "-", "+", " "]),
              st.text(st.sampled_from("0123456789" + ODD_DIGITS), min_size=1, max_size=6))
    .map("".join),
).map(enc)
#: Fragments placed in the raw query unescaped: broken escapes reach the server as sent.
RAW = ["%", "%z", "%zz", "%4", "%%", "%25", "%00", "%C0%AF", "%ED%A0%80", "%FF%FE", "%E2%82",
       "+", "++", "%2B", "%26", "%3D", "%0A", "%0D%0A", ";", "?", "#", "=", "==", "&"]

json_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.sampled_from([2**63, 2**64, -(2**63) - 1, 10**400]),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=10))
json_values = st.recursive(json_scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=5), inner, max_size=3)),
    max_leaves=6)


def dumps(value: Any) -> str:
    # json.dumps writes NaN and Infinity, which json.loads accepts back: hostile on purpose.
    return json.dumps(value)


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


unicode_text = st.one_of(
    st.text(max_size=30),
    st.text(st.characters(categories=["Cc", "Cf", "Nd", "No", "Nl", "Zs", "Mn"]), max_size=12),
    st.lists(st.sampled_from(TRICKY_TEXT), min_size=1, max_size=4).map("".join))


def text_value(text: str) -> str:
    # surrogatepass: a lone surrogate goes out as its (invalid) UTF-8 bytes.
    return quote(text.encode("utf-8", "surrogatepass"), safe="")


long_values = st.builds(
    lambda unit, n: (unit * n)[:LINE_BUDGET],
    st.sampled_from(["a", "9", "%C2%B2", "%FF", "%EF%BC%91", "%E2%80%AE", "%", "_-"]),
    st.integers(min_value=1000, max_value=LINE_BUDGET))
#: Integers at the edges of SQLite's INTEGER, a double's exact range and json's digit limit.
edge_integers = st.one_of(
    st.sampled_from([-1, 0, 2**53 + 1, 2**63 - 1, 2**63, 2**64, -(2**63) - 1, 10**4299]),
    st.integers(min_value=2**62, max_value=2**80), st.integers(max_value=-1))
cursor_values = st.one_of(
    st.builds(lambda v: b64(dumps({"before": v}).encode()), json_values),
    st.builds(lambda v: b64(dumps({"before": v}).encode()), edge_integers),
    st.builds(lambda v: b64(dumps({"before": v}).encode()), edge_integers),
    st.builds(lambda v, pad, safe: b64(dumps(v).encode(), safe, pad), json_values, st.booleans(),
              st.booleans()),
    st.sampled_from([b64(b'{"before": ' + nested(50_000).encode() + b"}"),
                     b64(b'{"before": NaN}'), b64(b'{"before": Infinity}'),
                     b64(b'{"before": 1e309}'), b64(b'{"before": -0.0}'),
                     b64(b"\xff\xfe"), b64("{\"before\": 1}".encode("utf-16")),
                     b64(b'{"before": 1, "before": "x"}'), "====", "a", "!!!"]),
    st.binary(max_size=40).map(b64),
).map(enc)
json_param_values = st.one_of(
    st.builds(lambda v: dumps({"job_id": v}), json_values),
    json_values.map(dumps),
    st.sampled_from(['{"job_id":', "{job_id: 1}", nested(50_000), '{"job_id": NaN}',
                     '{"job_id": "' + "a" * 65 + '"}', '{"job_id": "../x"}']),
).map(enc)
SPECIFIC = {"limit": numbers, "cursor": cursor_values,
            "json": json_param_values,
            "status": st.sampled_from(
                [s.value for s in JobStatus] + [s.value.lower() for s in JobStatus]
                + ["ｑｕｅｕｅｄ", "DONE", "DONE'; DROP TABLE jobs;--"]).map(text_value)}


def value_strategy(name: str, real: dict[str, list[str]]) -> st.SearchStrategy[str]:
    """Already-encoded values for the raw query: everything is hostile, some is also real."""
    general = [
        unicode_text.map(text_value),
        st.binary(max_size=40).map(lambda b: "".join(f"%{x:02X}" for x in b)),
        numbers,
        st.lists(st.sampled_from(RAW), min_size=1, max_size=3).map("".join),
        long_values,
        st.just(""),
    ]
    if name in SPECIFIC:
        # one_of picks a branch uniformly: six branches make the shaped values half of all.
        general.extend([SPECIFIC[name]] * len(general))
    if real.get(name):
        general.append(st.sampled_from(real[name]).map(enc))
    return st.one_of(*general)


junk_names = st.one_of(unicode_text.map(text_value), st.sampled_from(RAW))


def part_strategy(name: str, values: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    """One ``name=value`` item, or a bare name, or a value with a second ``=`` in it."""
    return st.tuples(values, st.sampled_from(["{n}={v}"] * 6 + ["{n}", "{n}={v}={v}"]))\
        .map(lambda vs: vs[1].format(n=name, v=vs[0]))


@st.composite
def raw_query(draw: st.DrawFn, route: Route, focus: str, real: dict[str, list[str]],
              values: dict[str, st.SearchStrategy[str]]) -> str:
    """A hostile value of ``focus`` (maybe repeated) among a few other items.

    The others are mostly real values or names the route ignores: a hostile one may be refused
    first and hide what ``focus`` would have done. ``values`` has a strategy per name.
    """
    parts = [draw(part_strategy(focus, values[focus]))]
    if draw(st.integers(0, 3)) == 0:
        parts.append(draw(st.sampled_from([parts[0], *(
            [f"{focus}={enc(v)}" for v in real.get(focus, [])])])))  # a repeated parameter
    for _ in range(draw(st.integers(0, 3))):
        name = draw(st.sampled_from(route.params))
        kind = draw(st.integers(0, 3))
        if kind == 0:
            parts.append(draw(part_strategy(name, values[name])))
        elif kind == 1 or not real.get(name):
            parts.append(draw(part_strategy(draw(junk_names), values[name])))
        else:
            parts.append(f"{name}={enc(draw(st.sampled_from(real[name])))}")
    order = draw(st.permutations(parts))
    # ";" is no separator to aiohttp: it glues the items into one value, so it is rare.
    separator = draw(st.sampled_from(["&"] * 6 + ["&&", ";"]))
    # The request line stays under the parser's limit: past it aiohttp answers in plain text
    # before any of the ingest's code runs. Items are dropped from the end until it fits.
    while order and sum(len(p) + 2 for p in order) > LINE_BUDGET:
        order.pop()
    return separator.join(order)


# -- the served app -------------------------------------------------------------------------
@dataclass
class Target:
    served: Served
    routes: list[Route]
    real: dict[str, list[str]]


def call(port: int, method: str, target: str, headers: dict[str, str],
         body: bytes | None = None) -> tuple[int, dict[str, str], bytes]:
    # http.client sends the target as given: broken escapes and invalid UTF-8 reach the server.
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request(method, target, body=body, headers=headers)
        reply = conn.getresponse()
        return reply.status, {k.lower(): v for k, v in reply.getheaders()}, reply.read()
    finally:
        conn.close()


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    with serve_in_thread(tmp_path_factory.mktemp("qfuzz"), shots_backend="fermions") as served:
        registry = served.app[SERVICES].registry
        backends = [n for s in registry.values() for n in (s.display_name, s.backend_name)]
        auth = {"Authorization": f"Bearer {ALICE}", "Content-Type": "application/json"}
        job_ids = []
        for job, backend in ((FERMION_JOB, "fermions"), (SPIN_JOB, "singlequdit"),
                             (FERMION_JOB, "fermions")):
            code, _, body = call(served.port, "POST", f"/api/v2/{backend}/post_job", auth,
                                 json.dumps({"job": json.dumps(job)}).encode())
            assert code == 200, body
            job_ids.append(json.loads(body)["job_id"])
        code, _, body = call(served.port, "GET", "/api/v2/jobs?limit=1", auth)
        assert code == 200, body
        real = {"backend": backends, "job_id": job_ids, "token": [ALICE], "password": [ALICE],
                "cursor": [json.loads(body)["next_cursor"]],
                "json": [json.dumps({"job_id": j}) for j in job_ids],
                "status": [s.value for s in JobStatus], "limit": ["1", "20", "100"]}
        yield Target(served, enumerate_routes(served.app), real)


def path_strategy(route: Route, real: dict[str, list[str]]) -> st.SearchStrategy[str]:
    hostile = st.one_of(unicode_text.filter(bool).map(text_value),
                        st.sampled_from(["..%2F..%2Fetc", "%2e%2e", "%00", "%zz", "%FF", "a" * 300,
                                         "FERMIONS", "fermions%20", "%EF%BD%86ermions"]))

    @st.composite
    def build(draw: st.DrawFn) -> str:
        path = route.template
        for var in route.variables:
            # Mostly a real name or id, so most examples get past routing to the query.
            hostile_here = draw(st.integers(0, 4)) == 0
            value = draw(hostile if hostile_here else st.sampled_from(real[var]).map(enc))
            path = path.replace("{" + var + "}", value)
        # The doubled and trailing slashes routes.tolerant() accepts are part of the surface.
        # Not the leading one: the first segment is a literal in aiohttp's prefix index.
        if draw(st.booleans()):
            path = "/" + path[1:].replace("/", draw(st.sampled_from(["/", "//"])))
        return path + draw(st.sampled_from(["", "", "/"]))

    return build()


#: Authorization headers that name no user; http.client sends them as latin-1 bytes. The NUL
#: is refused by aiohttp's parser, answered by connections.GuardedHandler.handle_error.
BAD_AUTHORIZATION = ["Bearer ", "Bearer x", "Bearer " + "a" * 300, f"bearer {ALICE.upper()}",
                     f"Basic {ALICE}", "Bearer ' OR 1=1 --", "Bearer \xff\xfe", "Bearer ²",
                     f"Bearer  {ALICE}x", f"Bearer {ALICE}\x00"]
BODIES: list[tuple[str | None, bytes | None]] = [
    (None, None),
    ("application/json", json.dumps({"job": json.dumps(SPIN_JOB)}).encode()),
    ("application/json", b'{"job": "{}"}'),
    ("application/x-www-form-urlencoded", b"json=%7B%7D"),
    ("text/plain", b"x"),
]


def check_answer(case: str, path: str, code: int, headers: dict[str, str], body: bytes,
                 malformed: bool = False) -> None:
    """``malformed``: the request is not valid HTTP, so aiohttp's parser refuses it."""
    assert code < 500, f"{case}: {code} {body[:300]!r}"
    assert code in EXPECTED, f"{case}: unexpected {code} {body[:300]!r}"
    assert headers.get("x-content-type-options") == "nosniff", case
    assert headers.get("cache-control") == "no-store", case
    if code >= 400:
        assert headers.get("content-type", "").startswith("application/json"), f"{case}: {headers}"
        answer = json.loads(body)
        fields = {"status", "detail", "error_message"}
        assert isinstance(answer, dict) and fields <= answer.keys(), f"{case}: {answer}"
        if malformed:
            # Refused before any request (or path) exists, so always uppercase.
            assert code == 400 and answer["status"] == "ERROR", f"{case}: {answer}"
            return
        # Lowercase on result polls (see services.ingest.errors.RESULT_ERROR).
        status = "error" if "get_job_result" in unquote(path) else "ERROR"
        assert answer["status"] == status and answer["detail"], f"{case}: {answer}"
    elif headers.get("content-type", "").startswith("application/json"):
        json.loads(body)


def test_enumeration_covers_every_route_and_every_query_name(target: Target) -> None:
    routes = target.routes
    assert routes, "the router lists no routes"
    served = {(r.method, r.resource.canonical) for r in target.served.app.router.routes()}
    assert len(served) == len({(r.method, r.template) for r in routes}) == len(routes)
    assert all(r.params for r in routes)
    # Every query name the OpenAPI document gives is fuzzed on the route that serves it.
    doc = target.served.app[OPENAPI]
    fuzzed = {(r.method.lower(), r.template): set(r.params) for r in routes}
    for path, item in doc["paths"].items():
        for method, op in item.items():
            names = {p["name"] for p in op.get("parameters", []) if p["in"] == "query"}
            key = (method, path.rstrip("/") if path != "/" else path)
            assert key in fuzzed, f"{method} {path} is documented but not routed"
            assert names <= fuzzed[key], f"{method} {path}: {names - fuzzed[key]} not fuzzed"
    # Every name a handler reads straight off the query is among the fuzzed names.
    source = "\n".join(p.read_text() for p in INGEST.rglob("*.py"))
    read = set(re.findall(r"query(?:\.get\(|\[)\s*[\"'](\w+)[\"']", source))
    assert read, "the scan of services/ingest found no query reads; fix the pattern"
    assert read <= {n for r in routes for n in r.params}, read


STATS: Counter[str] = Counter()


def fuzz_route(target: Target, route: Route, focus: str) -> None:
    """One bounded hypothesis run: hostile values of ``focus`` on ``route``."""
    port, real = target.served.port, target.real
    values = {name: value_strategy(name, real) for name in route.params}  # built once: cheaper
    examples = (EXAMPLES_IGNORED if focus not in route.reads else
                EXAMPLES_CREDENTIAL if focus in CREDENTIALS else EXAMPLES_READ)

    # database=None: derandomized runs replay nothing, and no .hypothesis directory is written.
    @settings(max_examples=examples, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    @given(path=path_strategy(route, real), query=raw_query(route, focus, real, values),
           body=st.sampled_from(BODIES) if route.method == "POST" else st.just((None, None)))
    def run(path: str, query: str, body: tuple[str | None, bytes | None]) -> None:
        # Half the examples authenticate, so the code behind authentication runs. Chosen by a
        # checksum of the example, not drawn: hypothesis leans towards its first choices.
        # crc32, not hash(): the choice must not change with the interpreter's hash seed.
        digest = zlib.crc32(f"{path}?{query}".encode())
        auth = [None, None, "bad-bearer", "bearer", "token", "password"][digest % 6]
        headers: dict[str, str] = {}
        if auth == "bearer":
            headers["Authorization"] = f"Bearer {ALICE}"
        elif auth == "bad-bearer":
            headers["Authorization"] = BAD_AUTHORIZATION[digest // 6 % len(BAD_AUTHORIZATION)]
            auth = None  # it does not authenticate
        elif auth is not None:
            query = f"{auth}={ALICE}&{query}"  # first, so it is the value the ingest reads
        ctype, data = body
        if ctype is not None:
            headers["Content-Type"] = ctype
        target_ = f"{path}?{query}" if query else path
        code, answer_headers, answer = call(port, route.method, target_, headers, data)
        STATS["examples"] += 1
        STATS["authenticated" if auth else "anonymous"] += 1
        STATS[str(code)] += 1
        malformed = "\x00" in headers.get("Authorization", "")
        check_answer(f"{route.method} {target_[:300]}", path, code, answer_headers, answer,
                     malformed)

    run()


def test_hostile_queries_get_a_precise_json_answer(target: Target) -> None:
    started = time.monotonic()
    STATS.clear()
    for route in target.routes:
        for name in route.params:
            fuzz_route(target, route, name)
    elapsed = time.monotonic() - started
    print(f"\nquery fuzz: {STATS['examples']} examples over {len(target.routes)} routes in "
          f"{elapsed:.1f} s; {dict(sorted(STATS.items()))}")
    # Both sides of authentication ran, and the fuzz reached past it (200s, 400s, 404s).
    assert STATS["authenticated"] >= STATS["examples"] // 3
    assert STATS["anonymous"] >= STATS["examples"] // 3
    assert STATS["200"] and STATS["400"] and STATS["401"] and STATS["404"], STATS
