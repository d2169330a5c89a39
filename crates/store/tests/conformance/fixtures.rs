//! Graph objects and run helpers shared by the conformance cases.

use qgraph_model::{
    DeclaredType, Direction, Entity, GraphObject, GraphSink, MappedRelationship, Properties,
    Relationship, RelationshipClass, StepDeclaration, StepError, StepResult, StepStatus, Value,
};
use qgraph_store::{
    GraphStore, InstanceId, InstanceKind, NewInstance, SyncOptions, SyncReport, SyncRun,
};

pub const DAY_MS: i64 = 86_400_000;
pub const T0: i64 = 1_700_000_000_000;

pub fn instance<S: GraphStore>(store: &S, name: &str, kind: InstanceKind) -> InstanceId {
    store
        .create_instance(NewInstance {
            name: name.to_owned(),
            kind,
            config: serde_json::json!({ "accountName": name }),
            password: None,
        })
        .unwrap()
        .id
}

pub fn entity(key: &str, entity_type: &str, classes: &[&str]) -> Entity {
    Entity::new(key, entity_type, classes).unwrap()
}

pub fn account() -> Entity {
    let mut e = entity("qualys-account-1", "qualys_account", &["Account"]);
    e.display_name = Some("Qualys".to_owned());
    e
}

pub fn service() -> Entity {
    entity(
        "qualys-vmdr-service",
        "qualys_vulnerability_manager",
        &["Service"],
    )
}

pub fn host(key: &str, host_id: i64, fqdn: &str) -> Entity {
    let mut e = entity(key, "discovered_host", &["Host"]);
    e.set("qualysQwebHostId", host_id).set("fqdn", fqdn);
    e
}

pub fn finding(key: &str, host_id: i64, qid: i64, open: bool) -> Entity {
    let mut e = entity(key, "qualys_host_finding", &["Finding"]);
    e.set("hostId", host_id)
        .set("qid", qid)
        .set("open", open)
        .set("severity", "high")
        .set("numericSeverity", 8)
        .set("status", if open { "Active" } else { "Fixed" });
    e
}

pub fn has(from: &Entity, to: &Entity) -> Relationship {
    Relationship::between(from, &RelationshipClass::new("HAS").unwrap(), to)
}

pub fn identified(from: &Entity, to: &Entity) -> Relationship {
    Relationship::between(from, &RelationshipClass::new("IDENTIFIED").unwrap(), to)
}

/// A SCANS mapped relationship from the service to a target with the given
/// properties and filter keys.
pub fn scans(target: &[(&str, Value)], filter_keys: &[&[&str]], skip: bool) -> MappedRelationship {
    let mut properties = Properties::new();
    for (name, value) in target {
        properties.insert((*name).to_owned(), value.clone());
    }
    MappedRelationship::new(
        &service().key,
        &service().entity_type,
        &RelationshipClass::new("SCANS").unwrap(),
        properties,
        filter_keys
            .iter()
            .map(|set| set.iter().map(|s| (*s).to_owned()).collect())
            .collect(),
        Direction::Forward,
        skip,
    )
    .unwrap()
}

pub fn declared(types: &[&str], partial: bool) -> Vec<DeclaredType> {
    types
        .iter()
        .map(|t| DeclaredType {
            object_type: (*t).to_owned(),
            partial,
        })
        .collect()
}

pub fn step(
    id: &str,
    entity_types: Vec<DeclaredType>,
    relationship_types: Vec<DeclaredType>,
) -> StepDeclaration {
    StepDeclaration {
        id: id.to_owned(),
        name: id.to_owned(),
        entity_types,
        relationship_types,
        depends_on: Vec::new(),
    }
}

pub fn result(id: &str, status: StepStatus) -> StepResult {
    let errors = if status == StepStatus::Failure {
        vec![StepError {
            message: "host list detection failed after retries".to_owned(),
            code: Some("1965".to_owned()),
            endpoint: Some("/api/2.0/fo/asset/host/vm/detection/".to_owned()),
        }]
    } else {
        Vec::new()
    };
    StepResult {
        id: id.to_owned(),
        status,
        started_on: T0,
        ended_on: T0 + 1,
        counts: Default::default(),
        errors,
    }
}

/// The steps of a small Qualys-like run: `account` (account, service, HAS),
/// `hosts` (hosts), `findings` (partial findings, IDENTIFIED) and `mapped`.
pub fn steps() -> Vec<StepDeclaration> {
    vec![
        step(
            "account",
            declared(&["qualys_account", "qualys_vulnerability_manager"], false),
            declared(&["qualys_account_has_vulnerability_manager"], false),
        ),
        step("hosts", declared(&["discovered_host"], false), Vec::new()),
        step(
            "findings",
            declared(&["qualys_host_finding", "qualys_web_app_finding"], true),
            declared(
                &["qualys_vulnerability_manager_identified_host_finding"],
                true,
            ),
        ),
        step(
            "mapped",
            Vec::new(),
            declared(
                &[
                    "qualys_vulnerability_manager_scans_aws_instance",
                    "qualys_vulnerability_manager_scans_discovered_host",
                    "qualys_vulnerability_manager_scans_entity",
                    "qualys_vulnerability_manager_scans_azure_vm",
                ],
                false,
            ),
        ),
    ]
}

pub fn all_ok() -> Vec<StepResult> {
    steps()
        .iter()
        .map(|s| result(&s.id, StepStatus::Success))
        .collect()
}

/// Runs one sync of `objects` (each tagged with its step) and commits it.
pub fn sync<S: GraphStore>(
    store: &S,
    instance: InstanceId,
    now_ms: i64,
    objects: Vec<(&str, GraphObject)>,
    results: &[StepResult],
) -> SyncReport {
    sync_with(
        store,
        instance,
        SyncOptions::at(now_ms),
        objects,
        results,
        |_| {},
    )
}

/// Like [`sync`], with options and a hook that runs before the commit.
pub fn sync_with<S: GraphStore>(
    store: &S,
    instance: InstanceId,
    options: SyncOptions,
    objects: Vec<(&str, GraphObject)>,
    results: &[StepResult],
    before_commit: impl FnOnce(&mut S::Run<'_>),
) -> SyncReport {
    let mut run = store.begin_sync(instance, options).unwrap();
    for (step_id, object) in objects {
        run.write(step_id, vec![object]).unwrap();
    }
    before_commit(&mut run);
    run.commit(&steps(), results).unwrap()
}

pub fn e(entity: &Entity) -> GraphObject {
    GraphObject::Entity(entity.clone())
}

pub fn r(relationship: &Relationship) -> GraphObject {
    GraphObject::Relationship(relationship.clone())
}

pub fn m(mapped: &MappedRelationship) -> GraphObject {
    GraphObject::Mapped(mapped.clone())
}

/// The base graph: account HAS service, two hosts, two findings of host 1.
pub fn base_graph() -> Vec<(&'static str, GraphObject)> {
    let f1 = finding("finding-0001", 1, 38170, true);
    let f2 = finding("finding-0002", 1, 38171, true);
    vec![
        ("account", e(&account())),
        ("account", e(&service())),
        ("account", r(&has(&account(), &service()))),
        ("hosts", e(&host("host-000001", 1, "web1.example.test"))),
        ("hosts", e(&host("host-000002", 2, "web2.example.test"))),
        ("findings", e(&f1)),
        ("findings", e(&f2)),
        ("findings", r(&identified(&service(), &f1))),
        ("findings", r(&identified(&service(), &f2))),
    ]
}

pub fn count_of<S: GraphStore>(store: &S, entity_type: &str) -> u64 {
    store
        .count_entities_by_type()
        .unwrap()
        .into_iter()
        .find(|c| c.object_type == entity_type)
        .map_or(0, |c| c.count)
}

pub fn relationship_count_of<S: GraphStore>(store: &S, relationship_type: &str) -> u64 {
    store
        .count_relationships_by_type()
        .unwrap()
        .into_iter()
        .find(|c| c.object_type == relationship_type)
        .map_or(0, |c| c.count)
}

/// Asserts that a report changed nothing in the graph.
pub fn assert_no_changes(report: &SyncReport) {
    assert_eq!(report.entities_created, 0, "entities created");
    assert_eq!(report.entities_updated, 0, "entities updated");
    assert_eq!(report.entities_deleted, 0, "entities deleted");
    assert_eq!(report.relationships_created, 0, "relationships created");
    assert_eq!(report.relationships_updated, 0, "relationships updated");
    assert_eq!(report.relationships_deleted, 0, "relationships deleted");
    assert_eq!(report.mapped_created, 0, "mapped definitions created");
    assert_eq!(report.mapped_updated, 0, "mapped definitions updated");
    assert_eq!(report.mapped_deleted, 0, "mapped definitions deleted");
    assert_eq!(
        report.mapper_relationships_created, 0,
        "mapper relationships created"
    );
    assert_eq!(
        report.mapper_relationships_updated, 0,
        "mapper relationships updated"
    );
    assert_eq!(
        report.mapper_relationships_deleted, 0,
        "mapper relationships deleted"
    );
    assert_eq!(report.placeholders_created, 0, "placeholders created");
    assert_eq!(report.placeholders_deleted, 0, "placeholders deleted");
    assert_eq!(
        report.rule_relationships_created, 0,
        "rule relationships created"
    );
    assert_eq!(
        report.rule_relationships_deleted, 0,
        "rule relationships deleted"
    );
}

/// Returns the keys of the hosts that the mapping rules relate to a finding, sorted.
pub fn rule_hosts_of<S: GraphStore>(
    store: &S,
    instance: InstanceId,
    finding_key: &str,
) -> Vec<String> {
    let finding_id = store.entity(instance, finding_key).unwrap().unwrap().id;
    let mut hosts: Vec<String> = store
        .relationships_of(finding_id)
        .unwrap()
        .into_iter()
        .filter(|l| l.rule_id.is_some() && l.to_id == finding_id)
        .map(|l| store.entity_by_id(l.from_id).unwrap().unwrap().entity.key)
        .collect();
    hosts.sort();
    hosts
}
