//! The conformance cases. Each takes a fresh, empty store.

use qgraph_model::{GraphSink, RunStatus, StepStatus, Value};
use qgraph_store::{
    FindingLifecycle, GraphStore, InstanceKind, JobStatus, KbEntry, MAPPER_INSTANCE, NewInstance,
    Password, StoreError, SyncOptions, SyncRun, import_graph,
};

use super::fixtures::*;

/// Creates on the first run, updates with a version bump on the second,
/// deletes what the second run no longer emits.
pub fn create_update_delete<S: GraphStore>(store: &S) {
    let qualys = instance(store, "acme", InstanceKind::Qualys);
    let first = sync(store, qualys, T0, base_graph(), &all_ok());
    assert_eq!(first.entities_created, 6);
    assert_eq!(first.relationships_created, 3);
    assert_eq!(first.status, Some(RunStatus::Success));

    let mut graph = base_graph();
    graph.retain(|(_, o)| o.key() != "host-000002");
    let mut changed = host("host-000001", 1, "web1-renamed.example.test");
    changed.set("os", "Linux");
    graph.retain(|(_, o)| o.key() != "host-000001");
    graph.push(("hosts", e(&changed)));
    let second = sync(store, qualys, T0 + DAY_MS, graph, &all_ok());

    assert_eq!(second.entities_created, 0);
    assert_eq!(second.entities_updated, 1);
    assert_eq!(second.entities_deleted, 1);
    let stored = store.entity(qualys, "host-000001").unwrap().unwrap();
    assert_eq!(stored.version, 2);
    assert_eq!(stored.created_on, T0);
    assert_eq!(stored.updated_on, T0 + DAY_MS);
    assert_eq!(stored.source, "integration-managed");
    assert_eq!(
        stored.entity.get("fqdn"),
        Some(Value::from("web1-renamed.example.test"))
    );
    assert_eq!(stored.entity.get("os"), Some(Value::from("Linux")));
    assert!(store.entity(qualys, "host-000002").unwrap().is_none());

    let unchanged = store.entity(qualys, "qualys-account-1").unwrap().unwrap();
    assert_eq!(unchanged.version, 1);
    assert_eq!(unchanged.updated_on, T0);
    assert_eq!(unchanged.entity.display_name.as_deref(), Some("Qualys"));
}

/// Checks that the rows a run created last (the highest ids) are deleted like
/// any other when the next run leaves them out, also while that run creates rows.
pub fn newest_rows_left_out_are_deleted<S: GraphStore>(store: &S) {
    let qualys = instance(store, "acme", InstanceKind::Qualys);
    let a = host("host-a", 1, "a.example.test");
    let b = host("host-b", 2, "b.example.test");
    let c = host("host-c", 3, "c.example.test");
    let d = host("host-d", 4, "d.example.test");
    let first = sync(
        store,
        qualys,
        T0,
        vec![
            ("hosts", e(&a)),
            ("hosts", e(&b)),
            ("hosts", e(&c)),
            ("hosts", r(&has(&a, &b))),
            ("hosts", r(&has(&a, &c))),
        ],
        &all_ok(),
    );
    assert_eq!(
        (first.entities_created, first.relationships_created),
        (3, 2)
    );

    // `host-a|has|host-c` sorts last, so it was created last.
    let second = sync(
        store,
        qualys,
        T0 + DAY_MS,
        vec![
            ("hosts", e(&a)),
            ("hosts", e(&b)),
            ("hosts", e(&c)),
            ("hosts", r(&has(&a, &b))),
        ],
        &all_ok(),
    );
    assert_eq!(second.relationships_deleted, 1);
    assert_eq!(second.entities_deleted, 0);
    assert_eq!(
        relationship_count_of(store, &has(&a, &b).relationship_type),
        1
    );

    // `host-c` sorts last among the hosts, so it has the highest id.
    let third = sync(
        store,
        qualys,
        T0 + 2 * DAY_MS,
        vec![
            ("hosts", e(&a)),
            ("hosts", e(&b)),
            ("hosts", e(&d)),
            ("hosts", r(&has(&a, &b))),
        ],
        &all_ok(),
    );
    assert_eq!((third.entities_created, third.entities_deleted), (1, 1));
    assert!(store.entity(qualys, "host-c").unwrap().is_none());
    assert!(store.entity(qualys, "host-d").unwrap().is_some());
    assert_eq!(count_of(store, "discovered_host"), 3);
}

/// A second run with the same objects changes no row.
pub fn unchanged_resync_is_noop<S: GraphStore>(store: &S) {
    let qualys = instance(store, "acme", InstanceKind::Qualys);
    sync(store, qualys, T0, base_graph(), &all_ok());
    let again = sync(store, qualys, T0 + DAY_MS, base_graph(), &all_ok());
    assert_no_changes(&again);
    assert_eq!(again.duplicate_keys, 0);
    for key in ["qualys-account-1", "host-000001", "finding-0001"] {
        let stored = store.entity(qualys, key).unwrap().unwrap();
        assert_eq!(stored.version, 1, "{key}");
        assert_eq!(stored.updated_on, T0, "{key}");
    }
}

/// A failed step's types are partial: nothing of them is deleted, and the
/// run and its job are recorded as partial with the step's error code.
pub fn failed_step_keeps_its_types<S: GraphStore>(store: &S) {
    let qualys = instance(store, "acme", InstanceKind::Qualys);
    sync(store, qualys, T0, base_graph(), &all_ok());

    let graph: Vec<_> = base_graph()
        .into_iter()
        .filter(|(step, _)| *step != "hosts")
        .collect();
    let mut results = all_ok();
    results[1] = result("hosts", StepStatus::Failure);
    let report = sync(store, qualys, T0 + DAY_MS, graph, &results);

    assert_eq!(report.status, Some(RunStatus::PartialSuccess));
    assert_eq!(report.entities_deleted, 0);
    assert!(report.partial_types.contains(&"discovered_host".to_owned()));
    assert_eq!(count_of(store, "discovered_host"), 2);

    let jobs = store.jobs(qualys, 10).unwrap();
    assert_eq!(jobs.len(), 2);
    assert_eq!(jobs[0].status, JobStatus::PartialSuccess);
    assert_eq!(jobs[1].status, JobStatus::Success);
    let hosts_step = jobs[0].steps.iter().find(|s| s.step_id == "hosts").unwrap();
    assert_eq!(hosts_step.status, StepStatus::Failure);
    assert_eq!(hosts_step.errors[0].code.as_deref(), Some("1965"));
    assert_eq!(jobs[0].report.as_ref().unwrap().entities_deleted, 0);
}

/// Every step failing makes the run a failure; still nothing is deleted.
pub fn all_steps_failed_is_failure<S: GraphStore>(store: &S) {
    let qualys = instance(store, "acme", InstanceKind::Qualys);
    sync(store, qualys, T0, base_graph(), &all_ok());
    let results: Vec<_> = steps()
        .iter()
        .map(|s| result(&s.id, StepStatus::Failure))
        .collect();
    let report = sync(store, qualys, T0 + DAY_MS, Vec::new(), &results);
    assert_eq!(report.status, Some(RunStatus::Failure));
    assert_eq!(report.entities_deleted, 0);
    assert_eq!(report.relationships_deleted, 0);
    assert_eq!(count_of(store, "qualys_account"), 1);
}

/// Findings: kept when missing from a window, `open = false` when fixed,
/// deleted when their host is no longer listed or after the retention.
pub fn finding_lifecycle<S: GraphStore>(store: &S) {
    let qualys = instance(store, "acme", InstanceKind::Qualys);
    let mut graph = base_graph();
    let f3 = finding("finding-0003", 2, 38172, true);
    graph.push(("findings", e(&f3)));
    // A web-app finding names a web app, not a host: the host list must not
    // retire it.
    let mut web_finding = entity("web-finding-0001", "qualys_web_app_finding", &["Finding"]);
    web_finding
        .set("webAppId", 77)
        .set("qid", 150_001)
        .set("open", true);
    graph.push(("findings", e(&web_finding)));
    sync(store, qualys, T0, graph, &all_ok());

    // The next window returns only finding-0001, now fixed.
    let mut graph: Vec<_> = base_graph()
        .into_iter()
        .filter(|(step, _)| *step != "findings")
        .collect();
    graph.push(("findings", e(&finding("finding-0001", 1, 38170, false))));
    let report = sync(store, qualys, T0 + DAY_MS, graph.clone(), &all_ok());
    assert_eq!(report.entities_deleted, 0);
    assert_eq!(report.entities_updated, 1);
    let fixed = store.entity(qualys, "finding-0001").unwrap().unwrap();
    assert_eq!(fixed.entity.get("open"), Some(Value::Bool(false)));
    assert_eq!(fixed.version, 2);
    assert_eq!(count_of(store, "qualys_host_finding"), 3);
    assert_eq!(
        relationship_count_of(
            store,
            "qualys_vulnerability_manager_identified_host_finding"
        ),
        2
    );

    // Qualys now lists only host 1: findings of host 2 go.
    let report = sync_with(
        store,
        qualys,
        SyncOptions::at(T0 + 2 * DAY_MS),
        graph.clone(),
        &all_ok(),
        |run| {
            run.add_listed_hosts(&["1".to_owned()]).unwrap();
            run.set_host_list_complete();
        },
    );
    assert_eq!(report.findings_retired, 1);
    assert!(store.entity(qualys, "finding-0003").unwrap().is_none());
    assert!(store.entity(qualys, "finding-0002").unwrap().is_some());
    assert!(store.entity(qualys, "web-finding-0001").unwrap().is_some());

    // A host list that was not complete deletes nothing.
    let report = sync_with(
        store,
        qualys,
        SyncOptions::at(T0 + 3 * DAY_MS),
        graph.clone(),
        &all_ok(),
        |run| run.add_listed_hosts(&["2".to_owned()]).unwrap(),
    );
    assert_eq!(report.findings_retired, 0);

    // After 30 days of retention, findings not seen again go, web-app
    // findings included; the one in this window stays.
    let options = SyncOptions {
        now_ms: T0 + 40 * DAY_MS,
        findings: FindingLifecycle {
            retention_days: Some(30),
            ..FindingLifecycle::default()
        },
    };
    graph.retain(|(_, o)| o.key() != "finding-0001");
    graph.push(("findings", e(&finding("finding-0002", 1, 38171, true))));
    let report = sync_with(store, qualys, options, graph, &all_ok(), |_| {});
    assert_eq!(report.findings_retired, 2);
    assert!(store.entity(qualys, "finding-0001").unwrap().is_none());
    assert!(store.entity(qualys, "web-finding-0001").unwrap().is_none());
    assert!(store.entity(qualys, "finding-0002").unwrap().is_some());
}

/// A key emitted twice in one run (even in separate batches) is merged and
/// counted, never fatal.
pub fn duplicate_keys_are_merged<S: GraphStore>(store: &S) {
    let qualys = instance(store, "acme", InstanceKind::Qualys);
    let mut first = host("host-000001", 1, "web1.example.test");
    first.set("os", "Linux");
    let mut second = host("host-000001", 1, "web1.example.test");
    second.classes.push("Device".to_owned());
    second.set("os", "Ubuntu").set("ip", "10.0.0.1");

    let mut relationship_a = has(&account(), &service());
    relationship_a
        .properties
        .insert("a".to_owned(), Value::Int(1));
    let mut relationship_b = has(&account(), &service());
    relationship_b
        .properties
        .insert("b".to_owned(), Value::Int(2));

    let mut run = store.begin_sync(qualys, SyncOptions::at(T0)).unwrap();
    run.write(
        "account",
        vec![e(&account()), e(&service()), r(&relationship_a)],
    )
    .unwrap();
    run.write("hosts", vec![e(&first)]).unwrap();
    run.write("hosts", vec![e(&second), r(&relationship_b), e(&account())])
        .unwrap();
    let report = run.commit(&steps(), &all_ok()).unwrap();

    assert_eq!(report.duplicate_keys, 3);
    assert_eq!(report.entities_created, 3);
    let merged = store.entity(qualys, "host-000001").unwrap().unwrap().entity;
    assert_eq!(merged.classes, vec!["Host".to_owned(), "Device".to_owned()]);
    assert_eq!(merged.get("os"), Some(Value::from("Ubuntu")));
    assert_eq!(merged.get("ip"), Some(Value::from("10.0.0.1")));
    assert_eq!(store.entities_by_class("Device", 10).unwrap().len(), 1);

    let account_id = store
        .entity(qualys, "qualys-account-1")
        .unwrap()
        .unwrap()
        .id;
    let relationships = store.relationships_of(account_id).unwrap();
    assert_eq!(relationships.len(), 1);
    let properties = &relationships[0].relationship.properties;
    assert_eq!(properties.get("a"), Some(&Value::Int(1)));
    assert_eq!(properties.get("b"), Some(&Value::Int(2)));

    // The same run again merges the same way, so nothing changes.
    let mut run = store
        .begin_sync(qualys, SyncOptions::at(T0 + DAY_MS))
        .unwrap();
    run.write(
        "account",
        vec![e(&account()), e(&service()), r(&relationship_a)],
    )
    .unwrap();
    run.write("hosts", vec![e(&first)]).unwrap();
    run.write("hosts", vec![e(&second), r(&relationship_b), e(&account())])
        .unwrap();
    let again = run.commit(&steps(), &all_ok()).unwrap();
    assert_no_changes(&again);
}

/// A relationship whose endpoint is not an entity of the instance is
/// skipped and counted.
pub fn dangling_relationship_is_counted<S: GraphStore>(store: &S) {
    let qualys = instance(store, "acme", InstanceKind::Qualys);
    let missing = finding("finding-9999", 1, 1, true);
    let mut graph = base_graph();
    graph.push(("findings", r(&identified(&service(), &missing))));
    let report = sync(store, qualys, T0, graph, &all_ok());
    assert_eq!(report.dangling_relationships, 1);
    assert_eq!(report.relationships_created, 3);
}

fn aws_target(arn: &str) -> Vec<(&'static str, Value)> {
    vec![
        ("_type", Value::from("aws_instance")),
        ("_key", Value::from(arn)),
        ("_class", Value::from(vec!["Host"])),
        ("displayName", Value::from("i-0abc")),
    ]
}

const ARN: &str = "arn:aws:ec2:us-east-1:012345678901:instance/i-0abc";

/// The mapper creates one placeholder when nothing matches, adopts a real
/// entity when one appears, removes the unused placeholder and is idempotent.
pub fn mapper_placeholders<S: GraphStore>(store: &S) {
    let qualys = instance(store, "acme", InstanceKind::Qualys);
    let mapped = scans(&aws_target(ARN), &[&["_type", "_key"]], false);
    let mut graph = base_graph();
    graph.push(("mapped", m(&mapped)));
    let report = sync(store, qualys, T0, graph.clone(), &all_ok());
    assert_eq!(report.placeholders_created, 1);
    assert_eq!(report.mapper_relationships_created, 1);

    let placeholder = store.entity(MAPPER_INSTANCE, ARN).unwrap().unwrap();
    assert_eq!(placeholder.source, "system-mapper");
    assert_eq!(placeholder.entity.entity_type, "aws_instance");
    assert_eq!(placeholder.entity.classes, vec!["Host".to_owned()]);
    assert_eq!(placeholder.entity.display_name.as_deref(), Some("i-0abc"));
    let links = store.relationships_of(placeholder.id).unwrap();
    assert_eq!(links.len(), 1);
    assert_eq!(links[0].relationship.class.as_str(), "SCANS");
    assert_eq!(links[0].relationship.from_key, service().key);
    assert_eq!(links[0].instance_id, qualys);
    assert_eq!(links[0].source, "system-mapper");

    // Idempotent: the same run again changes nothing.
    let again = sync(store, qualys, T0 + DAY_MS, graph.clone(), &all_ok());
    assert_no_changes(&again);

    // An AWS inventory arrives with the real instance: it is adopted.
    let aws = instance(store, "aws-inventory", InstanceKind::Import);
    let real = entity(ARN, "aws_instance", &["Host"]);
    let import_report = sync(
        store,
        aws,
        T0 + 2 * DAY_MS,
        vec![("hosts", e(&real))],
        &all_ok(),
    );
    assert_eq!(import_report.placeholders_deleted, 1);
    assert!(store.entity(MAPPER_INSTANCE, ARN).unwrap().is_none());
    let real_id = store.entity(aws, ARN).unwrap().unwrap().id;
    let links = store.relationships_of(real_id).unwrap();
    assert_eq!(links.len(), 1);
    assert_eq!(links[0].relationship.key, mapped.key);

    // The definition disappears: its relationship goes, no placeholder returns.
    let graph_without: Vec<_> = graph
        .into_iter()
        .filter(|(step, _)| *step != "mapped")
        .collect();
    let report = sync(store, qualys, T0 + 3 * DAY_MS, graph_without, &all_ok());
    assert_eq!(report.mapped_deleted, 1);
    assert!(store.relationships_of(real_id).unwrap().is_empty());
    assert!(store.entity(MAPPER_INSTANCE, ARN).unwrap().is_none());
}

/// Alternative key sets are tried in order; `skipTargetCreation` makes no
/// placeholder; several matches all get a relationship.
pub fn mapper_alternatives_and_skip<S: GraphStore>(store: &S) {
    let qualys = instance(store, "acme", InstanceKind::Qualys);
    let by_host_id = scans(
        &[
            ("_type", Value::from("discovered_host")),
            ("_class", Value::from("Host")),
            ("qualysQwebHostId", Value::Int(2)),
            ("fqdn", Value::from("nowhere.example.test")),
        ],
        &[&["_type", "fqdn"], &["_class", "qualysQwebHostId"]],
        false,
    );
    let azure = scans(
        &[
            ("_type", Value::from("azure_vm")),
            ("_key", Value::from("/subscriptions/1/vm/none")),
        ],
        &[&["_type", "_key"]],
        true,
    );
    let mut graph = base_graph();
    graph.push(("mapped", m(&by_host_id)));
    graph.push(("mapped", m(&azure)));
    let report = sync(store, qualys, T0, graph, &all_ok());

    assert_eq!(report.placeholders_created, 0);
    assert_eq!(report.mapper_relationships_created, 1);
    let host_id = store.entity(qualys, "host-000002").unwrap().unwrap().id;
    let links = store.relationships_of(host_id).unwrap();
    assert_eq!(links.len(), 1);
    assert_eq!(links[0].relationship.class.as_str(), "SCANS");
    assert!(store.entities_by_type("azure_vm", 10).unwrap().is_empty());
    assert_eq!(
        report.mapped_without_target, 1,
        "the Azure VM is not stored"
    );

    // Two entities with the same fqdn in another instance both match.
    let other = instance(store, "cmdb", InstanceKind::Import);
    let mut a = entity("cmdb-host-a", "cmdb_host", &["Host"]);
    a.set("fqdn", "shared.example.test");
    let mut b = entity("cmdb-host-b", "cmdb_host", &["Host"]);
    b.set("fqdn", "shared.example.test");
    sync(
        store,
        other,
        T0,
        vec![("hosts", e(&a)), ("hosts", e(&b))],
        &all_ok(),
    );
    let shared = scans(
        &[
            ("_class", Value::from("Host")),
            ("fqdn", Value::from("shared.example.test")),
        ],
        &[&["_class", "fqdn"]],
        false,
    );
    let mut graph = base_graph();
    graph.push(("mapped", m(&shared)));
    let report = sync(store, qualys, T0 + DAY_MS, graph, &all_ok());
    assert_eq!(report.mapper_relationships_created, 2);
    assert_eq!(report.placeholders_created, 0);
    assert_eq!(report.mapped_without_target, 0);
}

/// Global rules: ThreatIntel HAS Finding by `qid`, Host HAS Finding by the
/// Qualys host id or fqdn; a changed join value moves the relationship.
pub fn global_rules<S: GraphStore>(store: &S) {
    let qualys = instance(store, "acme", InstanceKind::Qualys);
    let intel_source = instance(store, "intel", InstanceKind::Import);
    let mut intel = entity("intel-38170", "threat_intel_item", &["ThreatIntel"]);
    intel.set("qid", 38170);
    sync(
        store,
        intel_source,
        T0,
        vec![("hosts", e(&intel))],
        &all_ok(),
    );

    sync(store, qualys, T0, base_graph(), &all_ok());
    let host1 = store.entity(qualys, "host-000001").unwrap().unwrap().id;
    let finding1 = store.entity(qualys, "finding-0001").unwrap().unwrap().id;
    let intel_id = store
        .entity(intel_source, "intel-38170")
        .unwrap()
        .unwrap()
        .id;

    let intel_links = store.relationships_of(intel_id).unwrap();
    assert_eq!(intel_links.len(), 1);
    assert_eq!(intel_links[0].to_id, finding1);
    assert_eq!(intel_links[0].relationship.class.as_str(), "HAS");
    assert_eq!(intel_links[0].instance_id, MAPPER_INSTANCE);

    let host_links: Vec<_> = store
        .relationships_of(host1)
        .unwrap()
        .into_iter()
        .filter(|l| l.rule_id.is_some())
        .collect();
    assert_eq!(host_links.len(), 2, "host 1 has both findings");
    assert!(host_links.iter().all(|l| l.from_id == host1));
    assert_eq!(
        host_links[0].relationship.relationship_type,
        "discovered_host_has_qualys_host_finding"
    );

    // Unchanged re-sync: the rules write nothing.
    let again = sync(store, qualys, T0 + DAY_MS, base_graph(), &all_ok());
    assert_no_changes(&again);

    // finding-0002 moves to host 2, joined by fqdn this time.
    let mut graph = base_graph();
    graph.retain(|(_, o)| o.key() != "finding-0002");
    let mut moved = finding("finding-0002", 99, 38171, true);
    moved.set("fqdn", "web2.example.test");
    graph.push(("findings", e(&moved)));
    let report = sync(store, qualys, T0 + 2 * DAY_MS, graph, &all_ok());
    assert_eq!(report.rule_relationships_deleted, 1);
    assert_eq!(report.rule_relationships_created, 1);
    let host2 = store.entity(qualys, "host-000002").unwrap().unwrap().id;
    let finding2 = store.entity(qualys, "finding-0002").unwrap().unwrap().id;
    let host2_links = store.relationships_of(host2).unwrap();
    assert_eq!(host2_links.len(), 1);
    assert_eq!(host2_links[0].to_id, finding2);
}

/// Checks that the Host HAS Finding rule tries its joins in order for each
/// finding. A host id match wins over hosts that share the finding's
/// `fqdn`, and a later join counts only when it names exactly one host.
pub fn host_rule_prefers_host_id_over_shared_fqdn<S: GraphStore>(store: &S) {
    let qualys = instance(store, "acme", InstanceKind::Qualys);
    let located = |key: &str, host_id: i64, fqdn: &str| {
        let mut f = finding(key, host_id, 38_170, true);
        f.set("fqdn", fqdn);
        f
    };
    let graph = |f903_host: i64, host_901_os: &str| {
        let mut h901 = host("host-000901", 901, "dup.example.test");
        h901.set("os", host_901_os);
        vec![
            ("hosts", e(&h901)),
            ("hosts", e(&host("host-000902", 902, "dup.example.test"))),
            ("hosts", e(&host("host-000905", 905, "solo.example.test"))),
            ("findings", e(&located("f-901", 901, "dup.example.test"))),
            ("findings", e(&located("f-902", 902, "dup.example.test"))),
            (
                "findings",
                e(&located("f-903", f903_host, "dup.example.test")),
            ),
            ("findings", e(&located("f-904", 904, "solo.example.test"))),
        ]
    };
    let links = || -> Vec<(String, String)> {
        let mut links = Vec::new();
        for host_key in ["host-000901", "host-000902", "host-000905"] {
            let host_id = store.entity(qualys, host_key).unwrap().unwrap().id;
            for link in store.relationships_of(host_id).unwrap() {
                if link.rule_id.is_some() && link.from_id == host_id {
                    let to = store.entity_by_id(link.to_id).unwrap().unwrap();
                    links.push((host_key.to_owned(), to.entity.key.clone()));
                }
            }
        }
        links.sort();
        links
    };
    let expected = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(h, f)| ((*h).to_owned(), (*f).to_owned()))
            .collect()
    };

    sync(store, qualys, T0, graph(903, "Linux"), &all_ok());
    assert_eq!(
        links(),
        expected(&[
            ("host-000901", "f-901"),
            ("host-000902", "f-902"),
            ("host-000905", "f-904"),
        ]),
        "f-903 has no host of its id and two hosts share its fqdn"
    );

    // A changed host re-decides its findings the same way: nothing moves.
    let report = sync(store, qualys, T0 + DAY_MS, graph(903, "Ubuntu"), &all_ok());
    assert_eq!(report.entities_updated, 1);
    assert_eq!(report.rule_relationships_created, 0);
    assert_eq!(report.rule_relationships_deleted, 0);

    // f-903 now names host 902 by id.
    let report = sync(
        store,
        qualys,
        T0 + 2 * DAY_MS,
        graph(902, "Ubuntu"),
        &all_ok(),
    );
    assert_eq!(report.rule_relationships_created, 1);
    assert_eq!(report.rule_relationships_deleted, 0);
    assert_eq!(
        links(),
        expected(&[
            ("host-000901", "f-901"),
            ("host-000902", "f-902"),
            ("host-000902", "f-903"),
            ("host-000905", "f-904"),
        ])
    );

    // Host 902 leaves Qualys: its findings fall back to the one host left
    // with their fqdn, as a first sync of this graph would decide.
    let mut without_902 = graph(902, "Ubuntu");
    without_902.retain(|(_, o)| o.key() != "host-000902");
    let report = sync(store, qualys, T0 + 3 * DAY_MS, without_902, &all_ok());
    assert_eq!(report.entities_deleted, 1);
    let host_901 = store.entity(qualys, "host-000901").unwrap().unwrap().id;
    let mut linked: Vec<String> = store
        .relationships_of(host_901)
        .unwrap()
        .into_iter()
        .filter(|l| l.rule_id.is_some() && l.from_id == host_901)
        .map(|l| store.entity_by_id(l.to_id).unwrap().unwrap().entity.key)
        .collect();
    linked.sort();
    assert_eq!(linked, vec!["f-901", "f-902", "f-903"]);
}

/// Checks that the findings of a placeholder host are decided again when the
/// placeholder goes, so they move to the one host left with their `fqdn`.
pub fn removed_placeholder_findings_are_redecided<S: GraphStore>(store: &S) {
    let qualys = instance(store, "acme", InstanceKind::Qualys);
    let target = [
        ("_type", Value::from("discovered_host")),
        ("_class", Value::from("Host")),
        ("qualysQwebHostId", Value::from(907)),
        ("fqdn", Value::from("moved.example.test")),
    ];
    let mapped = scans(&target, &[&["_class", "qualysQwebHostId"]], false);
    let mut f907 = finding("f-907", 907, 38_170, true);
    f907.set("fqdn", "moved.example.test");
    let graph = vec![
        ("account", e(&service())),
        ("hosts", e(&host("host-000918", 918, "moved.example.test"))),
        ("findings", e(&f907)),
    ];
    let hosts_of_finding = || rule_hosts_of(store, qualys, "f-907");

    let mut with_mapped = graph.clone();
    with_mapped.push(("mapped", m(&mapped)));
    let first = sync(store, qualys, T0, with_mapped, &all_ok());
    assert_eq!(first.placeholders_created, 1);
    let placeholder_key = store
        .relationships_of(store.entity(qualys, &service().key).unwrap().unwrap().id)
        .unwrap()
        .into_iter()
        .find(|l| l.mapping_id.is_some())
        .map(|l| store.entity_by_id(l.to_id).unwrap().unwrap().entity.key)
        .unwrap();
    assert_eq!(
        hosts_of_finding(),
        vec![placeholder_key],
        "the host id names the placeholder, which wins over the fqdn"
    );

    let second = sync(store, qualys, T0 + DAY_MS, graph, &all_ok());
    assert_eq!(second.placeholders_deleted, 1);
    assert_eq!(second.entities_updated, 0);
    assert_eq!(hosts_of_finding(), vec!["host-000918".to_owned()]);
}

/// Checks that removing an instance decides the findings of its hosts
/// again: a finding linked to an imported EC2 instance by its ARN moves to
/// the one host left with its `fqdn`.
pub fn removed_instance_findings_are_redecided<S: GraphStore>(store: &S) {
    let qualys = instance(store, "acme", InstanceKind::Qualys);
    let mut f930 = finding("f-930", 930, 38_170, true);
    f930.set("ec2InstanceArn", ARN)
        .set("fqdn", "shared.example.test");
    let graph = vec![
        ("hosts", e(&host("host-000931", 931, "shared.example.test"))),
        ("findings", e(&f930)),
    ];
    let hosts_of_finding = || rule_hosts_of(store, qualys, "f-930");

    sync(store, qualys, T0, graph, &all_ok());
    assert_eq!(hosts_of_finding(), vec!["host-000931".to_owned()]);

    let aws = instance(store, "aws-inventory", InstanceKind::Import);
    let ec2 = entity(ARN, "aws_instance", &["Host"]);
    sync(store, aws, T0 + DAY_MS, vec![("hosts", e(&ec2))], &all_ok());
    assert_eq!(
        hosts_of_finding(),
        vec![ARN.to_owned()],
        "the ARN join comes before the fqdn join"
    );

    store.remove_instance(aws, T0 + 2 * DAY_MS).unwrap();
    assert_eq!(hosts_of_finding(), vec!["host-000931".to_owned()]);
}

fn write_file(path: &std::path::Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

/// JupiterOne graph files import as their own instance and join Qualys data
/// through the mapper; a second import replaces the first.
pub fn import_joins_through_mapper<S: GraphStore>(store: &S, scratch: &std::path::Path) {
    let qualys = instance(store, "acme", InstanceKind::Qualys);
    let mut graph = base_graph();
    graph.push((
        "mapped",
        m(&scans(&aws_target(ARN), &[&["_type", "_key"]], false)),
    ));
    sync(store, qualys, T0, graph, &all_ok());

    let root = scratch.join(".j1-integration");
    write_file(
        &root.join("graph/fetch-instances/entities/a.json"),
        &format!(
            r#"{{"entities":[{{"_key":"{ARN}","_type":"aws_instance","_class":"Host","displayName":"web","state":"running"}},
               {{"_key":"arn:aws:ec2:us-east-1:012345678901:vpc/vpc-1","_type":"aws_vpc","_class":["Network"]}}]}}"#
        ),
    );
    write_file(
        &root.join("graph/fetch-instances/relationships/b.json"),
        &format!(
            r#"{{"relationships":[{{"_key":"vpc-has-i","_type":"aws_vpc_has_instance","_class":"HAS",
               "_fromEntityKey":"arn:aws:ec2:us-east-1:012345678901:vpc/vpc-1","_toEntityKey":"{ARN}"}}]}}"#
        ),
    );
    write_file(
        &root.join("summary.json"),
        r#"{"metadata":{"partialDatasets":{"types":["aws_vpc"]}}}"#,
    );

    let aws = instance(store, "aws", InstanceKind::Import);
    let report = import_graph(store, aws, &root, SyncOptions::at(T0 + DAY_MS)).unwrap();
    assert_eq!(report.entities_created, 2);
    assert_eq!(report.relationships_created, 1);
    assert_eq!(report.placeholders_deleted, 1);

    let imported = store.entity(aws, ARN).unwrap().unwrap();
    assert_eq!(imported.source, "integration-external");
    assert_eq!(imported.step_id.as_deref(), Some("fetch-instances"));
    assert_eq!(imported.entity.get("state"), Some(Value::from("running")));
    let links = store.relationships_of(imported.id).unwrap();
    assert_eq!(links.len(), 2, "SCANS from Qualys and HAS from the VPC");

    // The next import lacks the instance but the VPC type is partial.
    std::fs::remove_file(root.join("graph/fetch-instances/relationships/b.json")).unwrap();
    write_file(
        &root.join("graph/fetch-instances/entities/a.json"),
        r#"{"entities":[]}"#,
    );
    let report = import_graph(store, aws, &root, SyncOptions::at(T0 + 2 * DAY_MS)).unwrap();
    assert_eq!(report.entities_deleted, 1);
    assert_eq!(count_of(store, "aws_vpc"), 1);
    assert_eq!(
        report.placeholders_created, 1,
        "Qualys SCANS falls back to a placeholder"
    );

    // A malformed file is an error that names it, and changes nothing.
    write_file(
        &root.join("graph/fetch-instances/entities/c.json"),
        r#"{"entities":[{"_type":"x"}]}"#,
    );
    let error = import_graph(store, aws, &root, SyncOptions::at(T0 + 3 * DAY_MS)).unwrap_err();
    assert!(error.to_string().contains("c.json"), "{error}");
    assert_eq!(count_of(store, "aws_vpc"), 1);
}

/// Removing an instance deletes its configuration, credentials, jobs and
/// graph, and nothing else.
pub fn uninstall_removes_only_its_own<S: GraphStore>(store: &S) {
    let qualys = store
        .create_instance(NewInstance {
            name: "acme".to_owned(),
            kind: InstanceKind::Qualys,
            config: serde_json::json!({"apiUrl": "https://qualysapi.example.test"}),
            password: Some(Password::new("hunter2")),
        })
        .unwrap()
        .id;
    let aws = instance(store, "aws", InstanceKind::Import);
    let mut graph = base_graph();
    graph.push((
        "mapped",
        m(&scans(&aws_target(ARN), &[&["_type", "_key"]], false)),
    ));
    sync(store, qualys, T0, graph, &all_ok());
    let mut aws_host = entity(ARN, "aws_instance", &["Host"]);
    aws_host.set("fqdn", "web1.example.test");
    sync(store, aws, T0, vec![("hosts", e(&aws_host))], &all_ok());
    assert!(store.entity(MAPPER_INSTANCE, ARN).unwrap().is_none());

    // Removing the AWS instance brings the placeholder back for Qualys.
    let removed = store.remove_instance(aws, T0 + DAY_MS).unwrap();
    assert_eq!(removed.entities_deleted, 1);
    assert_eq!(removed.jobs_deleted, 1);
    assert!(store.entity(MAPPER_INSTANCE, ARN).unwrap().is_some());
    assert_eq!(count_of(store, "qualys_host_finding"), 2);
    assert!(matches!(
        store.instance(aws),
        Err(StoreError::InstanceNotFound(_))
    ));

    // Removing Qualys leaves an empty graph: its placeholder goes too.
    let removed = store.remove_instance(qualys, T0 + DAY_MS).unwrap();
    assert_eq!(removed.entities_deleted, 6);
    assert!(store.count_entities_by_type().unwrap().is_empty());
    assert!(store.count_relationships_by_type().unwrap().is_empty());
    assert!(store.list_instances().unwrap().is_empty());
    assert!(store.jobs(qualys, 10).unwrap().is_empty());
    assert!(store.password(qualys).is_err());
    assert!(matches!(
        store.remove_instance(MAPPER_INSTANCE, T0),
        Err(StoreError::ReservedInstance)
    ));
}

/// Passwords are stored encrypted and never returned with the instance.
pub fn registry_passwords<S: GraphStore>(store: &S) {
    let created = store
        .create_instance(NewInstance {
            name: "acme".to_owned(),
            kind: InstanceKind::Qualys,
            config: serde_json::json!({"username": "api-user"}),
            password: Some(Password::new("s3cret-pässword")),
        })
        .unwrap();
    assert!(created.has_password);
    let rendered = format!("{created:?} {}", serde_json::to_string(&created).unwrap());
    assert!(!rendered.contains("s3cret"), "{rendered}");
    assert_eq!(
        store.password(created.id).unwrap().unwrap().expose(),
        "s3cret-pässword"
    );
    assert!(!format!("{:?}", store.password(created.id).unwrap()).contains("s3cret"));

    let duplicate = store.create_instance(NewInstance {
        name: "acme".to_owned(),
        kind: InstanceKind::Qualys,
        config: serde_json::json!({}),
        password: None,
    });
    assert!(matches!(duplicate, Err(StoreError::InstanceExists(name)) if name == "acme"));

    let updated = store
        .update_instance_config(created.id, serde_json::json!({"username": "other"}))
        .unwrap();
    assert_eq!(updated.config["username"], "other");
    assert!(updated.has_password, "a config change keeps the password");

    store.set_password(created.id, None).unwrap();
    assert!(store.password(created.id).unwrap().is_none());
    assert_eq!(
        store.instance_by_name("acme").unwrap().unwrap().id,
        created.id
    );
    assert!(store.instance_by_name("missing").unwrap().is_none());
}

/// Job history, sync state windows and the knowledge-base cache.
pub fn jobs_state_and_kb_cache<S: GraphStore>(store: &S) {
    let qualys = instance(store, "acme", InstanceKind::Qualys);
    sync_with(
        store,
        qualys,
        SyncOptions::at(T0),
        base_graph(),
        &all_ok(),
        |run| run.set_window_end("host_detections", T0 - 5),
    );
    assert_eq!(
        store.window_end(qualys, "host_detections").unwrap(),
        Some(T0 - 5)
    );

    // An aborted run stores nothing, not even its window.
    let mut run = store
        .begin_sync(qualys, SyncOptions::at(T0 + DAY_MS))
        .unwrap();
    run.set_window_end("host_detections", T0 + DAY_MS);
    run.write("hosts", vec![e(&host("host-000003", 3, "x.example.test"))])
        .unwrap();
    run.abort("Qualys returned 409 rate limit").unwrap();
    assert_eq!(
        store.window_end(qualys, "host_detections").unwrap(),
        Some(T0 - 5)
    );
    assert!(store.entity(qualys, "host-000003").unwrap().is_none());

    // A run dropped without commit is recorded as aborted.
    {
        let mut run = store
            .begin_sync(qualys, SyncOptions::at(T0 + 2 * DAY_MS))
            .unwrap();
        run.write("hosts", vec![e(&host("host-000004", 4, "y.example.test"))])
            .unwrap();
    }
    let jobs = store.jobs(qualys, 10).unwrap();
    assert_eq!(jobs.len(), 3);
    assert_eq!(jobs[0].status, JobStatus::Aborted);
    assert_eq!(jobs[1].status, JobStatus::Failure);
    assert_eq!(
        jobs[1].error.as_deref(),
        Some("Qualys returned 409 rate limit")
    );
    assert_eq!(jobs[2].status, JobStatus::Success);
    assert_eq!(jobs[2].report.as_ref().unwrap().entities_created, 6);
    assert_eq!(store.jobs(qualys, 1).unwrap().len(), 1);

    // Two runs of one instance at once are rejected.
    let run = store.begin_sync(qualys, SyncOptions::at(T0)).unwrap();
    assert!(matches!(
        store.begin_sync(qualys, SyncOptions::at(T0)),
        Err(StoreError::RunInProgress { .. })
    ));
    drop(run);

    let entries = vec![
        KbEntry {
            qid: 38170,
            document: serde_json::json!({"title": "SSL weak ciphers"}),
            fetched_on: T0,
        },
        KbEntry {
            qid: 6,
            document: serde_json::json!({"title": "DNS host name"}),
            fetched_on: T0,
        },
    ];
    store.kb_put(&entries).unwrap();
    store
        .kb_put(&[KbEntry {
            qid: 6,
            document: serde_json::json!({"title": "renamed"}),
            fetched_on: T0 + 1,
        }])
        .unwrap();
    let cached = store.kb_get(&[6, 38170, 99]).unwrap();
    assert_eq!(cached.len(), 2);
    assert_eq!(cached[0].document["title"], "renamed");
    assert_eq!(cached[0].fetched_on, T0 + 1);
    assert_eq!(cached[1].qid, 38170);
}

/// Hard values survive a round trip: a 1 MiB property, quotes and
/// non-ASCII text in keys, 64-bit integers, explicit null, raw data.
pub fn hard_values_round_trip<S: GraphStore>(store: &S) {
    let qualys = instance(store, "acme", InstanceKind::Qualys);
    let key = "host-'quoted\"-ключ-\u{1F600}";
    let mut hard = entity(key, "discovered_host", &["Host"]);
    hard.set("details", "x".repeat(1 << 20))
        .set("big", u64::MAX)
        .set("small", i64::MIN)
        .set("tag.AccountName", "acme")
        .set("ids", vec!["012345678901", "215287854144326580"]);
    hard.properties.insert("nothing".to_owned(), Value::Null);
    hard.raw_data.push(qgraph_model::RawData {
        name: "default".to_owned(),
        raw_data: serde_json::json!({"HOST": {"ID": 1}}),
    });
    sync(store, qualys, T0, vec![("hosts", e(&hard))], &all_ok());
    let stored = store.entity(qualys, key).unwrap().unwrap();
    assert_eq!(stored.entity, hard);
    assert_eq!(store.entities_by_key(key).unwrap().len(), 1);
    assert_eq!(store.entity_by_id(stored.id).unwrap().unwrap().entity, hard);
    let again = sync(store, qualys, T0 + 1, vec![("hosts", e(&hard))], &all_ok());
    assert_no_changes(&again);
}

/// Reads by type and class honour the limit.
pub fn reads_honour_limits<S: GraphStore>(store: &S) {
    let qualys = instance(store, "acme", InstanceKind::Qualys);
    let graph: Vec<_> = (0..25)
        .map(|i| {
            (
                "hosts",
                e(&host(&format!("host-{i:06}"), i, "h.example.test")),
            )
        })
        .collect();
    sync(store, qualys, T0, graph, &all_ok());
    assert_eq!(
        store.entities_by_type("discovered_host", 10).unwrap().len(),
        10
    );
    assert_eq!(store.entities_by_class("Host", 100).unwrap().len(), 25);
    assert_eq!(count_of(store, "discovered_host"), 25);
}
