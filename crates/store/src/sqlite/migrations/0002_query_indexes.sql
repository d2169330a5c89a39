-- Schema version 2: indexes that let the J1QL plans of `sqlite/plan.rs` run
-- from indexes alone instead of parsing each candidate row's JSON.
--
-- The plans write a boolean test as `json_type(properties, '$.name') = 'true'`
-- and a numeric test as `typeof(json_extract(...)) IN ('integer', 'real')`,
-- so SQLite can answer both from the index columns below; an expression in a
-- query must match the indexed expression character for character.

-- `FIND <type> WITH numericSeverity >= N AND open = true` and its count: an
-- equality on the type and on `open`, then a range on the severity. Partial,
-- like the single-property indexes, so entities without a severity stay out.
CREATE INDEX entities_type_open_numeric_severity ON entities (
    entity_type,
    json_type(properties, '$.open'),
    json_extract(properties, '$.numericSeverity')
) WHERE json_extract(properties, '$.numericSeverity') IS NOT NULL;

-- Adjacency: a hop reaches the far end and the relationship id from the
-- index alone, in either stored direction. These replace the two-column
-- indexes of version 1, whose columns they start with.
CREATE INDEX relationships_from_class_to ON relationships (from_id, class, to_id);
CREATE INDEX relationships_to_class_from ON relationships (to_id, class, from_id);
DROP INDEX IF EXISTS relationships_from;
DROP INDEX IF EXISTS relationships_to;
