"""A fake Bot API server for the tests: real HTTP on 127.0.0.1, every call recorded, realistic JSON back.

It checks what Telegram checks where a bug would hide: the token in the path, HTML that Telegram could not
parse, texts over 4096 characters, callback data over 64 bytes. getUpdates hands out queued updates (long
polling, cut short so the tests stay quick). `fail(method, status, description)` makes a method fail.
"""

from __future__ import annotations

import asyncio
import html
import itertools
import json
import re
import socket
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

import uvicorn
from starlette.applications import Starlette
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

TOKEN = "123456:TEST-token_for-the-fake"
BOT_USER = {"id": 123456, "is_bot": True, "first_name": "Sahulat", "username": "sahulat_test_bot"}
# Fields PTB sends JSON-encoded; every other field is a plain string and must stay one ("123" is a text too).
JSON_FIELDS = frozenset(
    {
        "chat_id",
        "message_id",
        "reply_markup",
        "allowed_updates",
        "commands",
        "link_preview_options",
        "offset",
        "timeout",
        "limit",
        "drop_pending_updates",
        "show_alert",
        "max_connections",
    }
)
ALLOWED_TAGS = frozenset({"b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "a", "code", "pre", "blockquote"})
TAG = re.compile(r"</?([a-zA-Z0-9-]*)[^>]*>")
LONG_POLL_CAP_SECONDS = 0.3


class Server(uvicorn.Server):
    """uvicorn's server, minus two fixed pauses at each stop, which the tests' hundreds of servers added up to half
    a minute: it looks for `should_exit` every 10 ms (not 100 ms), and its shutdown waits for open connections
    only while there are any (not a flat 100 ms first). Start-up and lifespan are uvicorn's own."""

    async def main_loop(self) -> None:
        counter = 0
        should_exit = await self.on_tick(counter)
        while not should_exit:
            counter = (counter + 1) % 8_640_000
            await asyncio.sleep(0.01)
            should_exit = await self.on_tick(counter)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        # uvicorn.Server.shutdown (0.54) with its `asyncio.sleep(0.1)` after closing connections cut short once
        # they are gone; the rest (connections still open, tasks, graceful timeout, lifespan shutdown) is uvicorn's.
        for server in self.servers:
            server.close()
        for sock in sockets or []:
            sock.close()
        for connection in list(self.server_state.connections):
            connection.shutdown()
        for _ in range(20):  # at most uvicorn's 0.1 s
            if not self.server_state.connections:
                break
            await asyncio.sleep(0.005)
        try:
            async with asyncio.timeout(self.config.timeout_graceful_shutdown):  # None: no limit, as uvicorn
                await self._wait_tasks_to_complete()
        except TimeoutError:
            for task in self.server_state.tasks:
                task.cancel(msg="Task cancelled, timeout graceful shutdown exceeded")
        if not self.force_exit:
            await self.lifespan.shutdown()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def parse_html(text: str) -> str:
    """The plain text Telegram would show for HTML `text`; ValueError where Telegram says "can't parse entities"."""
    for match in TAG.finditer(text):
        if match.group(1).lower() not in ALLOWED_TAGS:
            raise ValueError(f"Bad Request: can't parse entities: unsupported start tag {match.group(1)!r}")
    plain = TAG.sub("", text)
    if "<" in plain or ">" in plain:
        raise ValueError("Bad Request: can't parse entities: unescaped < or >")
    return html.unescape(plain)


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


@dataclass
class Call:
    method: str
    params: dict[str, Any]


class FakeTelegram:
    def __init__(self, token: str = TOKEN) -> None:
        self.token = token
        self.calls: list[Call] = []
        self.failures: dict[str, tuple[int, str, dict[str, Any] | None]] = {}
        # Methods that hang until their event is set; a caller that went away meanwhile gets nothing done.
        self.hanging: dict[str, asyncio.Event] = {}
        self.answered: list[Call] = []
        self.files: dict[str, bytes] = {}
        self.downloads: list[str] = []  # every file path fetched from /file/bot<token>/, in order
        self._updates: list[dict[str, Any]] = []
        self._redeliveries: list[dict[str, Any]] = []
        self._new_update = asyncio.Event()
        self._message_ids = itertools.count(1000)
        self._update_ids = itertools.count(500_000)
        self.port = free_port()
        self.server: uvicorn.Server | None = None
        self._task: asyncio.Task[None] | None = None
        self.app = Starlette(
            routes=[
                Route("/bot{token}/{method}", self._api, methods=["GET", "POST"]),
                Route("/file/bot{token}/{path:path}", self._file, methods=["GET"]),
            ]
        )

    # running

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/bot"

    async def start(self) -> None:
        config = uvicorn.Config(self.app, host="127.0.0.1", port=self.port, log_config=None, lifespan="off")
        self.server = Server(config)
        self._task = asyncio.create_task(self.server.serve())
        await wait_until(lambda: self.server is not None and self.server.started, what="fake Telegram to start")

    async def stop(self) -> None:
        if self.server is not None and self._task is not None:
            self.server.should_exit = True
            await asyncio.wait_for(self._task, timeout=10)

    # test controls

    def next_update_id(self) -> int:
        return next(self._update_ids)

    def push(self, update: dict[str, Any], *, redeliver: bool = False) -> None:
        """Queue an update for getUpdates; `redeliver` hands it out even if its id was already confirmed."""
        (self._redeliveries if redeliver else self._updates).append(update)
        self._new_update.set()

    def fail(self, method: str, status: int, description: str, parameters: dict[str, Any] | None = None) -> None:
        self.failures[method] = (status, description, parameters)

    def called(self, method: str) -> list[dict[str, Any]]:
        return [call.params for call in self.calls if call.method == method]

    def sent_texts(self) -> list[str]:
        """What the user saw of each sendMessage, as plain text."""
        return [
            parse_html(p["text"]) if p.get("parse_mode") == "HTML" else p["text"] for p in self.called("sendMessage")
        ]

    async def wait_calls(self, method: str, count: int = 1, within: float = 15) -> list[dict[str, Any]]:
        await wait_until(lambda: len(self.called(method)) >= count, within=within, what=f"{count} {method} call(s)")
        return self.called(method)

    # the API

    async def _params(self, request: Request) -> dict[str, Any]:
        """The call's parameters; a file sent as multipart becomes {"filename", "content_type", "bytes"}."""
        content_type = request.headers.get("content-type", "")
        if content_type.startswith("application/json"):
            return dict(json.loads(await request.body() or b"{}"))
        raw: dict[str, Any] = {}
        if content_type.startswith("multipart/form-data"):
            for name, value in (await request.form()).multi_items():
                if isinstance(value, UploadFile):
                    raw[name] = {"filename": value.filename, "content_type": value.content_type}
                    raw[name]["bytes"] = await value.read()
                else:
                    raw[name] = value
        else:
            raw.update(parse_qsl((await request.body()).decode(), keep_blank_values=True))
        raw.update(request.query_params)
        return {k: json.loads(v) if k in JSON_FIELDS else v for k, v in raw.items()}

    async def _api(self, request: Request) -> Response:
        if request.path_params["token"] != self.token:
            return JSONResponse({"ok": False, "error_code": 401, "description": "Unauthorized"}, status_code=401)
        method = request.path_params["method"]
        params = await self._params(request)
        self.calls.append(Call(method, params))
        if method in self.hanging:
            await self.hanging[method].wait()
            if await request.is_disconnected():
                return Response(status_code=499)
        if method in self.failures:
            status, description, parameters = self.failures[method]
            body: dict[str, Any] = {"ok": False, "error_code": status, "description": description}
            if parameters:
                body["parameters"] = parameters
            return JSONResponse(body, status_code=status)
        handler = getattr(self, f"_m_{method}", None)
        if handler is None:
            return JSONResponse({"ok": False, "error_code": 404, "description": "Not Found"}, status_code=404)
        try:
            result = await handler(params)
        except ValueError as exc:
            return JSONResponse({"ok": False, "error_code": 400, "description": str(exc)}, status_code=400)
        self.answered.append(Call(method, params))
        return JSONResponse({"ok": True, "result": result})

    def add_file(self, file_id: str, data: bytes) -> None:
        """A file users may have sent: getFile knows `file_id`, and its path serves `data`."""
        self.files[f"documents/{file_id}.bin"] = data

    async def _file(self, request: Request) -> Response:
        if request.path_params["token"] != self.token or request.path_params["path"] not in self.files:
            return Response(status_code=404)
        self.downloads.append(request.path_params["path"])
        return Response(self.files[request.path_params["path"]], media_type="application/octet-stream")

    def _check_message(self, params: dict[str, Any]) -> str:
        text = str(params.get("text", ""))
        plain = parse_html(text) if params.get("parse_mode") == "HTML" else text
        if not plain.strip():
            raise ValueError("Bad Request: message text is empty")
        if utf16_len(plain) > 4096:
            raise ValueError("Bad Request: message is too long")
        for row in (params.get("reply_markup") or {}).get("inline_keyboard", []):
            for button in row:
                data = button.get("callback_data", "")
                if not 1 <= len(data.encode()) <= 64:
                    raise ValueError("Bad Request: BUTTON_DATA_INVALID")
        return plain

    def _message(self, chat_id: int, text: str, reply_markup: dict[str, Any] | None, message_id: int) -> dict[str, Any]:
        message: dict[str, Any] = {
            "message_id": message_id,
            "date": int(time.time()),
            "chat": {"id": chat_id, "type": "private", "first_name": "Test"},
            "from": BOT_USER,
            "text": text,
        }
        if reply_markup:
            message["reply_markup"] = reply_markup
        return message

    async def _m_getMe(self, params: dict[str, Any]) -> Any:
        return {**BOT_USER, "can_join_groups": False, "can_read_all_group_messages": False}

    async def _m_getUpdates(self, params: dict[str, Any]) -> Any:
        offset = int(params.get("offset") or 0)
        self._updates = [u for u in self._updates if u["update_id"] >= offset]
        if not self._updates and not self._redeliveries and float(params.get("timeout") or 0) > 0:
            self._new_update.clear()
            try:
                await asyncio.wait_for(self._new_update.wait(), timeout=LONG_POLL_CAP_SECONDS)
            except TimeoutError:
                pass
        redelivered, self._redeliveries = self._redeliveries, []
        return [*redelivered, *(u for u in self._updates if u["update_id"] >= offset)]

    async def _m_sendMessage(self, params: dict[str, Any]) -> Any:
        plain = self._check_message(params)
        return self._message(int(params["chat_id"]), plain, params.get("reply_markup"), next(self._message_ids))

    async def _m_sendDocument(self, params: dict[str, Any]) -> Any:
        document = params.get("document")
        if not isinstance(document, dict):
            raise ValueError("Bad Request: there is no document in the request")
        message = self._message(int(params["chat_id"]), "", None, next(self._message_ids))
        del message["text"]
        message["document"] = {"file_id": "doc", "file_unique_id": "u-doc", "file_name": document["filename"]}
        return message

    async def _m_editMessageText(self, params: dict[str, Any]) -> Any:
        plain = self._check_message(params)
        return self._message(int(params["chat_id"]), plain, params.get("reply_markup"), int(params["message_id"]))

    async def _m_answerCallbackQuery(self, params: dict[str, Any]) -> Any:
        return True

    async def _m_setWebhook(self, params: dict[str, Any]) -> Any:
        return True

    async def _m_deleteWebhook(self, params: dict[str, Any]) -> Any:
        return True

    async def _m_setMyCommands(self, params: dict[str, Any]) -> Any:
        return True

    async def _m_getFile(self, params: dict[str, Any]) -> Any:
        file_id = str(params["file_id"])
        path = f"documents/{file_id}.bin"
        if path not in self.files:
            raise ValueError("Bad Request: invalid file_id")
        return {
            "file_id": file_id,
            "file_unique_id": f"u-{file_id}",
            "file_size": len(self.files[path]),
            "file_path": path,
        }

    # updates as Telegram sends them

    def _user(self, chat_id: int, language: str = "en") -> dict[str, Any]:
        return {"id": chat_id, "is_bot": False, "first_name": "Ayesha", "last_name": "Khan", "language_code": language}

    def message_update(self, chat_id: int, text: str | None = None, **extra: Any) -> dict[str, Any]:
        message: dict[str, Any] = {
            "message_id": next(self._message_ids),
            "date": int(time.time()),
            "chat": {"id": chat_id, "type": "private", "first_name": "Ayesha"},
            "from": self._user(chat_id),
            **extra,
        }
        if text is not None:
            message["text"] = text
            if text.startswith("/"):
                message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(text.split()[0])}]
        return {"update_id": self.next_update_id(), "message": message}

    def press(self, chat_id: int, sent: dict[str, Any], label: str) -> dict[str, Any]:
        """The update for pressing the button labelled `label` on a message the bot sent (a sendMessage call)."""
        keyboard = sent["reply_markup"]["inline_keyboard"]
        data = next(b["callback_data"] for row in keyboard for b in row if b["text"] == label)
        return self.callback_update(chat_id, data, parse_html(sent["text"]), sent["reply_markup"])

    def callback_update(
        self, chat_id: int, data: str, text: str = "Pick one", reply_markup: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        message = self._message(chat_id, text, reply_markup, next(self._message_ids))
        query = {
            "id": f"cq-{next(self._message_ids)}",
            "from": self._user(chat_id),
            "chat_instance": "ci-1",
            "message": message,
            "data": data,
        }
        return {"update_id": self.next_update_id(), "callback_query": query}


async def wait_until(predicate: Any, *, within: float = 15, what: str = "condition") -> None:
    """Poll `predicate` every few milliseconds; fail with `what` after `within` seconds."""
    deadline = asyncio.get_running_loop().time() + within
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)
