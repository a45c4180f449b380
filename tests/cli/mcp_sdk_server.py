#!/usr/bin/env python3
"""An MCP server built with the official SDK (PyPI `mcp`, pinned in scripts/requirements-test.txt;
in mcp 2.x FastMCP is called MCPServer), over stdio or streamable HTTP on 127.0.0.1. Its tools
cover what the runtime's client must handle: annotations (read-only, idempotent, neither),
typical pydantic-generated input schemas (enum via Literal, nested object via a model ($ref into
$defs), array with items, number range, optional field as anyOf with null), a tool error, and
image content. "tally" appends to LEDGER (fsync'd) so a test can count executions.

Tools that talk back to the client in the middle of a call, through the SDK's own session API:
  - "handshake": on its own call's stream (related_request_id), a ping, then sampling/createMessage
    and elicitation/create; it reports which the client answered and with which error code;
  - "where": roots/list, sent the way the SDK sends unrelated requests (over HTTP: the GET stream);
  - "grow": registers the tool "extra" and sends notifications/tools/list_changed on its call's
    stream; with a STATE path given, the grown state is kept there, so a restarted server (a
    resumed run's new process) starts with "extra" too;
  - "pause" (HTTP, with an event store: resumable streams): closes its own reply stream
    (ctx.close_sse_stream) and answers after a short sleep, so the answer arrives only through a
    client's GET with Last-Event-ID.

Usage: mcp_sdk_server.py stdio LEDGER [STATE]
       mcp_sdk_server.py http LEDGER PORT [STATE]
"""
import os
import sys
from typing import Annotated, Literal, Optional

import anyio
import mcp.types as types
from mcp.server.mcpserver import Context, Image, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.streamable_http import EventMessage, EventStore
from mcp.shared.exceptions import MCPError
from mcp.shared.message import ServerMessageMetadata
from mcp_types import ToolAnnotations
from pydantic import BaseModel, Field

LEDGER = sys.argv[2] if len(sys.argv) > 2 else os.devnull  # importable for the schema oracle
STATE = (sys.argv[4] if sys.argv[1:2] == ["http"] else sys.argv[3]) if len(sys.argv) > 3 + (sys.argv[1:2] == ["http"]) else None
server = MCPServer("sdk-test-server")


class Point(BaseModel):
    x: float
    y: float


@server.tool(annotations=ToolAnnotations(readOnlyHint=True))
def shout(text: str) -> str:
    """Upper-case the text."""
    return text.upper()


@server.tool(annotations=ToolAnnotations(readOnlyHint=False, idempotentHint=True))
def measure(points: list[Point], unit: Literal["m", "km"] = "m",
            scale: Annotated[float, Field(ge=0.5, le=4)] = 1.0, label: Optional[str] = None) -> str:
    """Path length through the points."""
    total = sum(((b.x - a.x) ** 2 + (b.y - a.y) ** 2) ** 0.5 for a, b in zip(points, points[1:]))
    return f"{label or 'path'}: {total * scale:g} {unit}"


@server.tool(annotations=ToolAnnotations(readOnlyHint=False, destructiveHint=False))
def tally(item: str, count: Annotated[int, Field(ge=1, le=100)] = 1) -> str:
    """Record items (a side effect)."""
    with open(LEDGER, "a") as f:
        f.write(f"{item} {count}\n")
        f.flush()
        os.fsync(f.fileno())
    return f"recorded {count} x {item}"


@server.tool()
def refuse(reason: str) -> str:
    """Always fails."""
    raise ToolError(f"refused: {reason}")


@server.tool(annotations=ToolAnnotations(readOnlyHint=True))
def pixel() -> Image:
    """A tiny image."""
    return Image(data=b"\x89PNG\r\n\x1a\n", format="png")


@server.tool(annotations=ToolAnnotations(readOnlyHint=True))
async def handshake(ctx: Context) -> str:
    """Asks the client things in the middle of the call."""
    meta = ServerMessageMetadata(related_request_id=ctx.request_id)
    await ctx.session.send_request(types.PingRequest(), types.EmptyResult, metadata=meta)
    out = ["ping answered"]
    try:
        await ctx.session.create_message(
            messages=[types.SamplingMessage(role="user", content=types.TextContent(type="text", text="hi"))],
            max_tokens=5, related_request_id=ctx.request_id)
        out.append("sampling answered")
    except MCPError as e:
        out.append(f"sampling refused {e.code}")
    try:
        await ctx.session.elicit_form("ok?", {"type": "object", "properties": {}}, related_request_id=ctx.request_id)
        out.append("elicitation answered")
    except MCPError as e:
        out.append(f"elicitation refused {e.code}")
    caps = ctx.session.client_capabilities
    out.append("capabilities " + (caps.model_dump_json(by_alias=True, exclude_none=True) if caps else "none"))
    return "; ".join(out)


@server.tool(annotations=ToolAnnotations(readOnlyHint=True))
async def where(ctx: Context) -> str:
    """The client's roots."""
    result = await ctx.session.list_roots()
    return " ".join(f"{r.name}={r.uri}" for r in result.roots)


def extra(n: int) -> str:
    """Appears when grow is called."""
    return f"extra {n}"


def add_extra():
    if "extra" not in [t.name for t in server._tool_manager.list_tools()]:
        server.add_tool(extra, annotations=ToolAnnotations(readOnlyHint=True))


@server.tool(annotations=ToolAnnotations(readOnlyHint=False, idempotentHint=True))
async def grow(ctx: Context) -> str:
    """Adds the tool extra."""
    add_extra()
    if STATE:
        with open(STATE, "w") as f:
            f.write("grown\n")
            f.flush()
            os.fsync(f.fileno())
    await ctx.session.send_notification(types.ToolListChangedNotification(), related_request_id=ctx.request_id)
    return "grown"


@server.tool(annotations=ToolAnnotations(readOnlyHint=True))
async def pause(ctx: Context) -> str:
    """Breaks its own reply stream, then answers."""
    await ctx.close_sse_stream()
    await anyio.sleep(0.3)
    return "answered after the break"


class MemoryEventStore(EventStore):
    """Every event of every stream, in order (a test server lives for seconds)."""

    def __init__(self):
        self.events = []  # (event_id, stream_id, message)

    async def store_event(self, stream_id, message):
        event_id = str(len(self.events) + 1)
        self.events.append((event_id, stream_id, message))
        return event_id

    async def replay_events_after(self, last_event_id, send_callback):
        index = {e[0]: i for i, e in enumerate(self.events)}
        if last_event_id not in index:
            return None
        stream_id = self.events[index[last_event_id]][1]
        for event_id, sid, message in self.events[index[last_event_id] + 1:]:
            if sid == stream_id and message is not None:
                await send_callback(EventMessage(message, event_id))
        return stream_id


if STATE and os.path.exists(STATE):
    add_extra()

if __name__ == "__main__":  # noqa: C901
    if sys.argv[1] == "stdio":
        server.run("stdio")
    else:
        server.run("streamable-http", host="127.0.0.1", port=int(sys.argv[3]), event_store=MemoryEventStore())
