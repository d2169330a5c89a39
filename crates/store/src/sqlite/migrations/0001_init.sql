-- Schema version 1 of the qgraph graph store (SQLite dialect).
--
-- Conventions, kept so that the PostgreSQL backend can use the same shape:
-- * `INTEGER PRIMARY KEY` ids map to `BIGINT GENERATED ALWAYS AS IDENTITY`.
-- * JSON documents are TEXT here and `jsonb` in PostgreSQL; the property
--   indexes are expression indexes on `json_extract(properties, '$.name')`,
--   which PostgreSQL writes as `((properties ->> 'name'))`.
-- * Times are epoch milliseconds (INTEGER / BIGINT).
-- * Booleans are INTEGER 0/1 (BOOLEAN in PostgreSQL).

-- schema_migrations: one row per applied migration. A database whose highest
-- version is above the highest version this build knows is rejected on open.
CREATE TABLE schema_migrations (
    version    INTEGER PRIMARY KEY,
    applied_on INTEGER NOT NULL
);

-- instances: integration instances (configured Qualys accounts, imported
-- graphs) and the reserved mapper scope (id 0) that owns placeholder targets
-- and the relationships of global mapping rules. `config` is a JSON object
-- without the password; the password is only stored encrypted
-- (XChaCha20-Poly1305, 24-byte nonce) under a key kept outside the database.
CREATE TABLE instances (
    id                  INTEGER PRIMARY KEY,
    name                TEXT NOT NULL UNIQUE,
    kind                TEXT NOT NULL,   -- 'qualys', 'import' or 'mapper'
    config              TEXT NOT NULL,   -- JSON object
    password_nonce      BLOB,
    password_ciphertext BLOB,
    created_on          INTEGER NOT NULL,
    updated_on          INTEGER NOT NULL
);

INSERT INTO instances (id, name, kind, config, created_on, updated_on)
VALUES (0, 'system-mapper', 'mapper', '{}', 0, 0);

-- entities: graph nodes. `entity_key` is unique within the owning instance.
-- `classes` is the `_class` JSON array (also exploded into entity_classes for
-- lookups); `properties` is a JSON object of every other property except
-- `_key`, `_type`, `_class`, `displayName` and `_rawData`. `source` is the
-- `_source` value (`integration-managed`, `integration-external`,
-- `system-mapper`). `step_id` is the step that last wrote the entity.
CREATE TABLE entities (
    id           INTEGER PRIMARY KEY,
    instance_id  INTEGER NOT NULL REFERENCES instances (id) ON DELETE CASCADE,
    entity_key   TEXT NOT NULL,
    entity_type  TEXT NOT NULL,
    classes      TEXT NOT NULL,   -- JSON array of strings
    display_name TEXT,
    properties   TEXT NOT NULL,   -- JSON object
    raw_data     TEXT,            -- JSON array of {name, rawData}, or NULL
    source       TEXT NOT NULL,
    step_id      TEXT,
    created_on   INTEGER NOT NULL,
    updated_on   INTEGER NOT NULL,
    version      INTEGER NOT NULL DEFAULT 1,
    -- Key first, so this one index serves both `_key` lookups across
    -- instances and (instance, key) lookups; a second index on the key
    -- alone cost one more B-tree insert per entity. Deletes by instance
    -- alone scan the table instead.
    UNIQUE (entity_key, instance_id)
);

CREATE INDEX entities_type ON entities (entity_type, instance_id);
-- Properties users filter most. Partial indexes keep entities without the
-- property out of the index, which keeps ingest fast and the file small.
CREATE INDEX entities_numeric_severity ON entities (json_extract(properties, '$.numericSeverity'))
    WHERE json_extract(properties, '$.numericSeverity') IS NOT NULL;
CREATE INDEX entities_open ON entities (json_extract(properties, '$.open'))
    WHERE json_extract(properties, '$.open') IS NOT NULL;
CREATE INDEX entities_severity ON entities (json_extract(properties, '$.severity'))
    WHERE json_extract(properties, '$.severity') IS NOT NULL;
CREATE INDEX entities_qid ON entities (json_extract(properties, '$.qid'))
    WHERE json_extract(properties, '$.qid') IS NOT NULL;
CREATE INDEX entities_hostname ON entities (json_extract(properties, '$.hostname'))
    WHERE json_extract(properties, '$.hostname') IS NOT NULL;
CREATE INDEX entities_qualys_host_id ON entities (json_extract(properties, '$.qualysQwebHostId'))
    WHERE json_extract(properties, '$.qualysQwebHostId') IS NOT NULL;
CREATE INDEX entities_fqdn ON entities (json_extract(properties, '$.fqdn'))
    WHERE json_extract(properties, '$.fqdn') IS NOT NULL;
-- Finding-side join properties of the Host HAS Finding mapping rule, so the
-- rule can look findings up from a changed host without a full scan.
CREATE INDEX entities_host_id ON entities (json_extract(properties, '$.hostId'))
    WHERE json_extract(properties, '$.hostId') IS NOT NULL;
CREATE INDEX entities_ec2_instance_arn ON entities (json_extract(properties, '$.ec2InstanceArn'))
    WHERE json_extract(properties, '$.ec2InstanceArn') IS NOT NULL;
CREATE INDEX entities_gcp_instance_self_link ON entities (json_extract(properties, '$.gcpInstanceSelfLink'))
    WHERE json_extract(properties, '$.gcpInstanceSelfLink') IS NOT NULL;
CREATE INDEX entities_azure_vm_source_id ON entities (json_extract(properties, '$.azureVmSourceId'))
    WHERE json_extract(properties, '$.azureVmSourceId') IS NOT NULL;

-- entity_classes: one row per (entity, `_class` value), for `FIND Host`.
CREATE TABLE entity_classes (
    entity_id INTEGER NOT NULL REFERENCES entities (id) ON DELETE CASCADE,
    class     TEXT NOT NULL,
    PRIMARY KEY (entity_id, class)
) WITHOUT ROWID;

CREATE INDEX entity_classes_class ON entity_classes (class, entity_id);

-- mapped_relationships: mapped relationship definitions (`_mapping`) as the
-- owning instance last emitted them. The mapper resolves each into zero or
-- more rows of `relationships` with `mapping_id` set.
CREATE TABLE mapped_relationships (
    id                   INTEGER PRIMARY KEY,
    instance_id          INTEGER NOT NULL REFERENCES instances (id) ON DELETE CASCADE,
    relationship_key     TEXT NOT NULL,
    relationship_type    TEXT NOT NULL,
    class                TEXT NOT NULL,
    display_name         TEXT,
    properties           TEXT NOT NULL,   -- JSON object of extra relationship properties
    direction            TEXT NOT NULL,   -- 'FORWARD' or 'REVERSE'
    source_entity_key    TEXT NOT NULL,
    target_filter_keys   TEXT NOT NULL,   -- JSON array of arrays of property names
    target_entity        TEXT NOT NULL,   -- JSON object
    skip_target_creation INTEGER NOT NULL,
    step_id              TEXT,
    created_on           INTEGER NOT NULL,
    updated_on           INTEGER NOT NULL,
    version              INTEGER NOT NULL DEFAULT 1,
    UNIQUE (instance_id, relationship_key)
);

CREATE INDEX mapped_relationships_type ON mapped_relationships (relationship_type);

-- mapping_rules: global mapping rules, as data. A rule relates every entity
-- of `source_class` to every entity of `target_class` when, for one of the
-- alternatives in `joins` (a JSON array of [sourceProperty, targetProperty]
-- pairs, tried in order), the two property values are equal. Relationships
-- made by rules belong to the mapper scope (instance 0).
CREATE TABLE mapping_rules (
    id                 INTEGER PRIMARY KEY,
    name               TEXT NOT NULL UNIQUE,
    source_class       TEXT NOT NULL,
    relationship_class TEXT NOT NULL,
    target_class       TEXT NOT NULL,
    joins              TEXT NOT NULL,   -- JSON array of [sourceProperty, targetProperty]
    enabled            INTEGER NOT NULL DEFAULT 1
);

INSERT INTO mapping_rules (id, name, source_class, relationship_class, target_class, joins) VALUES
    (1, 'threat-intel-has-finding', 'ThreatIntel', 'HAS', 'Finding', '[["qid","qid"]]'),
    (2, 'threat-intel-has-vulnerability', 'ThreatIntel', 'HAS', 'Vulnerability', '[["qid","qid"]]'),
    (3, 'host-has-finding', 'Host', 'HAS', 'Finding',
        '[["qualysQwebHostId","hostId"],["_key","ec2InstanceArn"],["_key","gcpInstanceSelfLink"],["_key","azureVmSourceId"],["fqdn","fqdn"]]');

-- relationships: graph edges between two stored entities. Direct
-- relationships have `mapping_id` and `rule_id` NULL; relationships resolved
-- by the mapper carry the definition (`mapping_id`) or global rule (`rule_id`)
-- they came from and `source` = 'system-mapper'.
CREATE TABLE relationships (
    id                INTEGER PRIMARY KEY,
    instance_id       INTEGER NOT NULL REFERENCES instances (id) ON DELETE CASCADE,
    relationship_key  TEXT NOT NULL,
    relationship_type TEXT NOT NULL,
    class             TEXT NOT NULL,
    from_id           INTEGER NOT NULL REFERENCES entities (id) ON DELETE CASCADE,
    to_id             INTEGER NOT NULL REFERENCES entities (id) ON DELETE CASCADE,
    display_name      TEXT,
    properties        TEXT NOT NULL,   -- JSON object
    source            TEXT NOT NULL,
    step_id           TEXT,
    mapping_id        INTEGER REFERENCES mapped_relationships (id) ON DELETE CASCADE,
    rule_id           INTEGER REFERENCES mapping_rules (id) ON DELETE CASCADE,
    created_on        INTEGER NOT NULL,
    updated_on        INTEGER NOT NULL,
    version           INTEGER NOT NULL DEFAULT 1,
    UNIQUE (instance_id, relationship_key)
);

CREATE INDEX relationships_type ON relationships (relationship_type);
CREATE INDEX relationships_from ON relationships (from_id, class);
CREATE INDEX relationships_to ON relationships (to_id, class);
CREATE INDEX relationships_mapping ON relationships (mapping_id) WHERE mapping_id IS NOT NULL;

-- jobs: one row per run of an instance. `status` is RUNNING while the run
-- is staging; a RUNNING row found when the next run starts belonged to a run
-- that died and is marked ABORTED. `counts` is a JSON object of the commit's
-- counters (created, updated, deleted, duplicate keys, ...).
CREATE TABLE jobs (
    id          INTEGER PRIMARY KEY,
    instance_id INTEGER NOT NULL REFERENCES instances (id) ON DELETE CASCADE,
    started_on  INTEGER NOT NULL,
    ended_on    INTEGER,
    status      TEXT NOT NULL,   -- RUNNING, SUCCESS, PARTIAL_SUCCESS, FAILURE, ABORTED
    counts      TEXT NOT NULL DEFAULT '{}',
    error       TEXT
);

CREATE INDEX jobs_instance ON jobs (instance_id, started_on);

-- job_steps: per-step outcome of a job, with the errors and their Qualys codes.
CREATE TABLE job_steps (
    job_id     INTEGER NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    step_id    TEXT NOT NULL,
    status     TEXT NOT NULL,   -- success, failure, partial_success_due_to_dependency_failure, disabled
    started_on INTEGER NOT NULL,
    ended_on   INTEGER NOT NULL,
    counts     TEXT NOT NULL,   -- JSON object: objects emitted by _type
    errors     TEXT NOT NULL,   -- JSON array of {message, code, endpoint}
    PRIMARY KEY (job_id, step_id)
);

-- sync_state: per instance and data set (such as 'host_detections'), the end
-- of the last successful incremental window, written in the commit that
-- stored the window's data.
CREATE TABLE sync_state (
    instance_id   INTEGER NOT NULL REFERENCES instances (id) ON DELETE CASCADE,
    data_set      TEXT NOT NULL,
    window_end_on INTEGER NOT NULL,
    PRIMARY KEY (instance_id, data_set)
);

-- kb_cache: Qualys knowledge-base entries by QID, shared by all instances
-- because a QID means the same vulnerability in every subscription.
CREATE TABLE kb_cache (
    qid        INTEGER PRIMARY KEY,
    document   TEXT NOT NULL,   -- JSON of the parsed KB entry
    fetched_on INTEGER NOT NULL
);
