"""A wire-level fake Elasticsearch 9.x and a fake Kibana on 127.0.0.1 (aiohttp in a background thread).

The Elasticsearch fake answers every response with `X-Elastic-Product: Elasticsearch` (the real client
refuses a server without it) and implements what Quorum uses: `_bulk` with `create` ops into data streams
(per-item 201/409/429/400), index and component templates, ILM policies, data streams, rollover, and a
minimal `_count`/`_search`. Failures are scripted: whole-request errors, per-item statuses, slowness and
being down. The Kibana fake serves `GET /api/status` and the saved-objects import (multipart, `kbn-xsrf`).
"""

from __future__ import annotations

import asyncio
import collections
import fnmatch
import json
import threading
from collections.abc import Callable, Coroutine
from types import TracebackType
from typing import Any

from aiohttp import web

PRODUCT = {"X-Elastic-Product": "Elasticsearch"}
VERSION = "9.2.0"
ItemRule = Callable[[dict[str, Any]], int | None]


def _error(status: int, kind: str, reason: str) -> web.Response:
    body = {"error": {"root_cause": [{"type": kind, "reason": reason}], "type": kind, "reason": reason}}
    return web.json_response(body | {"status": status}, status=status, headers=PRODUCT)


class _Threaded:
    """An aiohttp application served from its own loop in a daemon thread; a context manager."""

    def __init__(self) -> None:
        self.url = ""
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True, name=type(self).__name__)
        self._runner: web.AppRunner | None = None
        self._site: web.TCPSite | None = None

    def app(self) -> web.Application:
        raise NotImplementedError

    def call(self, coro: Coroutine[Any, Any, Any]) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout=10)

    async def _start(self) -> None:
        # A short shutdown timeout: a reply still sleeping (slowness scripts) must not hold up teardown.
        self._runner = web.AppRunner(self.app(), access_log=None, shutdown_timeout=0.1)
        await self._runner.setup()
        await self._listen()

    async def _listen(self) -> None:
        assert self._runner is not None
        self._site = web.TCPSite(self._runner, "127.0.0.1", self.port, reuse_address=True)
        await self._site.start()
        server = self._site._server
        assert isinstance(server, asyncio.base_events.Server)
        self.port = server.sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> Any:
        self._thread.start()
        self.call(self._start())
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._runner is not None:
            self.call(self._runner.cleanup())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
        self._loop.close()


class FakeElasticsearch(_Threaded):
    """Elasticsearch as far as Quorum's shipper and provisioning need it."""

    def __init__(self, *, api_key: str | None = None) -> None:
        super().__init__()
        self.api_key = api_key
        self.streams: dict[str, dict[str, dict[str, Any]]] = {}
        self.index_templates: dict[str, dict[str, Any]] = {}
        self.component_templates: dict[str, dict[str, Any]] = {}
        self.ilm_policies: dict[str, dict[str, Any]] = {}
        self.rollovers: list[str] = []
        self.requests: list[tuple[str, str]] = []
        self.bulk_sizes: list[int] = []
        self.delay_s = 0.0
        self.is_down = False
        self._request_failures: collections.deque[int] = collections.deque()
        self._item_failures: collections.deque[int] = collections.deque()
        self._rules: list[ItemRule] = []
        self._lock = threading.Lock()

    # -- scripting ---------------------------------------------------------------------------------

    def fail_requests(self, status: int, times: int = 1) -> None:
        """The next `times` bulk requests fail whole with `status` (429, 503, …)."""
        with self._lock:
            self._request_failures.extend([status] * times)

    def fail_items(self, status: int, count: int = 1) -> None:
        """The next `count` bulk items, across requests, fail with `status`."""
        with self._lock:
            self._item_failures.extend([status] * count)

    def reject_when(self, rule: ItemRule) -> None:
        """Items for which `rule(doc)` returns a status fail with it, every time."""
        with self._lock:
            self._rules.append(rule)

    def down(self) -> None:
        """Stop listening and cut every open connection: the client sees connection errors."""
        self.is_down = True

        async def stop() -> None:
            if self._site is not None:
                await self._site.stop()

        self.call(stop())

    def up(self) -> None:
        """Listen again on the same port."""
        self.is_down = False
        self.call(self._listen())

    def documents(self, pattern: str = "*") -> list[dict[str, Any]]:
        """Stored documents of every stream matching `pattern`, in arrival order per stream."""
        with self._lock:
            return [d for n, s in self.streams.items() if fnmatch.fnmatch(n, pattern) for d in s.values()]

    def ids(self, pattern: str = "*") -> list[str]:
        with self._lock:
            return [i for n, s in self.streams.items() if fnmatch.fnmatch(n, pattern) for i in s]

    # -- the application ---------------------------------------------------------------------------

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._middleware], client_max_size=64 * 1024 * 1024)
        r = app.router
        r.add_get("/", self._info)
        r.add_route("*", "/_bulk", self._bulk)
        r.add_route("*", "/{target}/_bulk", self._bulk)
        for kind, store in (
            ("_index_template", self.index_templates),
            ("_component_template", self.component_templates),
            ("_ilm/policy", self.ilm_policies),
        ):
            r.add_route("*", f"/{kind}/{{name}}", self._store_handler(kind, store))
        r.add_route("*", "/_data_stream/{name}", self._data_stream)
        r.add_post("/{name}/_rollover", self._rollover)
        r.add_route("*", "/{target}/_count", self._count)
        r.add_route("*", "/{target}/_search", self._search)
        return app

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Any) -> web.StreamResponse:
        if self.is_down:  # a kept-alive connection after down(): cut it like a dead server would
            assert request.transport is not None
            request.transport.abort()
            raise ConnectionResetError("down")
        self.requests.append((request.method, request.path))
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        if self.api_key is not None and request.headers.get("Authorization") != f"ApiKey {self.api_key}":
            return _error(401, "security_exception", "missing authentication credentials")
        response = await handler(request)
        response.headers.update(PRODUCT)
        return response

    async def _info(self, request: web.Request) -> web.Response:
        body = {"name": "fake", "cluster_name": "fake", "version": {"number": VERSION}, "tagline": "You Know"}
        return web.json_response(body)

    def _next_request_failure(self) -> int | None:
        with self._lock:
            return self._request_failures.popleft() if self._request_failures else None

    def _item_status(self, doc: dict[str, Any]) -> int | None:
        with self._lock:
            if self._item_failures:
                return self._item_failures.popleft()
            rules = list(self._rules)
        return next((status for rule in rules if (status := rule(doc))), None)

    async def _bulk(self, request: web.Request) -> web.Response:
        if (status := self._next_request_failure()) is not None:
            kind = "es_rejected_execution_exception" if status == 429 else "unavailable_shards_exception"
            return _error(status, kind, "scripted failure")
        try:
            text = await request.text()
        except ConnectionResetError:  # the client gave up (a timeout, a shutdown): nobody to answer
            return web.Response(status=499)
        lines = [json.loads(line) for line in text.splitlines() if line.strip()]
        items = [self._bulk_item(op, doc) for op, doc in zip(lines[::2], lines[1::2], strict=True)]
        self.bulk_sizes.append(len(items))
        errors = any(next(iter(i.values()))["status"] >= 300 for i in items)
        return web.json_response({"took": 1, "errors": errors, "items": items})

    def _bulk_item(self, action: dict[str, Any], doc: dict[str, Any]) -> dict[str, Any]:
        ((op, meta),) = action.items()
        index, doc_id = meta.get("_index", ""), meta.get("_id")
        result: dict[str, Any] = {"_index": index, "_id": doc_id}
        status = self._item_status(doc)
        if status is None and op != "create" and self._is_stream(index):
            status, kind = 400, "illegal_argument_exception"
        elif status is None and "@timestamp" not in doc and self._is_stream(index):
            status, kind = 400, "document_parsing_exception"
        else:
            kind = {429: "es_rejected_execution_exception"}.get(status or 0, "document_parsing_exception")
        with self._lock:
            stream = self.streams.setdefault(index, {}) if status is None else {}
            if status is None and doc_id in stream:
                status, kind = 409, "version_conflict_engine_exception"
            elif status is None:
                stream[doc_id or f"auto-{len(stream)}"] = doc
        if status is None:
            return {op: result | {"status": 201, "result": "created", "_version": 1}}
        error = {"type": kind, "reason": f"scripted {kind}", "index": index}
        return {op: result | {"status": status, "error": error}}

    def _is_stream(self, index: str) -> bool:
        return index in self.streams or any(
            "data_stream" in t and any(fnmatch.fnmatch(index, p) for p in t.get("index_patterns", []))
            for t in self.index_templates.values()
        )

    def _store_handler(self, kind: str, store: dict[str, dict[str, Any]]) -> Any:
        async def handle(request: web.Request) -> web.Response:
            name = request.match_info["name"]
            if request.method == "PUT":
                body = await request.json()
                if kind == "_index_template":
                    missing = [c for c in body.get("composed_of", []) if c not in self.component_templates]
                    if missing:
                        return _error(400, "invalid_index_template_exception", f"missing {missing}")
                store[name] = body
                return web.json_response({"acknowledged": True})
            if request.method == "GET":
                if name not in store:
                    return _error(404, "resource_not_found_exception", f"{name} missing")
                return web.json_response(_get_shape(kind, name, store[name]))
            return _error(405, "method_not_allowed", request.method)

        return handle

    async def _data_stream(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        if request.method == "PUT":
            if name in self.streams:
                return _error(400, "resource_already_exists_exception", f"{name} exists")
            if not self._is_stream(name):
                return _error(400, "illegal_argument_exception", f"no matching index template for {name}")
            self.streams[name] = {}
            return web.json_response({"acknowledged": True})
        if name not in self.streams:
            return _error(404, "index_not_found_exception", f"no such index [{name}]")
        return web.json_response(
            {"data_streams": [{"name": name, "timestamp_field": {"name": "@timestamp"}}]}
        )

    async def _rollover(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        if name not in self.streams:
            return _error(404, "index_not_found_exception", name)
        self.rollovers.append(name)
        return web.json_response({"acknowledged": True, "rolled_over": True, "old_index": name})

    async def _count(self, request: web.Request) -> web.Response:
        return web.json_response({"count": len(self.documents(request.match_info["target"]))})

    async def _search(self, request: web.Request) -> web.Response:
        docs = self.documents(request.match_info["target"])
        hits = [{"_source": d} for d in docs]
        return web.json_response({"hits": {"total": {"value": len(docs), "relation": "eq"}, "hits": hits}})


def _get_shape(kind: str, name: str, body: dict[str, Any]) -> dict[str, Any]:
    """GET replies wrap what was stored as the real APIs do."""
    if kind == "_index_template":
        return {"index_templates": [{"name": name, "index_template": body}]}
    if kind == "_component_template":
        return {"component_templates": [{"name": name, "component_template": body}]}
    return {name: {"version": 1, "policy": body.get("policy", {})}}


class FakeKibana(_Threaded):
    """Kibana's status page and saved-objects import, as strict about headers as the real one."""

    def __init__(self, *, api_key: str | None = None, unavailable_for: int = 0) -> None:
        super().__init__()
        self.api_key = api_key
        self.unavailable_for = unavailable_for  # the first N status calls answer 503
        self.imports: list[dict[str, Any]] = []
        self.objects: dict[tuple[str, str], dict[str, Any]] = {}

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/api/status", self._status)
        app.router.add_post("/api/saved_objects/_import", self._import)
        return app

    def _authorised(self, request: web.Request) -> bool:
        return self.api_key is None or request.headers.get("Authorization") == f"ApiKey {self.api_key}"

    async def _status(self, request: web.Request) -> web.Response:
        if self.unavailable_for > 0:
            self.unavailable_for -= 1
            return web.json_response({"status": {"overall": {"level": "unavailable"}}}, status=503)
        return web.json_response(
            {"version": {"number": VERSION}, "status": {"overall": {"level": "available"}}}
        )

    async def _import(self, request: web.Request) -> web.Response:
        if not self._authorised(request):
            return web.json_response({"statusCode": 401, "error": "Unauthorized"}, status=401)
        if "kbn-xsrf" not in request.headers:
            return web.json_response(
                {"statusCode": 400, "message": "Request must contain a kbn-xsrf header."}, status=400
            )
        form = await request.post()
        upload = form.get("file")
        if not isinstance(upload, web.FileField):
            return web.json_response({"statusCode": 400, "message": "file is required"}, status=400)
        objects = [json.loads(line) for line in upload.file.read().decode().splitlines() if line.strip()]
        self.imports.append(
            {"query": dict(request.query), "xsrf": request.headers["kbn-xsrf"], "objects": objects}
        )
        known = set(self.objects) | {(o["type"], o["id"]) for o in objects}
        results, errors = [], []
        for obj in objects:
            missing = [r for r in obj.get("references", []) if (r["type"], r["id"]) not in known]
            if missing:
                errors.append(
                    {
                        "id": obj["id"],
                        "type": obj["type"],
                        "error": {"type": "missing_references", "references": missing},
                    }
                )
                continue
            self.objects[(obj["type"], obj["id"])] = obj
            results.append(
                {"type": obj["type"], "id": obj["id"], "meta": {"title": obj["attributes"].get("title")}}
            )
        body = {
            "success": not errors,
            "successCount": len(results),
            "successResults": results,
            "errors": errors,
        }
        return web.json_response(body)
