//! A Qualys API simulator for tests and benchmarks: replays recorded bodies, generates large deterministic subscriptions and injects faults.
