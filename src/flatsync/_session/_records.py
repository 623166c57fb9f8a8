"""The record registry as the session layer uses it: record schemas in frame headers.

A packet whose payload holds a record snapshot carries, in its header, the
schema (name and field names) of each record the replica may not have yet;
the publisher finds the ids and the schemas, the replica merges the tables it
receives and applies a packet with them in use. The registry itself lives
with the record wire layer in ``_tree/_records.py``; this module is the one
line that imports it, so that a move there repoints one import here.
"""

from __future__ import annotations

from .._tree._records import (
    Schema,
    has_records,
    merge_schemas,
    record_ids,
    schema_of,
    schemas_in_use,
)

__all__ = ["Schema", "has_records", "merge_schemas", "record_ids", "schema_of", "schemas_in_use"]
