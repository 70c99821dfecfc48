"""A local web page that shows the fake Slack's channel the way Slack would, with working buttons.

    with FakeSlack(clock=time.time) as slack:
        with SlackWeb(slack, "C0123456789", click, people={"U0ALICE01": "alice"}) as web:
            print("Slack:", web.url)  # open it in a browser

The page (plain HTML and a little vanilla JavaScript, no framework) asks ``GET /api/channel`` every second for
the channel as JSON and redraws what changed: messages, thread replies, ephemeral messages ("only visible to
..."), and Block Kit header / section / context / actions blocks, with buttons styled primary or danger (and
Slack's confirm dialog where a button has one). Clicking a button sends ``POST /api/click``; the server checks
that the button is still in that message and calls the injected ``click(action_id=..., value=..., message_ts=...,
channel=..., user_id=...)``, whose ``ClickResult`` the page shows. The caller turns the click into what Slack
would send (``local/slack_signing.py`` builds that request), so the message changes ("Approved by ...") on the
next poll, through chat.update like in Slack.

Safety: the server listens on 127.0.0.1 only, answers only requests addressed to it by that name or
``localhost`` (no DNS rebinding), takes clicks only as JSON from its own page (a cross-site form cannot send
JSON), and every text reaches the page as data: the script builds the page with ``textContent``, never HTML, so
message text cannot inject markup. Links keep only http(s) and mailto targets.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol

from local import loopback_http
from local.fake_slack import FakeSlack
from local.slack_channel import (
    Button,
    Channel,
    Message,
    Span,
    block_buttons,
    display_name,
    mrkdwn_spans,
    plain_text,
    text_object,
    ts_key,
)

LOG = logging.getLogger(__name__)
MAX_CLICK_BYTES = 16 * 1024
_USER_ID = re.compile(r"^[UW][A-Z0-9]{2,20}$")
_CLICK_FIELDS = ("action_id", "value", "message_ts", "user_id")


@dataclass(frozen=True)
class ClickResult:
    """What became of a click: ``ok`` False when the click was refused or failed; ``text`` what the person is
    told (the ephemeral message or response text the handler produced), shown on the page."""

    ok: bool
    text: str = ""


class ClickHandler(Protocol):
    def __call__(self, *, action_id: str, value: str, message_ts: str, channel: str, user_id: str) -> ClickResult: ...


class BadClick(Exception):
    """A click request the page should not have sent; ``status`` is the HTTP answer."""

    def __init__(self, status: int, text: str) -> None:
        super().__init__(text)
        self.status = status


# ------------------------------------------------------------------------------------------- JSON view


def _spans(spans: list[Span]) -> list[dict[str, str]]:
    return [{"kind": s.kind, "text": s.text, **({"url": s.url} if s.url else {})} for s in spans]


def _text_spans(obj: Any, names: Mapping[str, str]) -> list[dict[str, str]]:
    """A text object's spans: mrkdwn parsed, plain_text as one plain span."""
    if not isinstance(obj, Mapping):
        return []
    if obj.get("type") == "mrkdwn":
        return _spans(mrkdwn_spans(str(obj.get("text") or ""), names))
    return [{"kind": "text", "text": text_object(obj, names)}]


def _context_element(element: Mapping[str, Any], names: Mapping[str, str]) -> list[dict[str, str]]:
    if element.get("type") == "image":  # the page loads nothing from elsewhere: an image shows its alt text
        return [{"kind": "text", "text": str(element.get("alt_text") or "image")}]
    return _text_spans(element, names)


def _button(button: Button, names: Mapping[str, str]) -> dict[str, Any]:
    confirm = button.confirm
    return {
        "action_id": button.action_id,
        "value": button.value,
        "text": button.text,
        "style": button.style,
        "confirm": None
        if confirm is None
        else {
            "title": confirm.title,
            "text": plain_text(confirm.text, names),
            "confirm": confirm.confirm,
            "deny": confirm.deny,
        },
    }


def block_view(block: Mapping[str, Any], names: Mapping[str, str]) -> dict[str, Any]:
    kind = block.get("type")
    buttons = [_button(b, names) for b in block_buttons(block)]
    if kind == "header":
        return {"type": "header", "text": text_object(block.get("text"), names)}
    if kind == "section":
        fields = block.get("fields")
        return {
            "type": "section",
            "text": _text_spans(block.get("text"), names),
            "fields": [_text_spans(f, names) for f in (fields if isinstance(fields, list) else [])],
            "buttons": buttons,
        }
    if kind == "context":
        elements = block.get("elements")
        return {
            "type": "context",
            "elements": [
                _context_element(e, names)
                for e in (elements if isinstance(elements, list) else [])
                if isinstance(e, Mapping)
            ],
        }
    if kind == "actions":
        return {"type": "actions", "block_id": block.get("block_id"), "buttons": buttons}
    if kind == "divider":
        return {"type": "divider"}
    return {"type": "other", "name": str(kind)}


def message_view(message: Message, names: Mapping[str, str], replies: list[Message] | None = None) -> dict[str, Any]:
    return {
        "ts": message.ts,
        "author": display_name(message, names),
        "bot": message.bot_id is not None,
        "edited": message.edited,
        "to_user": names.get(message.to_user, message.to_user) if message.to_user else None,
        # Slack shows a message by its blocks; the text is the notification fallback.
        "text": [] if message.blocks else _spans(mrkdwn_spans(message.text, names)),
        "blocks": [block_view(b, names) for b in message.blocks],
        "replies": [message_view(r, names) for r in (replies if replies is not None else message.replies)],
    }


def channel_view(channel: Channel, names: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The channel as the page draws it: top-level messages (ephemeral ones where they appeared) in order,
    each with its replies."""
    names = {**channel.names, **(names or {})}
    threads = {m.ts for m in channel.messages}
    in_thread: dict[str, list[Message]] = {}
    top: list[Message] = list(channel.messages)
    for e in channel.ephemerals:
        if e.thread_ts in threads:
            in_thread.setdefault(str(e.thread_ts), []).append(e)
        else:
            top.append(e)
    messages = []
    for m in sorted(top, key=lambda m: ts_key(m.ts)):
        replies = sorted([*m.replies, *in_thread.get(m.ts, [])], key=lambda r: ts_key(r.ts))
        messages.append(message_view(m, names, replies))
    return {"channel": channel.id, "messages": messages}


# ---------------------------------------------------------------------------------------------- server


class SlackWeb:
    def __init__(
        self,
        slack: FakeSlack,
        channel: str,
        click: ClickHandler,
        *,
        people: Mapping[str, str],
        channel_name: str | None = None,
    ) -> None:
        """``people``: the Slack users (ID -> name) one can click as on the page, the first one by default."""
        if not people:
            raise ValueError("people: expected at least one Slack user (ID -> name) to click as")
        bad = [user for user in people if not _USER_ID.match(user)]
        if bad:
            raise ValueError(f"people: not Slack user IDs (U… or W…): {', '.join(map(repr, bad))}")
        self.slack = slack
        self.channel = channel
        self.channel_name = channel_name or channel
        self.click = click
        self.people = dict(people)
        self._server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self._server is not None, "start the page first"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/"

    def start(self) -> SlackWeb:
        web = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                web._serve(self, "GET")

            def do_POST(self) -> None:
                web._serve(self, "POST")

            def log_message(self, format: str, *args: Any) -> None:
                return

        self._server = loopback_http.serve(Handler, "slack-web")
        return self

    def stop(self) -> None:
        loopback_http.stop(self._server)
        self._server = None

    def __enter__(self) -> SlackWeb:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------------------------------------ views

    def view(self) -> dict[str, Any]:
        page = channel_view(self.slack.read_channel(self.channel), self.people)
        people = [{"id": user, "name": name} for user, name in self.people.items()]
        return {**page, "channel_name": self.channel_name, "people": people}

    def handle_click(self, request: Any) -> ClickResult:
        """Check a click from the page against the channel as it is now, then hand it to ``click``."""
        if not isinstance(request, Mapping):
            raise BadClick(400, "expected a JSON object with action_id, value, message_ts and user_id")
        for name in _CLICK_FIELDS:
            value = request.get(name)
            if not isinstance(value, str) or not value or len(value) > 2000:
                raise BadClick(400, f"{name}: expected a non-empty string")
        action_id, value, message_ts, user_id = (str(request[name]) for name in _CLICK_FIELDS)
        if user_id not in self.people:
            raise BadClick(400, f"user_id: {user_id!r} is not one of the people on this page")
        channel = self.slack.read_channel(self.channel)
        message = next((m for m in channel.all_messages() if m.ts == message_ts), None)
        if message is None:
            raise BadClick(404, f"message_ts: no message {message_ts} in {self.channel}")
        if not any(b.action_id == action_id and b.value == value for b in message.buttons):
            raise BadClick(409, "That button is no longer in the message (it changed since the page showed it).")
        result = self.click(
            action_id=action_id, value=value, message_ts=message_ts, channel=self.channel, user_id=user_id
        )
        if not isinstance(result, ClickResult):
            raise TypeError(f"the click handler returned {type(result).__name__}, expected ClickResult")
        return result

    # ---------------------------------------------------------------------------------------- serving

    def _serve(self, request: BaseHTTPRequestHandler, verb: str) -> None:
        port = self._server.server_address[1] if self._server is not None else 0
        host = request.headers.get("Host", "")
        if host not in (f"127.0.0.1:{port}", f"localhost:{port}"):
            self._json(request, 403, {"ok": False, "text": "this page answers on 127.0.0.1 and localhost only"})
            return
        path = request.path.split("?", 1)[0]
        if verb == "GET" and path == "/":
            self._send(request, 200, "text/html; charset=utf-8", PAGE.encode("utf-8"))
        elif verb == "GET" and path == "/api/channel":
            self._json(request, 200, self.view())
        elif verb == "POST" and path == "/api/click":
            self._click(request, port)
        else:
            self._send(request, 404, "text/plain; charset=utf-8", b"not found\n")

    def _click(self, request: BaseHTTPRequestHandler, port: int) -> None:
        origin = request.headers.get("Origin")
        if origin is not None and origin not in (f"http://127.0.0.1:{port}", f"http://localhost:{port}"):
            self._json(request, 403, {"ok": False, "text": "clicks are taken from this page only"})
            return
        if not (request.headers.get("Content-Type") or "").lower().startswith("application/json"):
            self._json(request, 415, {"ok": False, "text": "expected Content-Type: application/json"})
            return
        try:
            length = int(request.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if length < 0 or length > MAX_CLICK_BYTES:
            self._json(request, 413, {"ok": False, "text": f"expected a body of at most {MAX_CLICK_BYTES} bytes"})
            return
        try:
            body = json.loads(request.rfile.read(length).decode("utf-8") or "null")
            result = self.handle_click(body)
        except (UnicodeDecodeError, json.JSONDecodeError):
            self._json(request, 400, {"ok": False, "text": "the body is not JSON"})
        except BadClick as refused:
            self._json(request, refused.status, {"ok": False, "text": str(refused)})
        except Exception as error:
            LOG.exception("the click handler failed")
            self._json(request, 500, {"ok": False, "text": f"The click failed: {type(error).__name__}: {error}"})
        else:
            self._json(request, 200, {"ok": result.ok, "text": result.text})

    @staticmethod
    def _json(request: BaseHTTPRequestHandler, status: int, value: Any) -> None:
        SlackWeb._send(request, status, "application/json; charset=utf-8", json.dumps(value).encode("utf-8"))

    @staticmethod
    def _send(request: BaseHTTPRequestHandler, status: int, content_type: str, payload: bytes) -> None:
        request.send_response(status)
        request.send_header("Content-Type", content_type)
        request.send_header("Content-Length", str(len(payload)))
        request.send_header("Cache-Control", "no-store")
        request.send_header("X-Content-Type-Options", "nosniff")
        request.send_header(
            "Content-Security-Policy",
            "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; "
            "img-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
        )
        request.end_headers()
        request.wfile.write(payload)


# ------------------------------------------------------------------------------------------------- page

PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Slack (local)</title>
<style>
  body { margin: 0; font: 15px/1.46 -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; color: #1d1c1d; }
  header { background: #3f0e40; color: #fff; padding: 10px 20px; display: flex; gap: 16px; align-items: center; }
  header h1 { font-size: 18px; margin: 0; flex: 1; }
  header select { font: inherit; }
  #result { margin: 0; padding: 8px 20px; background: #f8f8f8; border-bottom: 1px solid #ddd; min-height: 1.5em; }
  #result.ok { background: #e3f4ea; } #result.failed { background: #fbe5e5; }
  main { padding: 8px 20px 40px; }
  .message { display: flex; gap: 10px; padding: 8px 0; }
  .avatar { width: 36px; height: 36px; border-radius: 4px; background: #4a154b; color: #fff; flex: none;
            display: flex; align-items: center; justify-content: center; font-weight: bold; }
  .body { flex: 1; min-width: 0; }
  .meta { display: flex; gap: 8px; align-items: baseline; }
  .author { font-weight: 900; } .badge { font-size: 10px; background: #ddd; padding: 0 4px; border-radius: 2px; }
  .time, .edited, .private { color: #616061; font-size: 12px; }
  .ephemeral { background: #f4f4f4; border-radius: 6px; padding-left: 6px; }
  .text, .section, .field { white-space: pre-wrap; overflow-wrap: anywhere; }
  .header { font-size: 18px; font-weight: 900; margin: 4px 0; }
  .section { margin: 4px 0; } .fields { display: grid; grid-template-columns: 1fr 1fr; gap: 8px 16px; }
  .context { color: #616061; font-size: 13px; margin: 4px 0; display: flex; gap: 8px; }
  .actions { display: flex; gap: 8px; margin: 8px 0; }
  button { font: inherit; font-weight: bold; padding: 4px 14px; border-radius: 4px; cursor: pointer;
           border: 1px solid #bbb; background: #fff; color: #1d1c1d; }
  button.primary { background: #007a5a; border-color: #007a5a; color: #fff; }
  button.danger { background: #e01e5a; border-color: #e01e5a; color: #fff; }
  button:disabled { opacity: .5; cursor: default; }
  code { background: #f6f6f6; border: 1px solid #ddd; border-radius: 3px; padding: 0 3px; font-size: 12px;
         color: #e01e5a; }
  pre { background: #f6f6f6; border: 1px solid #ddd; border-radius: 4px; padding: 8px; margin: 4px 0;
        white-space: pre; overflow-x: auto; font-size: 12px; }
  .mention { background: #e8f5fa; color: #1264a3; border-radius: 3px; padding: 0 2px; }
  .replies { margin-left: 46px; border-left: 2px solid #ddd; padding-left: 12px; }
  .divider { border: none; border-top: 1px solid #ddd; }
</style>
</head>
<body>
<header>
  <h1 id="channel">#</h1>
  <label>Click as <select id="person"></select></label>
</header>
<p id="result" role="status" aria-live="polite"></p>
<main id="messages"></main>
<script>
"use strict";
let last = "";
let busy = false;

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined && text !== null) node.textContent = text;
  return node;
}

function spans(list) {
  const box = document.createDocumentFragment();
  for (const s of list || []) {
    let node;
    if (s.kind === "bold") node = el("b", "", s.text);
    else if (s.kind === "italic") node = el("i", "", s.text);
    else if (s.kind === "strike") node = el("s", "", s.text);
    else if (s.kind === "code") node = el("code", "", s.text);
    else if (s.kind === "pre") node = el("pre", "", s.text);
    else if (s.kind === "mention") node = el("span", "mention", s.text);
    else if (s.kind === "link" && /^(https?:|mailto:)/i.test(s.url || "")) {
      node = el("a", "", s.text);
      node.href = s.url; node.target = "_blank"; node.rel = "noopener noreferrer";
    } else node = document.createTextNode(s.text);
    box.appendChild(node);
  }
  return box;
}

function button(b, ts) {
  const node = el("button", b.style || "", b.text);
  node.dataset.actionId = b.action_id;
  node.addEventListener("click", () => click(b, ts));
  return node;
}

function block(b, ts) {
  if (b.type === "header") return el("div", "header", b.text);
  if (b.type === "divider") return el("hr", "divider");
  if (b.type === "section") {
    const node = el("div", "section");
    if (b.text && b.text.length) node.appendChild(spans(b.text));
    if (b.fields && b.fields.length) {
      const grid = el("div", "fields");
      for (const f of b.fields) { const cell = el("div", "field"); cell.appendChild(spans(f)); grid.appendChild(cell); }
      node.appendChild(grid);
    }
    for (const x of b.buttons || []) node.appendChild(button(x, ts));
    return node;
  }
  if (b.type === "context") {
    const node = el("div", "context");
    for (const e of b.elements) { const part = el("span"); part.appendChild(spans(e)); node.appendChild(part); }
    return node;
  }
  if (b.type === "actions") {
    const node = el("div", "actions");
    for (const x of b.buttons) node.appendChild(button(x, ts));
    return node;
  }
  return el("div", "context", "[" + b.name + " block]");
}

function message(m) {
  const node = el("div", m.to_user ? "message ephemeral" : "message");
  node.dataset.ts = m.ts;
  node.appendChild(el("div", "avatar", (m.author || "?").slice(0, 1).toUpperCase()));
  const body = el("div", "body");
  const meta = el("div", "meta");
  meta.appendChild(el("span", "author", m.author));
  if (m.bot) meta.appendChild(el("span", "badge", "APP"));
  const when = new Date(parseFloat(m.ts) * 1000);
  const time = el("span", "time", when.toLocaleTimeString());
  time.title = when.toString();
  meta.appendChild(time);
  if (m.edited) meta.appendChild(el("span", "edited", "(edited)"));
  if (m.to_user) meta.appendChild(el("span", "private", "Only visible to " + m.to_user));
  body.appendChild(meta);
  if (m.text.length) { const text = el("div", "text"); text.appendChild(spans(m.text)); body.appendChild(text); }
  for (const b of m.blocks) body.appendChild(block(b, m.ts));
  node.appendChild(body);
  if (!m.replies.length) return node;
  const wrap = el("div");
  wrap.appendChild(node);
  const replies = el("div", "replies");
  for (const r of m.replies) replies.appendChild(message(r));
  wrap.appendChild(replies);
  return wrap;
}

function render(view) {
  document.getElementById("channel").textContent = "#" + view.channel_name;
  const select = document.getElementById("person");
  if (!select.options.length) {
    for (const p of view.people) {
      const option = el("option", "", p.name + " (" + p.id + ")");
      option.value = p.id;
      select.appendChild(option);
    }
  }
  const box = document.getElementById("messages");
  box.replaceChildren(...view.messages.map(message));
  for (const b of box.querySelectorAll("button")) b.disabled = busy;
}

function show(ok, text) {
  const result = document.getElementById("result");
  result.className = ok ? "ok" : "failed";
  result.textContent = text || (ok ? "Done." : "The click failed.");
}

async function poll() {
  try {
    const response = await fetch("/api/channel", {cache: "no-store"});
    const text = await response.text();
    if (text !== last) { last = text; render(JSON.parse(text)); }
  } catch (error) {
    show(false, "The local Slack is not answering: " + error);
  }
}

async function click(b, ts) {
  if (busy) return;
  if (b.confirm && !window.confirm(b.confirm.title + "\\n\\n" + b.confirm.text)) return;
  busy = true;
  for (const x of document.querySelectorAll("#messages button")) x.disabled = true;
  show(true, "Sending " + b.text + "...");
  try {
    const response = await fetch("/api/click", {
      method: "POST",
      headers: {"Content-Type": "application/json"},
      body: JSON.stringify({action_id: b.action_id, value: b.value, message_ts: ts,
                            user_id: document.getElementById("person").value}),
    });
    const result = await response.json();
    show(result.ok, result.text);
  } catch (error) {
    show(false, "The click could not be sent: " + error);
  } finally {
    busy = false;
    last = "";
    await poll();
  }
}

poll();
setInterval(poll, 1000);
</script>
</body>
</html>
"""
