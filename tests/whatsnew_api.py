"""A What's New directory API on the loopback server, in the shape of the real one.

Items are built here (``api_item``), never copied from the real API. ``FakeApi`` answers
``/api/dirs/items/search`` as the real API does, as far as the public clients of it show: items
sorted by ``postDateTime`` (``sort_order``), pages of ``size`` from ``page`` 0, ``tags.id``
filtering (``|`` separates alternatives), nothing past the 100th page, ``metadata.totalHits``.
``script`` overrides the answer to a given page of a given query, to inject 429s, 500s and
malformed pages.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import parse_qs, urlsplit

from conftest import Request, Response

API_PATH = "/api/dirs/items/search"
MAX_PAGE = 99


def rfc822(when: dt.datetime) -> str:
    return when.strftime("%a, %d %b %Y %H:%M:%S +0000")


def slug_for(n: int) -> str:
    return f"announcement-{n:05d}"


def whats_new_path(n: int, when: dt.datetime) -> str:
    return f"/about-aws/whats-new/{when:%Y/%m}/{slug_for(n)}"


def api_item(
    n: int,
    when: dt.datetime,
    *,
    products: Sequence[str] = ("amazon-s3",),
    areas: Sequence[str] = ("storage",),
    namespace: str = "whats-new-v2",
    trailing_slash: bool = False,
    year_tag: int | None = None,
) -> dict[str, Any]:
    """Announcement ``n``, posted at ``when``, as an entry of the API's ``items``."""
    tags = [
        {
            "id": f"whats-new-v2#year#{year_tag or when.year}",
            "name": str(year_tag or when.year),
            "tagNamespaceId": "whats-new-v2#year",
            "locale": "en_US",
            "description": str(year_tag or when.year),
        }
    ]
    for product in products:
        tags.append(
            {
                "id": f"{namespace}#general-products#{product}",
                "name": product,
                "tagNamespaceId": f"{namespace}#general-products",
                "locale": "en_US",
                "description": product.replace("-", " ").title(),
            }
        )
    for area in areas:
        tags.append(
            {
                "id": f"{namespace}#marketing-marchitecture#{area}",
                "name": area,
                "tagNamespaceId": f"{namespace}#marketing-marchitecture",
                "locale": "en_US",
                "description": area.title(),
            }
        )
    return {
        "item": {
            "id": f"whats-new-v2#p{100000 + n}",
            "locale": "en_US",
            "directoryId": "whats-new-v2",
            "name": f"Xk{n:020d}",
            "dateCreated": (when - dt.timedelta(days=2)).strftime("%Y-%m-%dT%H:%M:%S+0000"),
            "dateUpdated": when.strftime("%Y-%m-%dT%H:%M:%S+0000"),
            "additionalFields": {
                "headline": f"Amazon S3 announcement {n}",
                "headlineUrl": whats_new_path(n, when) + ("/" if trailing_slash else ""),
                "postBody": f'<p>Amazon S3 now does thing {n}. See <a href="/s3/">S3</a>.</p>',
                "postDateTime": when.astimezone(dt.timezone(dt.timedelta(hours=-5))).isoformat(),
                "nofollow": "0",
                "noindex": "0",
                "nosnippet": "0",
            },
        },
        "tags": tags,
    }


def rss_item(n: int, when: dt.datetime, *, guid: str | None = None) -> str:
    """Announcement ``n`` as the What's New RSS carries it (the same content as ``api_item``)."""
    link = f"https://aws.amazon.com{whats_new_path(n, when)}/"
    description = f'&lt;p&gt;Amazon S3 now does thing {n}. See &lt;a href="/s3/"&gt;S3&lt;/a&gt;.&lt;/p&gt;'
    return (
        f'<item><link>{link}</link><guid isPermaLink="false">{guid or f"{n:040x}"}</guid>'
        f"<title>Amazon S3 announcement {n}</title><description>{description}</description>"
        f"<pubDate>{rfc822(when)}</pubDate>"
        "<category>general:products/amazon-s3,marketing:marchitecture/storage</category>"
        "<author>aws@amazon.com</author></item>"
    )


def timeline(count: int, *, start: dt.datetime, step: dt.timedelta) -> list[dt.datetime]:
    """``count`` posting times, oldest first."""
    return [start + i * step for i in range(count)]


class FakeApi:
    """The directory API: ``server.route(API_PATH, api)``. ``items`` may change between requests."""

    def __init__(self, items: list[dict[str, Any]] | None = None) -> None:
        self.items: list[dict[str, Any]] = list(items or [])
        self.queries: list[dict[str, str]] = []
        self.script: dict[tuple[str | None, int], list[Response]] = {}
        self.hook: Callable[[dict[str, str]], Response | None] | None = None
        self._lock = threading.Lock()

    def fail(self, tag: str | None, page: int, *responses: Response) -> None:
        """Answer ``page`` of the query with ``tag`` with these responses in turn, then normally."""
        self.script[(tag, page)] = list(responses)

    def pages_asked(self, tag: str | None = None) -> list[int]:
        return [int(q["page"]) for q in self.queries if q.get("tags.id") == tag]

    def __call__(self, request: Request) -> Response:
        query = {k: v[0] for k, v in parse_qs(urlsplit(request.path).query, keep_blank_values=True).items()}
        with self._lock:
            self.queries.append(query)
            items = list(self.items)
        if self.hook is not None and (answer := self.hook(query)) is not None:
            return answer
        tag = query.get("tags.id")
        page = int(query.get("page", "0"))
        scripted = self.script.get((tag, page))
        if scripted:
            return scripted.pop(0)
        if query.get("item.directoryId") != "whats-new-v2":
            return Response(200, json.dumps({"metadata": {"count": 0, "totalHits": 0}, "items": []}).encode())
        if tag:
            wanted = set(tag.split("|"))
            items = [i for i in items if wanted & {t["id"] for t in i["tags"]}]
        items.sort(
            key=lambda i: dt.datetime.fromisoformat(i["item"]["additionalFields"]["postDateTime"]),
            reverse=query.get("sort_order", "desc") == "desc",
        )
        size = int(query.get("size", "10"))
        chunk = items[page * size : (page + 1) * size] if page <= MAX_PAGE else []
        body = {
            "fieldTypes": {"headline": "Text"},
            "metadata": {"count": len(chunk), "totalHits": len(items)},
            "items": chunk,
        }
        return Response(200, json.dumps(body).encode(), {"Content-Type": "application/json"})
