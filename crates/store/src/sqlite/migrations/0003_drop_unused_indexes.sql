-- Schema version 3: drops two indexes that every write paid for and no
-- read needed.
--
-- `entities_open` indexed `json_extract(properties, '$.open')`. The J1QL
-- plans test booleans with `json_type(...)`, which this index cannot answer,
-- and `open = true` matches most findings anyway; the composite index of
-- version 2 serves the filters that include `open`.
--
-- `relationships_type` indexed `relationship_type` alone. Hops look
-- relationships up by endpoint and class, and a relationship `_type` filter
-- is checked on the rows a hop reaches. At a million findings the index held
-- 144 MB of repeated type names and cost one more B-tree insert per
-- relationship; only the per-type counts of `qgraph demo` read it, and they
-- scan the table instead.
DROP INDEX IF EXISTS entities_open;
DROP INDEX IF EXISTS relationships_type;
