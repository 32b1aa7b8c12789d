"""The archive: SQLite through sqlite-utils, and the only module that speaks SQL.

- ``schema``: the migrations, opening the file (WAL, busy timeout), transactions;
- ``writes``: feeds' states, posts with their tags and links, gaps, backfill cursors, each batch
  one ``BEGIN IMMEDIATE`` transaction;
- ``reads``: typed records for the commands, the service and the digest.

Times are stored as ISO-8601 UTC text (``2024-05-01T17:00:00+00:00``), which sorts correctly.
Callers use ``store.<name>``; the modules are how the package is laid out, not an interface.
"""

from __future__ import annotations

from .reads import GAP_PROBLEMS as GAP_PROBLEMS
from .reads import FailedPoll as FailedPoll
from .reads import FeedFailures as FeedFailures
from .reads import FeedLabel as FeedLabel
from .reads import FeedSnapshot as FeedSnapshot
from .reads import HistoryPost as HistoryPost
from .reads import PostRecord as PostRecord
from .reads import TaggingRow as TaggingRow
from .reads import WindowCheck as WindowCheck
from .reads import backfill_row as backfill_row
from .reads import cached_profile as cached_profile
from .reads import count_to_tag as count_to_tag
from .reads import count_untagged as count_untagged
from .reads import existing_by_guid as existing_by_guid
from .reads import existing_by_id as existing_by_id
from .reads import feed_gaps as feed_gaps
from .reads import feed_labels as feed_labels
from .reads import feed_names as feed_names
from .reads import feed_rows as feed_rows
from .reads import feed_snapshot as feed_snapshot
from .reads import feed_state as feed_state
from .reads import fetch_failures as fetch_failures
from .reads import find_post as find_post
from .reads import fts_query as fts_query
from .reads import gap as gap
from .reads import gap_next_attempt as gap_next_attempt
from .reads import gaps as gaps
from .reads import post_categories as post_categories
from .reads import posts_by_id as posts_by_id
from .reads import posts_digest as posts_digest
from .reads import posts_to_tag as posts_to_tag
from .reads import query_posts as query_posts
from .reads import resumable_backfill as resumable_backfill
from .reads import service_history as service_history
from .reads import service_launch as service_launch
from .reads import state_from_row as state_from_row
from .reads import tags_of as tags_of
from .reads import unknown_token_rows as unknown_token_rows
from .reads import window_check as window_check
from .reads import window_posts as window_posts
from .schema import BUSY_NOTICE_S as BUSY_NOTICE_S
from .schema import BUSY_TIMEOUT_S as BUSY_TIMEOUT_S
from .schema import CHUNK as CHUNK
from .schema import MIGRATIONS as MIGRATIONS
from .schema import chunks as chunks
from .schema import from_iso as from_iso
from .schema import iso as iso
from .schema import link_rows as link_rows
from .schema import log as log
from .schema import marks as marks
from .schema import open_db as open_db
from .schema import write_transaction as write_transaction
from .writes import FETCH_LOG_COLUMNS as FETCH_LOG_COLUMNS
from .writes import MANUAL_CONFIDENCE as MANUAL_CONFIDENCE
from .writes import PROFILE_CACHE_ROWS as PROFILE_CACHE_ROWS
from .writes import FeedSpec as FeedSpec
from .writes import PostTagging as PostTagging
from .writes import StoreCounts as StoreCounts
from .writes import add_manual_tags as add_manual_tags
from .writes import ensure_feed as ensure_feed
from .writes import ensure_feeds as ensure_feeds
from .writes import insert_backfill as insert_backfill
from .writes import larger_page_cache as larger_page_cache
from .writes import log_fetch as log_fetch
from .writes import log_fetches as log_fetches
from .writes import record_gap as record_gap
from .writes import remove_manual_tags as remove_manual_tags
from .writes import replace_unknown_tokens as replace_unknown_tokens
from .writes import save_feed_state as save_feed_state
from .writes import save_feed_states as save_feed_states
from .writes import save_profile as save_profile
from .writes import save_taggings as save_taggings
from .writes import set_next_check as set_next_check
from .writes import store_posts as store_posts
from .writes import tag_columns as tag_columns
from .writes import update_backfill as update_backfill
from .writes import update_gap as update_gap
