"""A read model of a Slack channel as the local fake Slack holds it, and how people read it.

    Channel             the top-level messages in order, each with its thread replies, each with its current
                        text and blocks (after chat.update), and the ephemeral messages (shown to one user only)
    Message / Button    one message; one button of an actions block (action_id, value, label, style, confirm)
    latest_actions()    the newest message that still has buttons: what a person would click next
    thread_as_text()    the channel or one thread as plain text lines (author, time, text, block lines)
    mrkdwn_spans()      Slack's mrkdwn cut into plain spans (bold, code, link, mention ...), never markup

Everything here is a snapshot: immutable values built from a copy taken under the fake's lock
(``FakeSlack.read_channel``), so callers on other threads can read them while Slack traffic goes on.

The rendering follows Slack's rules where they matter for reading: ``&amp;``, ``&lt;`` and ``&gt;`` are
unescaped, ``<@U…>`` is a mention, ``<!date^…|fallback>`` shows its fallback, ``<url|label>`` is a link (only
http, https and mailto links keep their target), a message with blocks is shown by its blocks.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

SpanKind = Literal["text", "bold", "italic", "strike", "code", "pre", "link", "mention"]

# The emoji codes the pipeline's messages use, and a few common ones; others stay as :code:.
EMOJI: Mapping[str, str] = {
    "white_check_mark": "\u2705",
    "heavy_check_mark": "\u2714\ufe0f",
    "no_entry": "\u26d4",
    "x": "\u274c",
    "hourglass": "\u231b",
    "hourglass_flowing_sand": "\u23f3",
    "fast_forward": "\u23e9",
    "rewind": "\u23ea",
    "rocket": "\U0001f680",
    "rotating_light": "\U0001f6a8",
    "warning": "\u26a0\ufe0f",
    "tada": "\U0001f389",
    "information_source": "\u2139\ufe0f",
}
_LINK_SCHEMES = ("http://", "https://", "mailto:")
_TOKEN = re.compile(
    r"```(?P<pre>.+?)```"
    r"|`(?P<code>[^`\n]+)`"
    r"|<(?P<angle>[^<>\n]+)>"
    r"|(?<![\w*])\*(?P<bold>[^*\n]+?)\*(?![\w*])"
    r"|(?<![\w_])_(?P<italic>[^_\n]+?)_(?![\w_])"
    r"|(?<![\w~])~(?P<strike>[^~\n]+?)~(?![\w~])",
    re.DOTALL,
)
_EMOJI = re.compile(r":([a-z0-9_+-]+):")


# ------------------------------------------------------------------------------------------------ values


@dataclass(frozen=True)
class Span:
    kind: SpanKind
    text: str
    url: str | None = None  # links only, and only http(s) or mailto


@dataclass(frozen=True)
class Confirm:
    """The dialog Slack shows before a button with ``confirm`` acts."""

    title: str
    text: str
    confirm: str
    deny: str


@dataclass(frozen=True)
class Button:
    action_id: str
    value: str
    text: str
    style: str | None  # "primary", "danger" or None
    block_id: str | None
    confirm: Confirm | None = None


@dataclass(frozen=True)
class Message:
    channel: str
    ts: str
    text: str
    user: str | None
    bot_id: str | None
    blocks: tuple[Mapping[str, Any], ...]
    thread_ts: str | None = None
    edited: bool = False
    replies: tuple[Message, ...] = ()
    to_user: str | None = None  # set on an ephemeral message: the one user who sees it

    @property
    def buttons(self) -> tuple[Button, ...]:
        return tuple(button for block in self.blocks for button in block_buttons(block))

    @property
    def time(self) -> datetime:
        return datetime.fromtimestamp(ts_key(self.ts)[0], UTC)


@dataclass(frozen=True)
class Channel:
    id: str
    messages: tuple[Message, ...]  # top-level, oldest first; replies inside each
    ephemerals: tuple[Message, ...] = ()  # oldest first; ``thread_ts`` says where they appeared
    names: Mapping[str, str] = field(default_factory=dict)  # user ID -> name (the bot's, at least)

    def all_messages(self) -> list[Message]:
        """Every message and reply, oldest first."""
        found = [m for top in self.messages for m in (top, *top.replies)]
        return sorted(found, key=lambda m: ts_key(m.ts))


@dataclass(frozen=True)
class ActionsMessage:
    """The newest message with buttons: where to click, and what each button sends."""

    message: Message
    buttons: tuple[Button, ...]

    def button(self, action_id: str) -> Button:
        for button in self.buttons:
            if button.action_id == action_id:
                return button
        names = ", ".join(b.action_id for b in self.buttons)
        raise KeyError(f"message {self.message.ts} has no button {action_id!r} (it has: {names})")


# ------------------------------------------------------------------------------------------- building


def ts_key(ts: str) -> tuple[int, int]:
    """A Slack ts as (seconds, counter), to put messages in order."""
    seconds, _, fraction = ts.partition(".")
    try:
        return int(seconds), int(fraction or 0)
    except ValueError:
        return 0, 0


def _blocks(value: Any) -> tuple[Mapping[str, Any], ...]:
    """Blocks as a list, or as the JSON text a form parameter carries (chat.postEphemeral's are kept raw)."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            return ()
    return tuple(b for b in value if isinstance(b, Mapping)) if isinstance(value, list) else ()


def _message(channel: str, raw: Mapping[str, Any], replies: Sequence[Message] = ()) -> Message:
    thread_ts = raw.get("thread_ts")
    return Message(
        channel=channel,
        ts=str(raw.get("ts") or ""),
        text=str(raw.get("text") or ""),
        user=raw.get("user") if isinstance(raw.get("user"), str) else None,
        bot_id=raw.get("bot_id") if isinstance(raw.get("bot_id"), str) else None,
        blocks=_blocks(raw.get("blocks")),
        thread_ts=str(thread_ts) if thread_ts else None,
        edited=bool(raw.get("edited")),
        replies=tuple(replies),
        to_user=raw.get("to_user") if isinstance(raw.get("to_user"), str) else None,
    )


def build_channel(
    channel: str,
    messages: Iterable[Mapping[str, Any]],
    ephemerals: Iterable[Mapping[str, Any]] = (),
    names: Mapping[str, str] | None = None,
) -> Channel:
    """The channel from Slack message objects (as chat.postMessage / chat.update return them) and ephemeral
    ones (the same shape, with ``to_user``: who sees it). A reply whose parent is not in the channel is shown
    as a top-level message, so nothing posted is hidden."""
    raw = sorted(messages, key=lambda m: ts_key(str(m.get("ts") or "")))
    parents = {str(m.get("ts")) for m in raw if not m.get("thread_ts") or m.get("thread_ts") == m.get("ts")}
    replies: dict[str, list[Message]] = {}
    for m in raw:
        parent = m.get("thread_ts")
        if parent and parent != m.get("ts") and parent in parents:
            replies.setdefault(str(parent), []).append(_message(channel, m))
    top = [
        _message(channel, m, replies.get(str(m.get("ts")), ()))
        for m in raw
        if not (m.get("thread_ts") and m.get("thread_ts") != m.get("ts") and m.get("thread_ts") in parents)
    ]
    private = [_message(channel, e) for e in sorted(ephemerals, key=lambda e: ts_key(str(e.get("ts") or "")))]
    return Channel(id=channel, messages=tuple(top), ephemerals=tuple(private), names=dict(names or {}))


# --------------------------------------------------------------------------------------------- blocks


def _text_of(obj: Any) -> str:
    """The text of a Block Kit text object (plain_text or mrkdwn), '' when absent."""
    return str(obj.get("text") or "") if isinstance(obj, Mapping) else ""


def _confirm(obj: Any) -> Confirm | None:
    if not isinstance(obj, Mapping):
        return None
    return Confirm(
        title=_text_of(obj.get("title")),
        text=_text_of(obj.get("text")),
        confirm=_text_of(obj.get("confirm")) or "Yes",
        deny=_text_of(obj.get("deny")) or "Cancel",
    )


def _button(element: Any, block_id: str | None) -> Button | None:
    if not isinstance(element, Mapping) or element.get("type") != "button" or not element.get("action_id"):
        return None
    style = element.get("style")
    return Button(
        action_id=str(element["action_id"]),
        value=str(element.get("value") or ""),
        text=_text_of(element.get("text")),
        style=style if style in ("primary", "danger") else None,
        block_id=block_id,
        confirm=_confirm(element.get("confirm")),
    )


def block_buttons(block: Mapping[str, Any]) -> list[Button]:
    """The buttons of an actions block, or of a section's button accessory."""
    block_id = str(block["block_id"]) if block.get("block_id") else None
    if block.get("type") == "actions":
        elements = block.get("elements")
        candidates = elements if isinstance(elements, list) else []
    elif block.get("type") == "section":
        candidates = [block.get("accessory")]
    else:
        return []
    return [b for b in (_button(e, block_id) for e in candidates) if b is not None]


def latest_actions(channel: Channel) -> ActionsMessage | None:
    """The newest message (top-level or reply) that has buttons, None when no message has any."""
    for message in reversed(channel.all_messages()):
        if message.buttons:
            return ActionsMessage(message=message, buttons=message.buttons)
    return None


# -------------------------------------------------------------------------------------------- mrkdwn


def unescape(text: str) -> str:
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def _emoji(text: str) -> str:
    return _EMOJI.sub(lambda m: EMOJI.get(m.group(1), m.group(0)), text)


def _angle(token: str, names: Mapping[str, str]) -> Span:
    target, _, label = token.partition("|")
    if target.startswith("@"):
        user = target[1:]
        return Span("mention", "@" + names.get(user, unescape(label) or user))
    if target.startswith("#"):
        return Span("mention", "#" + (unescape(label) or target[1:]))
    if target.startswith("!subteam^"):
        return Span("mention", unescape(label) or "@" + target.removeprefix("!subteam^"))
    if target.startswith("!date^"):
        return Span("text", unescape(label) or target)
    if target.startswith("!"):
        return Span("mention", "@" + target[1:])
    url = unescape(target)
    shown = unescape(label) or url
    return Span("link", shown, url) if url.startswith(_LINK_SCHEMES) else Span("text", shown)


def mrkdwn_spans(text: str, names: Mapping[str, str] | None = None) -> list[Span]:
    """Slack mrkdwn as spans of plain text (formatting is one level deep, as in most messages)."""
    names = names or {}
    spans: list[Span] = []
    position = 0
    for match in _TOKEN.finditer(text):
        if match.start() > position:
            spans.append(Span("text", _emoji(unescape(text[position : match.start()]))))
        kind = match.lastgroup
        value = match.group(kind) if kind else ""
        if kind == "angle":
            spans.append(_angle(value, names))
        elif kind == "pre":
            spans.append(Span("pre", unescape(value.strip("\n"))))
        elif kind == "code":
            spans.append(Span("code", unescape(value)))
        elif kind in ("bold", "italic", "strike"):
            spans.append(Span(kind, _emoji(unescape(value))))
        position = match.end()
    if position < len(text):
        spans.append(Span("text", _emoji(unescape(text[position:]))))
    return spans


def plain_text(text: str, names: Mapping[str, str] | None = None) -> str:
    """mrkdwn without its markup; a link keeps its address when the label differs."""
    out = ""
    for span in mrkdwn_spans(text, names):
        if span.kind == "pre":
            # A preformatted block stands on lines of its own, as Slack shows it.
            out += ("" if not out or out.endswith("\n") else "\n") + span.text + "\n"
        elif span.kind == "link" and span.url and span.url != span.text:
            out += f"{span.text} <{span.url}>"
        else:
            out += span.text
    return out.strip("\n")


def text_object(obj: Any, names: Mapping[str, str] | None = None) -> str:
    """A text object as plain text (plain_text is shown as written, mrkdwn without its markup)."""
    if not isinstance(obj, Mapping):
        return ""
    text = _text_of(obj)
    return plain_text(text, names) if obj.get("type") == "mrkdwn" else _emoji(text)


# ----------------------------------------------------------------------------------------------- text


def display_name(message: Message, names: Mapping[str, str] | None = None) -> str:
    return (names or {}).get(message.user or "", message.user or message.bot_id or "someone")


def author(message: Message, names: Mapping[str, str] | None = None) -> str:
    """The name shown for the message's author, "(bot)" added for an app."""
    who = display_name(message, names)
    return f"{who} (bot)" if message.bot_id else who


def field_text(obj: Any, names: Mapping[str, str] | None = None) -> str:
    """A section field on one line: Slack's "*Title*\\nvalue" convention becomes "Title: value"."""
    text = text_object(obj, names)
    raw = _text_of(obj)
    first, _, rest = text.partition("\n")
    titled = isinstance(obj, Mapping) and obj.get("type") == "mrkdwn" and re.match(r"^\*[^*\n]+\*\n", raw)
    if titled and rest:
        return f"{first}: {' '.join(rest.split())}"
    return " ".join(text.split())


def block_lines(block: Mapping[str, Any], names: Mapping[str, str] | None = None) -> list[str]:
    """One block as plain text lines."""
    kind = block.get("type")
    if kind == "header":
        return [f"# {text_object(block.get('text'), names)}"]
    if kind == "section":
        lines = text_object(block.get("text"), names).splitlines() if block.get("text") else []
        fields = block.get("fields")
        lines += [field_text(f, names) for f in (fields if isinstance(fields, list) else [])]
        lines += [f"[{b.text}]" for b in block_buttons(block)]
        return lines
    if kind == "context":
        elements = block.get("elements")
        texts = [
            text_object(e, names) if e.get("type") != "image" else str(e.get("alt_text") or "image")
            for e in (elements if isinstance(elements, list) else [])
            if isinstance(e, Mapping)
        ]
        return ["· " + "  ".join(" ".join(t.split()) for t in texts)] if texts else []
    if kind == "actions":
        elements = block.get("elements")
        others = [
            f"[{e.get('type')}]"
            for e in (elements if isinstance(elements, list) else [])
            if isinstance(e, Mapping) and e.get("type") != "button"
        ]
        return [" ".join([*(f"[{b.text}]" for b in block_buttons(block)), *others])]
    if kind == "divider":
        return ["---"]
    if kind == "image":
        return [f"[image: {block.get('alt_text') or ''}]"]
    return [f"[{kind} block]"]


def message_lines(message: Message, names: Mapping[str, str] | None = None, indent: str = "") -> list[str]:
    names = names or {}
    text_lines = plain_text(message.text, names).splitlines() or [""]
    head = f"{indent}{message.time:%Y-%m-%d %H:%M:%S} UTC  {author(message, names)}: {text_lines[0]}"
    if message.edited:
        head += " (edited)"
    if message.to_user:
        head += f" (only visible to {names.get(message.to_user, message.to_user)})"
    lines = [head, *(f"{indent}    {line}" for line in text_lines[1:])]
    for block in message.blocks:
        lines += [f"{indent}    {line}" for line in block_lines(block, names)]
    return lines


def thread_as_text(channel: Channel, thread_ts: str | None = None, names: Mapping[str, str] | None = None) -> str:
    """The channel (or only the thread whose parent is ``thread_ts``) as plain text, one line per item:

        2023-11-14 22:13:21 UTC  approvals (bot): Pipeline started for abc1234
            2023-11-14 22:13:25 UTC  approvals (bot): Approval needed: deploy ...
                # Production approval: delivery-time v7
                Model: delivery-time version 7
                [Approve] [Reject]
                · Run run-abc

    Replies are indented under their parent; ephemeral messages are listed where and when they appeared,
    marked "(only visible to ...)". ``names`` maps user IDs to the names shown for authors and mentions (on
    top of the channel's own, e.g. the bot's).
    """
    names = {**channel.names, **(names or {})}
    threads = {m.ts for m in channel.messages}
    if thread_ts is not None and thread_ts not in threads:
        raise KeyError(f"channel {channel.id} has no thread {thread_ts}")
    private: dict[str | None, list[Message]] = {}
    for e in channel.ephemerals:
        private.setdefault(e.thread_ts if e.thread_ts in threads else None, []).append(e)
    if thread_ts is None:
        top = sorted([*channel.messages, *private.get(None, [])], key=lambda m: ts_key(m.ts))
    else:
        top = [m for m in channel.messages if m.ts == thread_ts]
    lines: list[str] = []
    for message in top:
        lines += message_lines(message, names)
        replies = sorted([*message.replies, *private.get(message.ts, [])], key=lambda m: ts_key(m.ts))
        for reply in replies:
            lines += message_lines(reply, names, indent="    ")
    return "\n".join(lines)
