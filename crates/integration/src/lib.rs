//! The Qualys integration: instance configuration and validation, incremental windows, the sync steps in dependency order, and converters from Qualys records to graph objects.
