//! HTTP API, authentication and roles, scheduler and the embedded web UI.
