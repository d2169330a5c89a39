//! Graph storage: the `GraphStore` trait with SQLite and PostgreSQL backends, the sync engine, the mapper, job history and the instance registry.
