//! Import of JupiterOne integration graph files (`.j1-integration/graph`).
//!
//! The layout is `graph/<stepId>/entities/<name>.json` holding
//! `{"entities": [...]}` and `graph/<stepId>/relationships/<name>.json`
//! holding `{"relationships": [...]}`; a relationship with `_mapping` is a
//! mapped relationship. `summary.json`, when present, names the partial
//! types in `metadata.partialDatasets.types`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use qgraph_model::{
    DeclaredType, Entity, GraphObject, GraphSink, MappedRelationship, Relationship,
    StepDeclaration, StepResult, StepStatus,
};

use crate::error::StoreError;
use crate::store::{GraphStore, SyncRun};
use crate::types::{InstanceId, SyncOptions, SyncReport};

/// A graph file that could not be read or understood.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("failed to read {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("invalid JSON in {path}: {source}")]
    Json {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },

    #[error("invalid {kind} at index {index} in {path}: {source}")]
    Object {
        path: PathBuf,
        kind: &'static str,
        index: usize,
        #[source]
        source: serde_json::Error,
    },

    #[error(
        "{path} is not a graph file: expected an object with an \"entities\" or \"relationships\" array"
    )]
    NotGraphFile { path: PathBuf },

    #[error("no graph files found under {path}: expected graph/<stepId>/entities/*.json")]
    Empty { path: PathBuf },
}

/// Imports the graph files under `dir` (a `.j1-integration` directory or its
/// `graph` folder) as one sync run of `instance`: what the files no longer
/// contain is deleted, except types the summary marks partial.
pub fn import_graph<S: GraphStore>(
    store: &S,
    instance: InstanceId,
    dir: &Path,
    options: SyncOptions,
) -> Result<SyncReport, StoreError> {
    let graph_dir = if dir.join("graph").is_dir() {
        dir.join("graph")
    } else {
        dir.to_owned()
    };
    let files = graph_files(&graph_dir)?;
    if files.is_empty() {
        return Err(ImportError::Empty { path: graph_dir }.into());
    }
    let partial = summary_partial_types(dir)?;

    let started_on = options.now_ms;
    let mut run = store.begin_sync(instance, options)?;
    let mut steps: BTreeMap<String, BTreeMap<String, u64>> = BTreeMap::new();
    for file in &files {
        let step_id = step_of(&graph_dir, file);
        let objects = read_graph_file(file)?;
        let counts = steps.entry(step_id.clone()).or_default();
        for object in &objects {
            *counts.entry(object.object_type().to_owned()).or_default() += 1;
        }
        run.write(&step_id, objects)?;
    }

    let (declarations, results) = step_records(&steps, &partial, started_on);
    run.commit(&declarations, &results)
}

fn step_records(
    steps: &BTreeMap<String, BTreeMap<String, u64>>,
    partial: &[String],
    now_ms: i64,
) -> (Vec<StepDeclaration>, Vec<StepResult>) {
    let mut declarations = Vec::new();
    let mut results = Vec::new();
    for (step_id, counts) in steps {
        let types = counts
            .keys()
            .map(|t| DeclaredType {
                object_type: t.clone(),
                partial: partial.contains(t),
            })
            .collect();
        declarations.push(StepDeclaration {
            id: step_id.clone(),
            name: step_id.clone(),
            // Entity and relationship types are not separated here, because both
            // lists only feed the partial-type computation.
            entity_types: types,
            relationship_types: Vec::new(),
            depends_on: Vec::new(),
        });
        results.push(StepResult {
            id: step_id.clone(),
            status: StepStatus::Success,
            started_on: now_ms,
            ended_on: now_ms,
            counts: counts.clone(),
            errors: Vec::new(),
        });
    }
    // Partial types from the summary stay partial even when no file of this
    // import contains one of them.
    declarations.push(StepDeclaration {
        id: "summary".to_owned(),
        name: "partial data sets of summary.json".to_owned(),
        entity_types: partial
            .iter()
            .map(|t| DeclaredType {
                object_type: t.clone(),
                partial: true,
            })
            .collect(),
        relationship_types: Vec::new(),
        depends_on: Vec::new(),
    });
    results.push(StepResult {
        id: "summary".to_owned(),
        status: StepStatus::Success,
        started_on: now_ms,
        ended_on: now_ms,
        counts: BTreeMap::new(),
        errors: Vec::new(),
    });
    (declarations, results)
}

/// Returns the step id of a file: the first folder under the graph folder.
fn step_of(graph_dir: &Path, file: &Path) -> String {
    file.strip_prefix(graph_dir)
        .ok()
        .and_then(|relative| relative.components().next())
        .filter(|_| file.parent() != Some(graph_dir))
        .map(|component| component.as_os_str().to_string_lossy().into_owned())
        .unwrap_or_else(|| "import".to_owned())
}

/// Lists the `.json` files under `dir`, recursively, in path order.
fn graph_files(dir: &Path) -> Result<Vec<PathBuf>, ImportError> {
    let mut files = Vec::new();
    let mut pending = vec![dir.to_owned()];
    while let Some(current) = pending.pop() {
        let entries = std::fs::read_dir(&current).map_err(|source| ImportError::Read {
            path: current.clone(),
            source,
        })?;
        for entry in entries {
            let entry = entry.map_err(|source| ImportError::Read {
                path: current.clone(),
                source,
            })?;
            let path = entry.path();
            if path.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|e| e == "json") {
                files.push(path);
            }
        }
    }
    files.sort();
    Ok(files)
}

fn summary_partial_types(dir: &Path) -> Result<Vec<String>, ImportError> {
    let path = dir.join("summary.json");
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => return Err(ImportError::Read { path, source }),
    };
    let summary: serde_json::Value =
        serde_json::from_str(&text).map_err(|source| ImportError::Json { path, source })?;
    let types = summary
        .pointer("/metadata/partialDatasets/types")
        .and_then(serde_json::Value::as_array)
        .map(|items| {
            items
                .iter()
                .filter_map(|t| t.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    Ok(types)
}

/// Parses one graph file into graph objects.
pub fn read_graph_file(path: &Path) -> Result<Vec<GraphObject>, ImportError> {
    let text = std::fs::read_to_string(path).map_err(|source| ImportError::Read {
        path: path.to_owned(),
        source,
    })?;
    let mut document: serde_json::Value =
        serde_json::from_str(&text).map_err(|source| ImportError::Json {
            path: path.to_owned(),
            source,
        })?;

    let mut objects = Vec::new();
    let mut found = false;
    if let Some(serde_json::Value::Array(items)) =
        document.get_mut("entities").map(serde_json::Value::take)
    {
        found = true;
        for (index, item) in items.into_iter().enumerate() {
            let entity: Entity =
                serde_json::from_value(item).map_err(|source| ImportError::Object {
                    path: path.to_owned(),
                    kind: "entity",
                    index,
                    source,
                })?;
            objects.push(GraphObject::Entity(entity));
        }
    }
    if let Some(serde_json::Value::Array(items)) = document
        .get_mut("relationships")
        .map(serde_json::Value::take)
    {
        found = true;
        for (index, item) in items.into_iter().enumerate() {
            objects.push(relationship_object(path, index, item)?);
        }
    }
    if !found {
        return Err(ImportError::NotGraphFile {
            path: path.to_owned(),
        });
    }
    Ok(objects)
}

fn relationship_object(
    path: &Path,
    index: usize,
    item: serde_json::Value,
) -> Result<GraphObject, ImportError> {
    let error = |source| ImportError::Object {
        path: path.to_owned(),
        kind: "relationship",
        index,
        source,
    };
    if item.get("_mapping").is_some() {
        let mapped: MappedRelationship = serde_json::from_value(item).map_err(error)?;
        Ok(GraphObject::Mapped(mapped))
    } else {
        let relationship: Relationship = serde_json::from_value(item).map_err(error)?;
        Ok(GraphObject::Relationship(relationship))
    }
}
