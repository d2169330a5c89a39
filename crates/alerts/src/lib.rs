//! Alert rules: J1QL queries on a schedule, conditions, alert lifecycle and actions.
