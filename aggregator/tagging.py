"""What each post is about: services and topics with provenance, the kind of announcement, regions.

Pure: ``Post`` + ``Registry`` -> ``Tagging``. The order of evidence is the feed's own categories
(What's New product slugs and areas, blog category labels), then the title, then the body.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

TagType = Literal["service", "topic"]
TagSource = Literal["category", "title", "body", "manual"]

KINDS = (
    "new-service",
    "general-availability",
    "preview",
    "new-feature",
    "region-expansion",
    "new-instance-types",
    "price-change",
    "deprecation",
    "other",
)
"""Kinds of announcement, as stored in ``posts.kind`` and given to ``posts --kind``."""


@dataclass(frozen=True, kw_only=True)
class Tag:
    tag: str
    """A registry key (``stepfunctions``) or a topic (``serverless``)."""
    type: TagType
    source: TagSource
    confidence: float


@dataclass(frozen=True, kw_only=True)
class Tagging:
    tags: tuple[Tag, ...]
    primary_service: str | None
    kind: str
    regions: tuple[str, ...] = ()
    """Region codes (``ap-southeast-2``) a region expansion adds."""
    unknown_tokens: tuple[str, ...] = ()
    """Category tokens the registry does not know (kept raw and reported, never dropped)."""
