#!/usr/bin/env python3
"""A fake Kubernetes API server for tests: real HTTP/1.1 on 127.0.0.1, standard library only.

Usage::

    python3 tests/support/fake_apiserver.py --port-file PATH [--request-log PATH]
        [--port N] [--bookmark-interval SECONDS] [--verbose]

It binds 127.0.0.1 (a free port unless --port is given) and, once listening, writes the
port number to --port-file (written to a temporary name, then renamed, so a reader never
sees half a number).  A real ``kube::Client`` built from ``kube::Config::new(url)`` (or
client-go, or curl) talks to it over plain HTTP.

What it supports
----------------
Resources (namespaced unless noted), at the paths Kubernetes uses::

    /api/v1/...                           services (+/status), secrets, configmaps, events,
                                          nodes (cluster, +/status),
                                          namespaces (cluster, +/status)
    /apis/networking.k8s.io/v1/...        ingresses (+/status), ingressclasses (cluster)
    /apis/discovery.k8s.io/v1/...         endpointslices
    /apis/coordination.k8s.io/v1/...      leases
    /apis/events.k8s.io/v1/...            events

Namespaced resources answer at ``.../namespaces/NS/PLURAL[/NAME[/status]]`` and are listed
and watched across all namespaces at ``.../PLURAL``.

* One global resourceVersion counter; every write sets ``metadata.resourceVersion`` (a
  string of an integer).  Create also sets ``uid``, ``creationTimestamp`` (RFC 3339, ``Z``),
  ``generation`` (1) and ``namespace`` (from the path); ``apiVersion`` and ``kind`` are
  always set.  ``generation`` goes up when anything outside ``metadata`` and ``status``
  changes.  A write that changes nothing is a no-op: same resourceVersion, no watch event
  (as in Kubernetes).
* Verbs: get, list, watch, create (POST; 409 AlreadyExists), update (PUT; 409 Conflict when
  the body's ``metadata.resourceVersion`` is set and is not the stored one, 404 when
  missing), patch (PATCH: ``application/merge-patch+json`` per RFC 7386,
  ``application/json-patch+json`` per RFC 6902, ``application/strategic-merge-patch+json``
  treated as a merge patch, ``application/apply-patch+yaml`` with a JSON body treated as
  create-or-merge-patch; a patch that sets ``metadata.resourceVersion`` is a precondition),
  delete (the answer is the deleted object; preconditions in DeleteOptions are checked) and
  deletecollection.
* Status subresource (ingresses, services, nodes, namespaces): ``PUT/PATCH .../status``
  changes only ``.status``; writes to the main resource keep the stored ``.status``.  Like
  Kubernetes, creating an Ingress or a Service drops its ``.status`` (set it with a patch of
  ``/status`` afterwards); Nodes keep the status they are created with.
* Finalizers: deleting an object with ``metadata.finalizers`` only sets
  ``deletionTimestamp``; it goes away once an update empties its finalizers.
* list: ``labelSelector`` (``k=v``, ``k==v``, ``k!=v``, ``k``, ``!k``, ``k in (a,b)``,
  ``k notin (a,b)``), ``fieldSelector`` (``=``, ``==``, ``!=`` on ``metadata.name`` and
  ``metadata.namespace``; ``type`` for secrets; ``status.phase`` for namespaces; any other
  field is a 400 like Kubernetes), ``limit`` + ``continue`` (real paging; a continue token
  older than the compacted history is a 410 Expired).  Answers
  ``{"apiVersion","kind":"<Kind>List","metadata":{"resourceVersion"},"items"}``.
* watch (``watch=true``/``watch=1`` on a collection, or on a named object): newline-delimited
  JSON events over chunked transfer encoding.  ``resourceVersion`` unset or ``"0"`` starts
  with synthetic ADDED events for the current objects; ``resourceVersion=N`` replays every
  change after N from the event history, then streams new ones; N older than the start of
  the (compacted) history gives one ``ERROR`` event (Status 410 Expired) and the end of the
  stream, as Kubernetes does.  Selectors apply to events, with Kubernetes' transitions (an
  object that stops matching is sent as DELETED, one that starts matching as ADDED).
  ``timeoutSeconds`` ends the stream after that long (default 1800 s).
  ``allowWatchBookmarks=true`` sends a BOOKMARK with the current resourceVersion about
  every --bookmark-interval seconds (default 1).  ``sendInitialEvents=true`` (streaming
  lists) sends the current objects as ADDED, then a BOOKMARK annotated
  ``k8s.io/initial-events-end: "true"``.
* Discovery and health: ``/version``, ``/api``, ``/apis``, ``/api/v1``, ``/apis/G/V``,
  ``/healthz``, ``/livez``, ``/readyz``.
* Errors are ``Status`` objects (``kind: Status``, ``status: Failure``, ``code``, ``reason``,
  ``message``, ``details``), with the HTTP status of ``code``.

Test control (never logged, never faulted)
------------------------------------------
* ``POST /fake/fail`` ``{"status": 500, "count": N}``: the next N API requests answer that
  status (a Status object; 429 and 503 also carry ``Retry-After: 1``).
  ``{"hang_seconds": S, "count": N}``: the next N requests wait S seconds, then are served
  (with ``status`` too: wait, then fail).  ``{"drop": true, "count": N}``: close the
  connection without answering.  Optional filters ``"verb"`` (e.g. ``"watch"``),
  ``"resource"`` (e.g. ``"ingresses"``) and ``"path"`` (a substring) restrict which requests
  a rule consumes.  Rules queue up; the first rule matching a request is used.
  ``POST /fake/clear-faults`` drops them all.
* ``POST /fake/compact``: forgets the event history: the resourceVersion moves on by one, the
  history restarts there, and every open watch ends (as when an apiserver restarts), so a
  client that resumes from any older resourceVersion gets 410 Expired and must re-list.
  ``{"close_watches": false}`` leaves open watches running; ``{"abrupt": true}`` ends them
  as below.
* ``POST /fake/close-watches``: ends every open watch stream cleanly (the final chunk is sent
  and the connection stays open for reuse, as when a watch times out); clients resume from
  their last resourceVersion.  ``{"abrupt": true}`` instead drops each watch connection
  mid-stream (no final chunk), as a crashed apiserver or a broken network would.
* ``GET /fake/requests``: the request log, a JSON list of ``{"verb", "method", "path",
  "query", "resource", "namespace", "name", "subresource", "group", "version", "code"}`` where
  ``verb`` is the Kubernetes RBAC verb (get, list, watch, create, update, patch, delete,
  deletecollection), ``query`` is an object of the query parameters, ``resource`` is null for
  non-resource URLs such as ``/version``, and ``code`` is the HTTP status answered (null for
  a dropped connection).  ``POST /fake/reset-requests`` empties it.
* ``GET /fake/state``: ``{"resourceVersion", "historyStart", "openWatches", "faults"}``.
* A request with the header ``X-Fake-Control: 1`` is an API request that is neither logged
  nor faulted (the Rust wrapper uses it to set up fixtures).
* ``--request-log PATH`` also appends every log entry to PATH as one JSON line.

What it does not do
-------------------
No authentication, authorization, admission, validation of object schemas, defaulting,
server-side apply field ownership (apply is a merge patch), strategic-merge directives
(``$patch`` and friends are refused with 415; lists are replaced, not merged by key),
protobuf or table output, gzip, HTTP/2, TLS, garbage collection (ownerReferences) or
namespace cascading deletion, namespace existence checks, ``resourceVersionMatch=Exact``
snapshots (lists always show the current state), the legacy ``/watch/`` path prefix, or any
resource not listed above (404).  Its history grows without bound until ``/fake/compact``.
"""

import argparse
import base64
import copy
import json
import os
import random
import re
import select
import socket
import string
import sys
import threading
import time
import uuid
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, unquote, urlsplit


# --- resources -------------------------------------------------------------------------------


class ResourceType:
    def __init__(self, group, version, plural, kind, namespaced, status=False,
                 clear_status_on_create=False, fields=()):
        self.group = group
        self.version = version
        self.plural = plural
        self.kind = kind
        self.namespaced = namespaced
        self.status = status
        self.clear_status_on_create = clear_status_on_create
        self.fields = ("metadata.name", "metadata.namespace") + tuple(fields)
        self.api_version = f"{group}/{version}" if group else version
        self.key = (group, plural)

    @property
    def qualified(self):
        """`ingresses.networking.k8s.io`, as Kubernetes names a resource in messages."""
        return f"{self.plural}.{self.group}" if self.group else self.plural


RESOURCES = [
    ResourceType("", "v1", "services", "Service", True, status=True, clear_status_on_create=True),
    ResourceType("", "v1", "secrets", "Secret", True, fields=("type",)),
    ResourceType("", "v1", "configmaps", "ConfigMap", True),
    ResourceType("", "v1", "nodes", "Node", False, status=True),
    ResourceType("", "v1", "namespaces", "Namespace", False, status=True,
                 fields=("status.phase",)),
    ResourceType("", "v1", "events", "Event", True),
    ResourceType("networking.k8s.io", "v1", "ingresses", "Ingress", True, status=True,
                 clear_status_on_create=True),
    ResourceType("networking.k8s.io", "v1", "ingressclasses", "IngressClass", False),
    ResourceType("discovery.k8s.io", "v1", "endpointslices", "EndpointSlice", True),
    ResourceType("coordination.k8s.io", "v1", "leases", "Lease", True),
    ResourceType("events.k8s.io", "v1", "events", "Event", True),
]
BY_PATH = {(r.group, r.version, r.plural): r for r in RESOURCES}
GROUP_VERSIONS = sorted({(r.group, r.version) for r in RESOURCES})

REASONS = {
    400: "BadRequest", 401: "Unauthorized", 403: "Forbidden", 404: "NotFound",
    405: "MethodNotAllowed", 406: "NotAcceptable", 409: "Conflict", 410: "Expired",
    415: "UnsupportedMediaType", 422: "Invalid", 429: "TooManyRequests",
    500: "InternalError", 503: "ServiceUnavailable", 504: "Timeout",
}


class ApiError(Exception):
    def __init__(self, code, message, reason=None, details=None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.reason = reason or REASONS.get(code, "Unknown")
        self.details = details


def status_object(code, reason, message, details=None):
    obj = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }
    if details:
        obj["details"] = details
    return obj


def not_found(rt, name):
    return ApiError(404, f'{rt.qualified} "{name}" not found', "NotFound",
                    {"name": name, "group": rt.group, "kind": rt.plural})


def conflict(rt, name):
    return ApiError(
        409,
        f'Operation cannot be fulfilled on {rt.qualified} "{name}": the object has been '
        "modified; please apply your changes to the latest version and try again",
        "Conflict", {"name": name, "group": rt.group, "kind": rt.plural})


def now_rfc3339():
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def dumps(obj):
    return json.dumps(obj, separators=(",", ":"))


# --- selectors -------------------------------------------------------------------------------

_LABEL_KEY = r"[A-Za-z0-9_./-]+"


def _split_terms(text):
    """Splits on commas that are not inside parentheses."""
    terms, depth, cur = [], 0, ""
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            terms.append(cur)
            cur = ""
        else:
            cur += ch
    terms.append(cur)
    return [t.strip() for t in terms if t.strip()]


def parse_label_selector(text):
    reqs = []
    for term in _split_terms(text or ""):
        m = re.fullmatch(rf"(!?)\s*({_LABEL_KEY})", term)
        if m:
            reqs.append((m.group(2), "notexists" if m.group(1) else "exists", None))
            continue
        m = re.fullmatch(rf"({_LABEL_KEY})\s*(==|=|!=)\s*([A-Za-z0-9_.-]*)", term)
        if m:
            reqs.append((m.group(1), "neq" if m.group(2) == "!=" else "eq", m.group(3)))
            continue
        m = re.fullmatch(rf"({_LABEL_KEY})\s+(in|notin)\s*\(([^)]*)\)", term)
        if m:
            values = {v.strip() for v in m.group(3).split(",") if v.strip()}
            reqs.append((m.group(1), m.group(2), values))
            continue
        raise ApiError(400, f"unable to parse requirement: {term!r}")
    return reqs


def labels_match(reqs, obj):
    labels = (obj.get("metadata") or {}).get("labels") or {}
    for key, op, value in reqs:
        present = key in labels
        actual = labels.get(key)
        ok = {
            "exists": present,
            "notexists": not present,
            "eq": present and actual == value,
            "neq": not present or actual != value,
            "in": present and actual in (value or ()),
            "notin": not present or actual not in (value or ()),
        }[op]
        if not ok:
            return False
    return True


def parse_field_selector(text, rt):
    reqs = []
    for term in _split_terms(text or ""):
        m = re.fullmatch(r"([A-Za-z0-9_.]+)\s*(==|=|!=)\s*(.*)", term)
        if not m:
            raise ApiError(400, f"invalid field selector: {term!r}")
        field, op, value = m.group(1), m.group(2), m.group(3)
        if field not in rt.fields:
            raise ApiError(400, f'field label not supported: {field}')
        reqs.append((field, op != "!=", value))
    return reqs


def _field_value(obj, dotted):
    cur = obj
    for part in dotted.split("."):
        if not isinstance(cur, dict):
            return ""
        cur = cur.get(part)
    return "" if cur is None else str(cur)


def fields_match(reqs, obj):
    return all((_field_value(obj, f) == v) == want for f, want, v in reqs)


# --- patches ---------------------------------------------------------------------------------


def merge_patch(target, patch):
    """RFC 7386 JSON merge patch; returns a new value and never mutates its arguments."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def _pointer(path):
    if path == "":
        return []
    if not isinstance(path, str) or not path.startswith("/"):
        raise ApiError(422, f"invalid JSON pointer {path!r}")
    return [t.replace("~1", "/").replace("~0", "~") for t in path[1:].split("/")]


def _resolve(doc, tokens):
    cur = doc
    for tok in tokens:
        if isinstance(cur, dict) and tok in cur:
            cur = cur[tok]
        elif isinstance(cur, list) and tok.isdigit() and int(tok) < len(cur):
            cur = cur[int(tok)]
        else:
            raise ApiError(422, f"JSON pointer /{'/'.join(tokens)} does not exist")
    return cur


def _add(doc, tokens, value):
    if not tokens:
        return value
    parent = _resolve(doc, tokens[:-1])
    last = tokens[-1]
    if isinstance(parent, dict):
        parent[last] = value
    elif isinstance(parent, list):
        if last == "-":
            parent.append(value)
        elif last.isdigit() and int(last) <= len(parent):
            parent.insert(int(last), value)
        else:
            raise ApiError(422, f"array index {last!r} out of range")
    else:
        raise ApiError(422, "cannot add to a scalar")
    return doc


def _remove(doc, tokens):
    if not tokens:
        raise ApiError(422, "cannot remove the whole document")
    parent = _resolve(doc, tokens[:-1])
    last = tokens[-1]
    if isinstance(parent, dict) and last in parent:
        return parent.pop(last)
    if isinstance(parent, list) and last.isdigit() and int(last) < len(parent):
        return parent.pop(int(last))
    raise ApiError(422, f"JSON pointer /{'/'.join(tokens)} does not exist")


def json_patch(doc, ops):
    """RFC 6902 JSON patch."""
    if not isinstance(ops, list):
        raise ApiError(400, "a JSON patch must be a list of operations")
    doc = copy.deepcopy(doc)
    for op in ops:
        if not isinstance(op, dict) or "path" not in op:
            raise ApiError(400, f"invalid JSON patch operation {op!r}")
        kind, path = op.get("op"), _pointer(op["path"])
        if kind == "add":
            doc = _add(doc, path, copy.deepcopy(op.get("value")))
        elif kind == "remove":
            _remove(doc, path)
        elif kind == "replace":
            if path:
                _remove(doc, path)
            doc = _add(doc, path, copy.deepcopy(op.get("value")))
        elif kind in ("move", "copy"):
            source = _pointer(op.get("from", ""))
            value = copy.deepcopy(_resolve(doc, source))
            if kind == "move":
                _remove(doc, source)
            doc = _add(doc, path, value)
        elif kind == "test":
            if _resolve(doc, path) != op.get("value"):
                raise ApiError(422, f"test operation failed at {op['path']}")
        else:
            raise ApiError(400, f"unknown JSON patch operation {kind!r}")
    return doc


def _has_directive(value):
    if isinstance(value, dict):
        return any(k.startswith("$") or _has_directive(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_directive(v) for v in value)
    return False


# --- the store -------------------------------------------------------------------------------


class Event:
    __slots__ = ("rv", "key", "type", "obj", "old")

    def __init__(self, rv, key, etype, obj, old):
        self.rv, self.key, self.type, self.obj, self.old = rv, key, etype, obj, old


class Store:
    """Objects, the resourceVersion counter and the event history, under one condition."""

    def __init__(self, start_rv=1):
        self.cond = threading.Condition()
        self.rv = start_rv
        self.objects = {r.key: {} for r in RESOURCES}  # key -> {(ns, name): obj}
        self.history = []  # Events in resourceVersion order
        self.history_start = 0  # the oldest resourceVersion a watch may resume from
        self.watch_epoch = 0  # bumped to end every open watch
        self.abrupt = False  # whether the last bump ends them without the final chunk
        self.open_watches = 0

    # All methods below expect self.cond to be held.

    def commit(self, rt, ns, name, etype, obj, old):
        """Records a change: `obj` is the new object (for DELETED, the deleted one)."""
        self.rv += 1
        obj = copy.deepcopy(obj)
        obj.setdefault("metadata", {})["resourceVersion"] = str(self.rv)
        # apiVersion and kind first, as Kubernetes writes them.
        obj = {"apiVersion": rt.api_version, "kind": rt.kind,
               **{k: v for k, v in obj.items() if k not in ("apiVersion", "kind")}}
        table = self.objects[rt.key]
        if etype == "DELETED":
            table.pop((ns, name), None)
        else:
            table[(ns, name)] = obj
        self.history.append(Event(self.rv, rt.key, etype, obj, old))
        self.cond.notify_all()
        return obj

    def events_after(self, key, rv):
        # The history is sorted by rv; scan back from the end (watches are usually current).
        out = []
        for ev in reversed(self.history):
            if ev.rv <= rv:
                break
            if ev.key == key:
                out.append(ev)
        out.reverse()
        return out


# --- HTTP ------------------------------------------------------------------------------------


class Parsed:
    """What an API path names."""

    def __init__(self):
        self.rt = None
        self.group = None
        self.version = None
        self.namespace = None
        self.name = None
        self.subresource = None
        self.discovery = None  # a non-resource document to answer, e.g. "version"


def parse_path(path):
    parts = [unquote(p) for p in path.strip("/").split("/")] if path.strip("/") else []
    p = Parsed()
    if parts[:1] == ["api"]:
        if len(parts) == 1:
            p.discovery = ("api",)
            return p
        p.group, p.version, rest = "", parts[1], parts[2:]
    elif parts[:1] == ["apis"]:
        if len(parts) == 1:
            p.discovery = ("apis",)
            return p
        if len(parts) == 2:
            p.discovery = ("group", parts[1])
            return p
        p.group, p.version, rest = parts[1], parts[2], parts[3:]
    elif parts in (["version"], ["healthz"], ["livez"], ["readyz"]):
        p.discovery = (parts[0],)
        return p
    else:
        return None
    if not rest:
        p.discovery = ("resources", p.group, p.version)
        return p
    if (rest[0] == "namespaces" and len(rest) >= 3
            and (p.group, p.version, rest[2]) in BY_PATH
            and BY_PATH[(p.group, p.version, rest[2])].namespaced):
        p.namespace, rest = rest[1], rest[2:]
    rt = BY_PATH.get((p.group, p.version, rest[0]))
    if rt is None or len(rest) > 3:
        return None
    p.rt = rt
    p.name = rest[1] if len(rest) > 1 else None
    p.subresource = rest[2] if len(rest) > 2 else None
    if p.subresource is not None and (p.subresource != "status" or not rt.status):
        return None
    if p.namespace is None and rt.namespaced and p.name is not None:
        return None  # a named namespaced object needs its namespace
    return p


class FakeApiServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128

    def __init__(self, address, bookmark_interval, request_log, verbose, start_rv):
        super().__init__(address, Handler)
        self.store = Store(start_rv)
        self.bookmark_interval = bookmark_interval
        self.request_log_path = request_log
        self.verbose = verbose
        self.log_lock = threading.Lock()
        self.requests = []
        self.faults = []  # dicts with "remaining"


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fake-apiserver/1"

    def log_message(self, fmt, *args):  # noqa: N802 (stdlib name)
        if self.server.verbose:
            sys.stderr.write("fake-apiserver: " + (fmt % args) + "\n")

    def do_GET(self):  # noqa: N802
        self.dispatch("GET")

    def do_POST(self):  # noqa: N802
        self.dispatch("POST")

    def do_PUT(self):  # noqa: N802
        self.dispatch("PUT")

    def do_PATCH(self):  # noqa: N802
        self.dispatch("PATCH")

    def do_DELETE(self):  # noqa: N802
        self.dispatch("DELETE")

    # --- plumbing ----------------------------------------------------------------------------

    def read_body(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            data = b""
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return data
                data += self.rfile.read(size)
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def send_json(self, code, obj, headers=()):
        body = (dumps(obj) + "\n").encode()
        self.record_code(code)  # before answering: the client may read the log right after
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def send_text(self, code, text):
        body = text.encode()
        self.record_code(code)
        self.send_response(code)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def send_error_status(self, err, headers=()):
        self.send_json(err.code, status_object(err.code, err.reason, err.message, err.details),
                       headers)

    def record_code(self, code):
        entry = getattr(self, "log_entry", None)
        if entry is None or entry.get("_recorded"):
            return
        with self.server.log_lock:
            entry["code"] = code
            entry["_recorded"] = True
            if self.server.request_log_path:
                line = dumps({k: v for k, v in entry.items() if not k.startswith("_")})
                with open(self.server.request_log_path, "a", encoding="utf-8") as f:
                    f.write(line + "\n")

    def dispatch(self, method):
        self.log_entry = None
        url = urlsplit(self.path)
        query = dict(parse_qsl(url.query, keep_blank_values=True))
        try:
            body = self.read_body()
        except (OSError, ValueError):
            self.close_connection = True
            return
        if url.path.startswith("/fake/") or url.path == "/fake":
            return self.control(method, url.path, body)
        parsed = parse_path(url.path)
        verb = self.rbac_verb(method, parsed, query)
        control = self.headers.get("X-Fake-Control") is not None
        if not control:
            entry = {
                "verb": verb,
                "method": method,
                "path": url.path,
                "query": query,
                "group": parsed.group if parsed and parsed.rt else None,
                "version": parsed.version if parsed and parsed.rt else None,
                "resource": parsed.rt.plural if parsed and parsed.rt else None,
                "namespace": parsed.namespace if parsed else None,
                "name": parsed.name if parsed else None,
                "subresource": parsed.subresource if parsed else None,
                "code": None,
            }
            with self.server.log_lock:
                self.server.requests.append(entry)
            self.log_entry = entry
            fault = self.take_fault(verb, parsed, url.path)
            if fault is not None:
                if fault.get("hang_seconds"):
                    time.sleep(float(fault["hang_seconds"]))
                if fault.get("drop"):
                    self.record_code(None)
                    self.close_connection = True
                    try:
                        self.connection.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass
                    return
                if fault.get("status"):
                    code = int(fault["status"])
                    headers = [("Retry-After", "1")] if code in (429, 503) else []
                    return self.send_error_status(ApiError(
                        code, fault.get("message") or f"injected failure ({code})",
                        fault.get("reason")), headers)
        try:
            if parsed is None:
                raise ApiError(404, "the server could not find the requested resource")
            if parsed.discovery:
                return self.serve_discovery(method, parsed.discovery)
            self.serve_resource(method, verb, parsed, query, body)
        except ApiError as err:
            self.send_error_status(err)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        except Exception as err:  # a bug in the fake: say so, as a 500 Status
            import traceback

            traceback.print_exc()
            self.send_error_status(ApiError(500, f"fake apiserver bug: {err!r}"))

    @staticmethod
    def rbac_verb(method, parsed, query):
        named = bool(parsed and parsed.name)
        if method == "GET":
            if query.get("watch") in ("true", "1"):
                return "watch"
            if parsed is None or parsed.rt is None:
                return "get"
            return "get" if named else "list"
        if method == "POST":
            return "create"
        if method == "PUT":
            return "update"
        if method == "PATCH":
            return "patch"
        if method == "DELETE":
            return "delete" if named else "deletecollection"
        return method.lower()

    def take_fault(self, verb, parsed, path):
        with self.server.log_lock:
            for fault in self.server.faults:
                if fault.get("verb") and fault["verb"] != verb:
                    continue
                if fault.get("resource") and not (
                        parsed and parsed.rt and parsed.rt.plural == fault["resource"]):
                    continue
                if fault.get("path") and fault["path"] not in path:
                    continue
                fault["remaining"] -= 1
                if fault["remaining"] <= 0:
                    self.server.faults.remove(fault)
                return dict(fault)
        return None

    # --- /fake/ ------------------------------------------------------------------------------

    def control(self, method, path, body):
        server, store = self.server, self.server.store
        try:
            args = json.loads(body) if body.strip() else {}
        except ValueError:
            return self.send_error_status(ApiError(400, "control body is not JSON"))
        if method == "POST" and path == "/fake/fail":
            fault = dict(args)
            fault["remaining"] = int(args.get("count", 1))
            if fault["remaining"] > 0:
                with server.log_lock:
                    server.faults.append(fault)
            return self.send_json(200, {"faults": len(server.faults)})
        if method == "POST" and path == "/fake/clear-faults":
            with server.log_lock:
                server.faults.clear()
            return self.send_json(200, {"faults": 0})
        if method == "POST" and path == "/fake/compact":
            with store.cond:
                store.rv += 1
                store.history = []
                store.history_start = store.rv
                if args.get("close_watches", True):
                    store.watch_epoch += 1
                    store.abrupt = bool(args.get("abrupt", False))
                store.cond.notify_all()
                rv = store.rv
            return self.send_json(200, {"resourceVersion": str(rv)})
        if method == "POST" and path == "/fake/close-watches":
            with store.cond:
                store.watch_epoch += 1
                store.abrupt = bool(args.get("abrupt", False))
                store.cond.notify_all()
            return self.send_json(200, {})
        if method == "GET" and path == "/fake/requests":
            with server.log_lock:
                entries = [{k: v for k, v in e.items() if not k.startswith("_")}
                           for e in server.requests]
            return self.send_json(200, entries)
        if method == "POST" and path == "/fake/reset-requests":
            with server.log_lock:
                server.requests = []
            return self.send_json(200, {})
        if method == "GET" and path == "/fake/state":
            with store.cond:
                state = {"resourceVersion": str(store.rv),
                         "historyStart": str(store.history_start),
                         "openWatches": store.open_watches}
            with server.log_lock:
                state["faults"] = [dict(f) for f in server.faults]
            return self.send_json(200, state)
        return self.send_error_status(ApiError(404, f"no control endpoint {method} {path}"))

    # --- discovery ---------------------------------------------------------------------------

    def serve_discovery(self, method, what):
        if method != "GET":
            raise ApiError(405, "the server does not allow this method on the requested resource")
        kind = what[0]
        if kind in ("healthz", "livez", "readyz"):
            return self.send_text(200, "ok")
        if kind == "version":
            return self.send_json(200, {
                "major": "1", "minor": "33", "gitVersion": "v1.33.0-fake",
                "gitCommit": "fake", "gitTreeState": "clean", "buildDate": "2025-01-01T00:00:00Z",
                "goVersion": "go1.24", "compiler": "gc", "platform": "linux/amd64"})
        if kind == "api":
            return self.send_json(200, {"kind": "APIVersions", "versions": ["v1"],
                                        "serverAddressByClientCIDRs": []})
        if kind == "apis":
            groups = []
            for group in sorted({g for g, _ in GROUP_VERSIONS if g}):
                versions = [{"groupVersion": f"{group}/{v}", "version": v}
                            for g, v in GROUP_VERSIONS if g == group]
                groups.append({"name": group, "versions": versions,
                               "preferredVersion": versions[0]})
            return self.send_json(200, {"kind": "APIGroupList", "apiVersion": "v1",
                                        "groups": groups})
        if kind == "group":
            versions = [{"groupVersion": f"{what[1]}/{v}", "version": v}
                        for g, v in GROUP_VERSIONS if g == what[1]]
            if not versions:
                raise ApiError(404, "the server could not find the requested resource")
            return self.send_json(200, {"kind": "APIGroup", "apiVersion": "v1", "name": what[1],
                                        "versions": versions, "preferredVersion": versions[0]})
        group, version = what[1], what[2]
        if (group, version) not in GROUP_VERSIONS:
            raise ApiError(404, "the server could not find the requested resource")
        verbs = ["create", "delete", "deletecollection", "get", "list", "patch", "update",
                 "watch"]
        resources = []
        for r in RESOURCES:
            if (r.group, r.version) != (group, version):
                continue
            resources.append({"name": r.plural, "singularName": r.kind.lower(),
                              "namespaced": r.namespaced, "kind": r.kind, "verbs": verbs})
            if r.status:
                resources.append({"name": f"{r.plural}/status", "singularName": "",
                                  "namespaced": r.namespaced, "kind": r.kind,
                                  "verbs": ["get", "patch", "update"]})
        gv = f"{group}/{version}" if group else version
        return self.send_json(200, {"kind": "APIResourceList", "apiVersion": "v1",
                                    "groupVersion": gv, "resources": resources})

    # --- resources ---------------------------------------------------------------------------

    def serve_resource(self, method, verb, p, query, body):
        rt = p.rt
        if p.namespace is None and rt.namespaced and verb not in ("list", "watch",
                                                                   "deletecollection"):
            raise ApiError(405, "the server does not allow this method on the requested resource")
        if verb == "watch":
            return self.serve_watch(p, query)
        if verb == "list":
            return self.send_json(200, self.list_objects(p, query))
        if verb == "get":
            with self.server.store.cond:
                obj = self.server.store.objects[rt.key].get((p.namespace, p.name))
            if obj is None:
                raise not_found(rt, p.name)
            return self.send_json(200, obj)
        payload = self.parse_json(body) if body.strip() else None
        if verb == "create":
            if p.name is not None:
                raise ApiError(405, "the server does not allow this method on the requested "
                                    "resource")
            return self.send_json(201, self.create(rt, p.namespace, payload))
        if verb == "update":
            if p.name is None:
                raise ApiError(405, "the server does not allow this method on the requested "
                                    "resource")
            return self.send_json(200, self.update(p, payload))
        if verb == "patch":
            if p.name is None:
                raise ApiError(405, "the server does not allow this method on the requested "
                                    "resource")
            code, obj = self.patch(p, payload, query)
            return self.send_json(code, obj)
        if verb == "delete":
            if p.subresource:
                raise ApiError(405, "the server does not allow this method on the requested "
                                    "resource")
            return self.send_json(200, self.delete(p, payload))
        if verb == "deletecollection":
            return self.send_json(200, self.delete_collection(p, query))
        raise ApiError(405, "the server does not allow this method on the requested resource")

    @staticmethod
    def parse_json(body):
        try:
            return json.loads(body)
        except ValueError as err:
            raise ApiError(400, f"the body of the request was in an unknown format: {err}")

    def matcher(self, p, query):
        rt = p.rt
        labels = parse_label_selector(query.get("labelSelector", ""))
        fields = parse_field_selector(query.get("fieldSelector", ""), rt)
        if p.name is not None:  # a watch on one named object
            fields.append(("metadata.name", True, p.name))

        def matches(obj):
            if p.namespace is not None and (obj.get("metadata") or {}).get("namespace") != \
                    p.namespace:
                return False
            return labels_match(labels, obj) and fields_match(fields, obj)

        return matches

    def list_objects(self, p, query):
        rt, store = p.rt, self.server.store
        matches = self.matcher(p, query)
        limit = int(query.get("limit") or 0)
        token = query.get("continue") or ""
        after = None
        with store.cond:
            list_rv = store.rv
            if token:
                try:
                    decoded = json.loads(base64.urlsafe_b64decode(token.encode()))
                    token_rv, after = int(decoded["rv"]), tuple(decoded["after"])
                except (ValueError, KeyError, TypeError):
                    raise ApiError(400, "continue key is not valid")
                if token_rv < store.history_start:
                    raise ApiError(
                        410, "The provided continue parameter is too old to display a "
                             "consistent list result. You can start a new list without the "
                             "continue parameter.", "Expired")
                list_rv = token_rv
            rv_param = query.get("resourceVersion")
            if query.get("resourceVersionMatch") == "Exact" and rv_param and \
                    int(rv_param) < store.history_start:
                raise ApiError(410, "too old resource version", "Expired")
            items = sorted(store.objects[rt.key].items())
        selected = [obj for key, obj in items
                    if (after is None or key > after) and matches(obj)]
        meta = {"resourceVersion": str(list_rv)}
        if limit > 0 and len(selected) > limit:
            last = selected[limit - 1]["metadata"]
            key = [last.get("namespace"), last["name"]]
            meta["continue"] = base64.urlsafe_b64encode(
                dumps({"rv": list_rv, "after": key}).encode()).decode()
            meta["remainingItemCount"] = len(selected) - limit
            selected = selected[:limit]
        return {"apiVersion": rt.api_version, "kind": f"{rt.kind}List", "metadata": meta,
                "items": selected}

    # --- writes ------------------------------------------------------------------------------

    def check_type(self, rt, obj):
        if not isinstance(obj, dict):
            raise ApiError(400, "the body of the request must be a JSON object")
        if obj.get("kind") not in (None, "", rt.kind):
            raise ApiError(400, f"the kind {obj['kind']!r} does not match {rt.kind!r}")
        if obj.get("apiVersion") not in (None, "", rt.api_version):
            raise ApiError(400, f"the apiVersion {obj['apiVersion']!r} does not match "
                                f"{rt.api_version!r}")
        meta = obj.get("metadata")
        if meta is None:
            obj["metadata"] = {}
        elif not isinstance(meta, dict):
            raise ApiError(400, "metadata must be an object")
        obj["apiVersion"], obj["kind"] = rt.api_version, rt.kind

    def create(self, rt, namespace, obj):
        self.check_type(rt, obj)
        obj = copy.deepcopy(obj)
        meta = obj["metadata"]
        if rt.namespaced:
            if meta.get("namespace") not in (None, "", namespace):
                raise ApiError(400, "the namespace of the provided object does not match the "
                                    "namespace sent on the request")
            meta["namespace"] = namespace
        else:
            meta.pop("namespace", None)
        if not meta.get("name"):
            if meta.get("generateName"):
                suffix = "".join(random.choices(string.ascii_lowercase + string.digits, k=5))
                meta["name"] = meta["generateName"] + suffix
            else:
                raise ApiError(422, f"{rt.kind} \"\" is invalid: metadata.name: Required value: "
                                    "name or generateName is required", "Invalid")
        name = meta["name"]
        for field in ("resourceVersion", "deletionTimestamp", "deletionGracePeriodSeconds"):
            meta.pop(field, None)
        meta["uid"] = str(uuid.uuid4())
        meta["creationTimestamp"] = now_rfc3339()
        meta["generation"] = 1
        if rt.clear_status_on_create:
            obj.pop("status", None)
        if rt.plural == "namespaces":
            obj["status"] = {"phase": "Active"}
        store = self.server.store
        with store.cond:
            if (namespace, name) in store.objects[rt.key]:
                raise ApiError(409, f'{rt.qualified} "{name}" already exists', "AlreadyExists",
                               {"name": name, "group": rt.group, "kind": rt.plural})
            return store.commit(rt, namespace, name, "ADDED", obj, None)

    def store_update(self, rt, namespace, name, old, candidate, subresource):
        """Writes `candidate` over `old` (both full objects); `store.cond` is held."""
        store = self.server.store
        self.check_type(rt, candidate)
        new = copy.deepcopy(candidate)
        meta, old_meta = new["metadata"], old["metadata"]
        if meta.get("name") not in (None, "", name):
            raise ApiError(400, f"the name of the object ({meta.get('name')}) does not match "
                                f"the name on the URL ({name})")
        if meta.get("resourceVersion") not in (None, "", old_meta["resourceVersion"]):
            raise conflict(rt, name)
        if meta.get("uid") not in (None, "", old_meta["uid"]):
            raise conflict(rt, name)
        if subresource == "status":
            status = new.get("status")
            new = copy.deepcopy(old)
            if status is None:
                new.pop("status", None)
            else:
                new["status"] = status
            meta = new["metadata"]
        elif rt.status:
            if "status" in old:
                new["status"] = copy.deepcopy(old["status"])
            else:
                new.pop("status", None)
        meta["name"] = name
        if rt.namespaced:
            meta["namespace"] = namespace
        else:
            meta.pop("namespace", None)
        for field in ("uid", "creationTimestamp", "deletionTimestamp",
                      "deletionGracePeriodSeconds", "generation"):
            if field in old_meta:
                meta[field] = old_meta[field]
            else:
                meta.pop(field, None)
        meta["resourceVersion"] = old_meta["resourceVersion"]

        def spec_of(o):
            return {k: v for k, v in o.items() if k not in ("metadata", "status")}

        if spec_of(new) != spec_of(old):
            meta["generation"] = int(old_meta.get("generation") or 0) + 1
        if new == old:
            return old
        if meta.get("deletionTimestamp") and not meta.get("finalizers"):
            return store.commit(rt, namespace, name, "DELETED", new, old)
        return store.commit(rt, namespace, name, "MODIFIED", new, old)

    def update(self, p, obj):
        store = self.server.store
        with store.cond:
            old = store.objects[p.rt.key].get((p.namespace, p.name))
            if old is None:
                raise not_found(p.rt, p.name)
            return self.store_update(p.rt, p.namespace, p.name, old, obj, p.subresource)

    def patch(self, p, patch, query):
        rt, store = p.rt, self.server.store
        ctype = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        if ctype == "application/apply-patch+yaml":
            if not query.get("fieldManager"):
                raise ApiError(422, "PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: "
                                    "Required value: is required for apply patch", "Invalid")
            if not isinstance(patch, dict):
                raise ApiError(415, "the fake apiserver only accepts JSON apply patches")
        elif ctype == "application/strategic-merge-patch+json":
            if _has_directive(patch):
                raise ApiError(415, "the fake apiserver does not support strategic merge "
                                    "patch directives ($patch, $retainKeys, ...)")
        elif ctype not in ("application/merge-patch+json", "application/json-patch+json"):
            raise ApiError(415, f"the body of the request was in an unknown format - accepted "
                                f"media types include: application/json-patch+json, "
                                f"application/merge-patch+json, application/apply-patch+yaml "
                                f"(got {ctype!r})")
        with store.cond:
            old = store.objects[rt.key].get((p.namespace, p.name))
            if old is None:
                if ctype == "application/apply-patch+yaml" and p.subresource is None:
                    obj = copy.deepcopy(patch)
                    obj.setdefault("metadata", {}).setdefault("name", p.name)
                    return 201, self.create(rt, p.namespace, obj)
                raise not_found(rt, p.name)
            if ctype == "application/json-patch+json":
                candidate = json_patch(old, patch)
            else:
                if not isinstance(patch, dict):
                    raise ApiError(400, "a merge patch must be a JSON object")
                candidate = merge_patch(old, patch)
            return 200, self.store_update(rt, p.namespace, p.name, old, candidate,
                                          p.subresource)

    def delete_locked(self, rt, namespace, name, old, options):
        store = self.server.store
        pre = (options or {}).get("preconditions") or {}
        if pre.get("resourceVersion") not in (None, "", old["metadata"]["resourceVersion"]):
            raise conflict(rt, name)
        if pre.get("uid") not in (None, "", old["metadata"]["uid"]):
            raise conflict(rt, name)
        if old["metadata"].get("finalizers"):
            if old["metadata"].get("deletionTimestamp"):
                return old
            new = copy.deepcopy(old)
            new["metadata"]["deletionTimestamp"] = now_rfc3339()
            new["metadata"]["deletionGracePeriodSeconds"] = 0
            return store.commit(rt, namespace, name, "MODIFIED", new, old)
        return store.commit(rt, namespace, name, "DELETED", old, old)

    def delete(self, p, options):
        store = self.server.store
        with store.cond:
            old = store.objects[p.rt.key].get((p.namespace, p.name))
            if old is None:
                raise not_found(p.rt, p.name)
            return self.delete_locked(p.rt, p.namespace, p.name, old, options)

    def delete_collection(self, p, query):
        listed = self.list_objects(p, {k: v for k, v in query.items()
                                       if k not in ("limit", "continue")})
        store, deleted = self.server.store, []
        with store.cond:
            for item in listed["items"]:
                meta = item["metadata"]
                key = (meta.get("namespace"), meta["name"])
                old = store.objects[p.rt.key].get(key)
                if old is not None:
                    deleted.append(self.delete_locked(p.rt, key[0], key[1], old, None))
            listed["metadata"] = {"resourceVersion": str(store.rv)}
        listed["items"] = deleted
        return listed

    # --- watch -------------------------------------------------------------------------------

    def write_chunk(self, data):
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))

    def client_gone(self):
        try:
            readable, _, _ = select.select([self.connection], [], [], 0)
            if readable:
                return self.connection.recv(1, socket.MSG_PEEK) == b""
        except (OSError, ValueError):
            return True
        return False

    def serve_watch(self, p, query):
        rt, store = p.rt, self.server.store
        matches = self.matcher(p, query)
        rv_param = query.get("resourceVersion", "")
        initial = query.get("sendInitialEvents") == "true"
        bookmarks = query.get("allowWatchBookmarks") == "true"
        try:
            timeout = float(query.get("timeoutSeconds") or 1800)
        except ValueError:
            raise ApiError(400, "timeoutSeconds must be a number")
        if rv_param not in ("", "0"):
            try:
                int(rv_param)
            except ValueError:
                raise ApiError(400, f"invalid resource version {rv_param!r}")
        expired = False
        with store.cond:
            epoch = store.watch_epoch
            if rv_param in ("", "0") or initial:
                cursor = store.rv
                snapshot = [obj for _, obj in sorted(store.objects[rt.key].items())
                            if matches(obj)]
                if rv_param not in ("", "0") and initial:
                    cursor = max(cursor, int(rv_param))
            else:
                cursor, snapshot = int(rv_param), []
                expired = cursor < store.history_start
            store.open_watches += 1
        try:
            self.record_code(200)
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            if expired:
                err = status_object(410, "Expired", "too old resource version")
                del err["metadata"]
                self.write_chunk((dumps({"type": "ERROR", "object": err}) + "\n").encode())
                ending = "done"
            else:
                ending = self.stream_events(rt, matches, snapshot, cursor, epoch, timeout,
                                            bookmarks, initial)
            if ending == "done":
                # The end of the chunked body; the connection stays open for the next request
                # (closing it here would race with the client reusing it).
                self.wfile.write(b"0\r\n\r\n")
            else:
                # The client left, or an abrupt end was asked for: no final chunk, close.
                self.close_connection = True
                try:
                    self.connection.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
        except (BrokenPipeError, ConnectionResetError, OSError):
            self.close_connection = True
        finally:
            with store.cond:
                store.open_watches -= 1

    def bookmark(self, rt, rv, annotations=None):
        meta = {"resourceVersion": str(rv)}
        if annotations:
            meta["annotations"] = annotations
        return {"type": "BOOKMARK",
                "object": {"kind": rt.kind, "apiVersion": rt.api_version, "metadata": meta}}

    def stream_events(self, rt, matches, snapshot, cursor, epoch, timeout, bookmarks, initial):
        store = self.server.store
        interval = self.server.bookmark_interval
        deadline = time.monotonic() + timeout
        next_bookmark = time.monotonic() + interval
        out = [{"type": "ADDED", "object": obj} for obj in snapshot]
        if initial:
            out.append(self.bookmark(rt, cursor, {"k8s.io/initial-events-end": "true"}))
        if out:
            self.write_chunk("".join(dumps(e) + "\n" for e in out).encode())
        while True:
            with store.cond:
                while True:
                    now = time.monotonic()
                    if store.watch_epoch != epoch or store.rv > cursor or now >= deadline:
                        break
                    if bookmarks and now >= next_bookmark:
                        break
                    wait = min(deadline, next_bookmark if bookmarks else deadline) - now
                    store.cond.wait(min(wait, 0.5))
                    if self.client_gone():
                        return "gone"
                if store.watch_epoch != epoch:
                    return "abrupt" if store.abrupt else "done"
                if cursor < store.history_start:
                    err = status_object(410, "Expired", "too old resource version")
                    del err["metadata"]
                    self.write_chunk((dumps({"type": "ERROR", "object": err}) + "\n").encode())
                    return "done"
                events = store.events_after(rt.key, cursor)
                cursor = max(cursor, store.rv)
            out = []
            for ev in events:
                now_in = matches(ev.obj)
                was_in = ev.old is not None and matches(ev.old)
                if ev.type == "ADDED":
                    etype = "ADDED" if now_in else None
                elif ev.type == "DELETED":
                    etype = "DELETED" if was_in or now_in else None
                elif now_in and was_in:
                    etype = "MODIFIED"
                elif now_in:
                    etype = "ADDED"
                elif was_in:
                    etype = "DELETED"
                else:
                    etype = None
                if etype:
                    out.append({"type": etype, "object": ev.obj})
            now = time.monotonic()
            if bookmarks and now >= next_bookmark:
                out.append(self.bookmark(rt, cursor))
                next_bookmark = now + interval
            if out:
                self.write_chunk("".join(dumps(e) + "\n" for e in out).encode())
            if now >= deadline:
                return "done"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--port-file", required=True, help="where to write the bound port")
    parser.add_argument("--port", type=int, default=0, help="port to bind (default: a free one)")
    parser.add_argument("--request-log", help="append every API request here as a JSON line")
    parser.add_argument("--bookmark-interval", type=float, default=1.0,
                        help="seconds between watch bookmarks (default 1)")
    parser.add_argument("--start-resource-version", type=int, default=1)
    parser.add_argument("--verbose", action="store_true", help="log every request to stderr")
    args = parser.parse_args()
    server = FakeApiServer(("127.0.0.1", args.port), args.bookmark_interval, args.request_log,
                           args.verbose, args.start_resource_version)
    port = server.server_address[1]
    tmp = f"{args.port_file}.tmp.{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(f"{port}\n")
    os.replace(tmp, args.port_file)
    sys.stderr.write(f"fake-apiserver: listening on http://127.0.0.1:{port}\n")
    sys.stderr.flush()
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
