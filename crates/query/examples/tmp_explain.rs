#![allow(clippy::unwrap_used, reason = "temporary")]
fn main() {
    let args: Vec<String> = std::env::args().collect();
    let store = qgraph_store::SqliteStore::open(&args[1]).unwrap();
    if args.len() > 3 {
        store.with_connection(|c| c.execute_batch(&std::fs::read_to_string(&args[3]).unwrap()).unwrap());
    }
    let started = std::time::Instant::now();
    let r = qgraph_query::run_query(&store, &args[2], &qgraph_query::QueryOptions::at(1_768_435_200_000)).unwrap();
    let s = format!("{r:?}");
    eprintln!("{:?} {}", started.elapsed(), &s[..s.len().min(300)]);
}
