//! Sequences of syncs, placeholder changes and instance removals must leave the graph
//! that one first sync of the final inputs builds. Each test runs a sequence on one
//! store and the final inputs on a fresh store, then compares the rule relationships
//! (Host HAS Finding) of both by entity keys.

#![allow(clippy::unwrap_used, reason = "tests")]

#[path = "conformance/fixtures.rs"]
#[allow(dead_code, reason = "each test file uses a part of the fixtures")]
mod fixtures;

use std::collections::BTreeSet;

use fixtures::*;
use qgraph_model::{Entity, GraphObject, Value};
use qgraph_store::{GraphStore, InstanceKind, SqliteStore};

fn memory() -> SqliteStore {
    SqliteStore::open_in_memory().unwrap()
}

/// Returns the rule relationships of the store as `host HAS finding` lines, with the
/// placeholder hosts named by their `fqdn` since their keys are generated.
fn rule_links(store: &SqliteStore) -> BTreeSet<String> {
    let name = |id: i64| {
        let stored = store.entity_by_id(id).unwrap().unwrap();
        if stored.source == "system-mapper" {
            let fqdn = stored.entity.properties.get("fqdn").cloned();
            format!("placeholder({fqdn:?})")
        } else {
            stored.entity.key
        }
    };
    let mut links = BTreeSet::new();
    for finding in store.entities_by_class("Finding", 10_000).unwrap() {
        for link in store.relationships_of(finding.id).unwrap() {
            if link.rule_id.is_some() && link.to_id == finding.id {
                links.insert(format!("{} HAS {}", name(link.from_id), name(link.to_id)));
            }
        }
    }
    links
}

fn located(key: &str, host_id: i64, fqdn: &str) -> Entity {
    let mut f = finding(key, host_id, 38_170, true);
    f.set("fqdn", fqdn);
    f
}

/// Returns one host that the finding names by fqdn only, because its host id names no host.
fn lone_host_graph() -> Vec<(&'static str, GraphObject)> {
    vec![
        ("hosts", e(&host("host-000901", 901, "dup.example.test"))),
        ("findings", e(&located("f-903", 903, "dup.example.test"))),
    ]
}

fn first_sync_links() -> BTreeSet<String> {
    let fresh = memory();
    let qualys = instance(&fresh, "acme", InstanceKind::Qualys);
    sync(&fresh, qualys, T0, lone_host_graph(), &all_ok());
    let links = rule_links(&fresh);
    assert_eq!(
        links,
        BTreeSet::from(["host-000901 HAS f-903".to_owned()]),
        "a first sync links the finding to the one host with its fqdn"
    );
    links
}

/// A second host with the same fqdn makes the fqdn join ambiguous, so the finding has
/// no host. When that host is deleted, and it had no rule relationship, the finding
/// must still be decided again.
#[test]
fn deleted_ambiguous_host_redecides_findings() {
    let store = memory();
    let qualys = instance(&store, "acme", InstanceKind::Qualys);
    let mut with_second = lone_host_graph();
    with_second.push(("hosts", e(&host("host-000902", 902, "dup.example.test"))));
    sync(&store, qualys, T0, with_second, &all_ok());
    assert!(rule_links(&store).is_empty(), "two hosts share the fqdn");

    let report = sync(&store, qualys, T0 + DAY_MS, lone_host_graph(), &all_ok());

    assert_eq!(report.entities_deleted, 1);
    assert_eq!(rule_links(&store), first_sync_links());
}

/// The same through removing the instance that stored the second host.
#[test]
fn removed_instance_ambiguous_host_redecides_findings() {
    let store = memory();
    let qualys = instance(&store, "acme", InstanceKind::Qualys);
    sync(&store, qualys, T0, lone_host_graph(), &all_ok());
    let import = instance(&store, "inventory", InstanceKind::Import);
    let mut other = entity("cmdb-host-1", "cmdb_host", &["Host"]);
    other.set("fqdn", "dup.example.test");
    sync(
        &store,
        import,
        T0 + DAY_MS,
        vec![("hosts", e(&other))],
        &all_ok(),
    );
    assert!(rule_links(&store).is_empty(), "two hosts share the fqdn");

    store.remove_instance(import, T0 + 2 * DAY_MS).unwrap();

    assert_eq!(rule_links(&store), first_sync_links());
}

/// The same through a placeholder host that shares the fqdn and goes when its mapped
/// relationship is no longer synced.
#[test]
fn removed_ambiguous_placeholder_redecides_findings() {
    let store = memory();
    let qualys = instance(&store, "acme", InstanceKind::Qualys);
    let target = [
        ("_type", Value::from("discovered_host")),
        ("_class", Value::from("Host")),
        ("qualysQwebHostId", Value::from(999)),
        ("fqdn", Value::from("dup.example.test")),
    ];
    let mapped = scans(&target, &[&["_class", "qualysQwebHostId"]], false);
    let mut with_mapped = lone_host_graph();
    with_mapped.push(("account", e(&service())));
    with_mapped.push(("mapped", m(&mapped)));
    let first = sync(&store, qualys, T0, with_mapped, &all_ok());
    assert_eq!(first.placeholders_created, 1);
    assert!(
        rule_links(&store).is_empty(),
        "the placeholder shares the fqdn"
    );

    let mut without_mapped = lone_host_graph();
    without_mapped.push(("account", e(&service())));
    let second = sync(&store, qualys, T0 + DAY_MS, without_mapped, &all_ok());

    assert_eq!(second.placeholders_deleted, 1);
    assert_eq!(rule_links(&store), first_sync_links());
}

/// The same when the second host keeps its key but moves to another fqdn.
#[test]
fn moved_ambiguous_host_redecides_findings() {
    let store = memory();
    let qualys = instance(&store, "acme", InstanceKind::Qualys);
    let graph = |second_fqdn: &str| {
        let mut graph = lone_host_graph();
        graph.push(("hosts", e(&host("host-000902", 902, second_fqdn))));
        graph
    };
    sync(&store, qualys, T0, graph("dup.example.test"), &all_ok());
    assert!(rule_links(&store).is_empty(), "two hosts share the fqdn");

    let report = sync(
        &store,
        qualys,
        T0 + DAY_MS,
        graph("other.example.test"),
        &all_ok(),
    );

    assert_eq!(report.entities_updated, 1);
    assert_eq!(rule_links(&store), first_sync_links());
}

/// A placeholder host created with the finding's fqdn makes the fqdn join ambiguous,
/// as in a first sync of the same inputs.
#[test]
fn new_placeholder_makes_fqdn_ambiguous() {
    let target = [
        ("_type", Value::from("discovered_host")),
        ("_class", Value::from("Host")),
        ("qualysQwebHostId", Value::from(999)),
        ("fqdn", Value::from("dup.example.test")),
    ];
    let mapped = scans(&target, &[&["_class", "qualysQwebHostId"]], false);
    let mut with_mapped = lone_host_graph();
    with_mapped.push(("account", e(&service())));
    with_mapped.push(("mapped", m(&mapped)));

    let fresh = memory();
    let qualys = instance(&fresh, "acme", InstanceKind::Qualys);
    sync(&fresh, qualys, T0, with_mapped.clone(), &all_ok());
    let expected = rule_links(&fresh);

    let store = memory();
    let qualys = instance(&store, "acme", InstanceKind::Qualys);
    let mut without_mapped = lone_host_graph();
    without_mapped.push(("account", e(&service())));
    sync(&store, qualys, T0, without_mapped, &all_ok());
    assert_eq!(rule_links(&store).len(), 1);
    let report = sync(&store, qualys, T0 + DAY_MS, with_mapped, &all_ok());

    assert_eq!(report.placeholders_created, 1);
    assert_eq!(rule_links(&store), expected);
}

/// SplitMix64, so that a failing sequence reproduces from its seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

/// Returns every entity and relationship of the store as text lines without ids,
/// times or versions, with placeholders named by their properties.
fn snapshot(store: &SqliteStore) -> BTreeSet<String> {
    let instance_name = |id| store.instance(id).unwrap().name;
    let name = |id: i64| {
        let stored = store.entity_by_id(id).unwrap().unwrap();
        if stored.source == "system-mapper" {
            format!("placeholder({:?})", stored.entity.properties)
        } else {
            format!(
                "{}/{}",
                instance_name(stored.instance_id),
                stored.entity.key
            )
        }
    };
    let mut lines = BTreeSet::new();
    for class in ["Host", "Finding", "Service", "Account"] {
        for stored in store.entities_by_class(class, 10_000).unwrap() {
            lines.insert(format!(
                "entity {} {} {:?} {:?}",
                name(stored.id),
                stored.entity.entity_type,
                stored.entity.classes,
                stored.entity.properties
            ));
            for link in store.relationships_of(stored.id).unwrap() {
                let kind = match (link.rule_id, link.mapping_id) {
                    (Some(rule), _) => format!("rule {rule}"),
                    (None, Some(_)) => "mapped".to_owned(),
                    (None, None) => "direct".to_owned(),
                };
                lines.insert(format!(
                    "{kind}: {} {} {}",
                    name(link.from_id),
                    link.relationship.class.as_str(),
                    name(link.to_id)
                ));
            }
        }
    }
    lines
}

/// Returns a host's fqdn: mostly its own, sometimes one that other hosts share, so
/// that some fqdn joins are ambiguous.
fn random_fqdn(rng: &mut Rng, n: i64) -> String {
    if rng.chance(25) {
        format!("h{}.example.test", 1 + rng.below(3))
    } else {
        format!("h{n}.example.test")
    }
}

/// Returns random Qualys inputs: some of six hosts, findings that name a host by id,
/// by EC2 ARN or by fqdn, and SCANS definitions that may create placeholders. Hosts
/// and placeholders sometimes share an fqdn, so some fqdn joins are ambiguous.
fn random_qualys_inputs(rng: &mut Rng) -> Vec<(&'static str, GraphObject)> {
    let mut objects = vec![("account", e(&account())), ("account", e(&service()))];
    objects.push(("account", r(&has(&account(), &service()))));
    for n in 1..=6_i64 {
        if rng.chance(60) {
            let fqdn = random_fqdn(rng, n);
            let mut h = host(&format!("host-{n:06}"), n, &fqdn);
            if rng.chance(30) {
                h.set("os", "linux");
            }
            objects.push(("hosts", e(&h)));
            if rng.chance(15) {
                // The same key twice in one run, with other properties.
                h.set("os", "windows");
                objects.push(("hosts", e(&h)));
            }
        }
    }
    for n in 1..=8_u64 {
        if rng.chance(70) {
            let host_id = i64::try_from(1 + rng.below(9)).unwrap();
            let mut f = finding(&format!("f-{n:03}"), host_id, 38_000, rng.chance(80));
            match rng.below(3) {
                0 => {
                    f.set("fqdn", format!("h{}.example.test", 1 + rng.below(9)));
                }
                1 => {
                    f.set("ec2InstanceArn", format!("arn:aws:ec2:i-{}", rng.below(3)));
                }
                _ => {}
            }
            objects.push(("findings", e(&f)));
            if rng.chance(50) {
                objects.push(("findings", r(&identified(&service(), &f))));
            }
        }
    }
    for n in 7..=9_i64 {
        if rng.chance(40) {
            let target = [
                ("_type", Value::from("discovered_host")),
                ("_class", Value::from("Host")),
                ("qualysQwebHostId", Value::from(n)),
                ("fqdn", Value::from(random_fqdn(rng, n))),
            ];
            let mapped = scans(&target, &[&["_class", "qualysQwebHostId"]], false);
            objects.push(("mapped", m(&mapped)));
        }
    }
    objects
}

/// Returns random inputs of an import: EC2 instances keyed by ARN, some with an fqdn
/// that Qualys hosts may share.
fn random_import_inputs(rng: &mut Rng) -> Vec<(&'static str, GraphObject)> {
    let mut objects = Vec::new();
    for n in 0..3 {
        if rng.chance(50) {
            let mut ec2 = entity(&format!("arn:aws:ec2:i-{n}"), "aws_instance", &["Host"]);
            if rng.chance(40) {
                ec2.set("fqdn", format!("h{}.example.test", 1 + rng.below(3)));
            }
            objects.push(("hosts", e(&ec2)));
        }
    }
    objects
}

/// Random sequences of syncs of two instances and instance removals end in the graph
/// that one first sync of the last inputs builds.
#[test]
fn random_sequences_match_first_sync() {
    let mut failures = Vec::new();
    for seed in 0..150_u64 {
        let mut rng = Rng(seed);
        let store = memory();
        let qualys = instance(&store, "acme", InstanceKind::Qualys);
        let mut import = Some(instance(&store, "inventory", InstanceKind::Import));
        let mut last_qualys = Vec::new();
        // The `findings` step declares its types partial, so its objects stay until
        // they are synced again. The latest version of each key is kept here.
        let mut partial: std::collections::BTreeMap<String, (&str, GraphObject)> =
            std::collections::BTreeMap::new();
        let mut last_import = Vec::new();
        let mut day = 0;
        for _ in 0..4 {
            day += 1;
            let now = T0 + day * DAY_MS;
            match (rng.below(5), import) {
                (0, Some(id)) => {
                    last_import = random_import_inputs(&mut rng);
                    sync(&store, id, now, last_import.clone(), &all_ok());
                }
                (1, Some(id)) if rng.chance(40) => {
                    store.remove_instance(id, now).unwrap();
                    import = None;
                    last_import.clear();
                }
                _ => {
                    let inputs = random_qualys_inputs(&mut rng);
                    sync(&store, qualys, now, inputs.clone(), &all_ok());
                    last_qualys.clear();
                    for (step, object) in inputs {
                        if step == "findings" {
                            partial.insert(object.key().to_owned(), (step, object));
                        } else {
                            last_qualys.push((step, object));
                        }
                    }
                }
            }
        }

        let fresh = memory();
        let fresh_qualys = instance(&fresh, "acme", InstanceKind::Qualys);
        let fresh_import = instance(&fresh, "inventory", InstanceKind::Import);
        sync(&fresh, fresh_import, T0, last_import, &all_ok());
        last_qualys.extend(partial.into_values());
        sync(&fresh, fresh_qualys, T0, last_qualys, &all_ok());

        let (got, expected) = (snapshot(&store), snapshot(&fresh));
        if got != expected && failures.len() < 4 {
            let missing: Vec<_> = expected.difference(&got).collect();
            let extra: Vec<_> = got.difference(&expected).collect();
            failures.push(format!(
                "seed {seed}:\n  missing {missing:#?}\n  extra {extra:#?}"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
