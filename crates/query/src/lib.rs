//! J1QL: lexer, parser with spans, an AST that prints back to J1QL, planner and evaluator on a `GraphStore`.
