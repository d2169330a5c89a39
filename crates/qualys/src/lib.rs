//! Qualys API client: HTTP transport, authentication, rate-limit and concurrency governor, retry policy, streaming XML parsers yielding typed records, and the error taxonomy.
