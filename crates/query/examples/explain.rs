//! Prints the SQL and SQLite query plan of the plan a J1QL query runs first.
//!
//! `cargo run -p qgraph-query --example explain -- DB 'J1QL'`

#![allow(clippy::unwrap_used, reason = "diagnostic tool")]

fn main() {
    let mut args = std::env::args().skip(1);
    let (Some(path), Some(query)) = (args.next(), args.next()) else {
        eprintln!("usage: explain DATABASE 'J1QL'");
        std::process::exit(2);
    };
    let store = qgraph_store::SqliteStore::open(path).unwrap();
    let recorder = Recorder {
        store: &store,
        plans: Default::default(),
    };
    let started = std::time::Instant::now();
    let result = qgraph_query::run_query(&recorder, &query, &qgraph_query::QueryOptions::at(0));
    eprintln!(
        "ran in {:.3} s: {}",
        started.elapsed().as_secs_f64(),
        match &result {
            Ok(_) => "ok".to_owned(),
            Err(e) => e.to_string(),
        }
    );
    for plan in recorder.plans.borrow().iter() {
        let (sql, lines) = store.explain_plan(plan).unwrap();
        println!("{sql}\n");
        for line in lines {
            println!("{line}");
        }
        println!();
    }
}

use qgraph_store::StoreError;
use qgraph_store::plan::{Deadline, GraphPlan, PlanExecutor, PlanObject, PlanResult};

struct Recorder<'s> {
    store: &'s qgraph_store::SqliteStore,
    plans: std::cell::RefCell<Vec<GraphPlan>>,
}

impl PlanExecutor for Recorder<'_> {
    fn execute_plan_until(
        &self,
        plan: &GraphPlan,
        deadline: Option<Deadline>,
    ) -> Result<PlanResult, StoreError> {
        self.plans.borrow_mut().push(plan.clone());
        self.store.execute_plan_until(plan, deadline)
    }

    fn load_entities(&self, ids: &[i64]) -> Result<Vec<PlanObject>, StoreError> {
        self.store.load_entities(ids)
    }

    fn load_relationships(&self, ids: &[i64]) -> Result<Vec<PlanObject>, StoreError> {
        self.store.load_relationships(ids)
    }
}
