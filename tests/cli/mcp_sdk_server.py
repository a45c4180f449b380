#!/usr/bin/env python3
"""An MCP server built with the official SDK (PyPI `mcp`, pinned in scripts/requirements-test.txt;
in mcp 2.x FastMCP is called MCPServer), over stdio or streamable HTTP on 127.0.0.1. Its tools
cover what the runtime's client must handle: annotations (read-only, idempotent, neither),
typical pydantic-generated input schemas (enum via Literal, nested object via a model ($ref into
$defs), array with items, number range, optional field as anyOf with null), a tool error, and
image content. "tally" appends to LEDGER (fsync'd) so a test can count executions.

Usage: mcp_sdk_server.py stdio LEDGER
       mcp_sdk_server.py http LEDGER PORT
"""
import os
import sys
from typing import Annotated, Literal, Optional

from mcp.server.mcpserver import Image, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp_types import ToolAnnotations
from pydantic import BaseModel, Field

LEDGER = sys.argv[2] if len(sys.argv) > 2 else os.devnull  # importable for the schema oracle
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


if __name__ == "__main__":  # noqa: C901
    if sys.argv[1] == "stdio":
        server.run("stdio")
    else:
        server.run("streamable-http", host="127.0.0.1", port=int(sys.argv[3]))
