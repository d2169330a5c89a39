//! `qgraph jobs`: the sync history of one or every instance.

use std::process::ExitCode;

use clap::Args;
use qgraph_cli::db::DbArgs;
use qgraph_cli::escape::escape_controls;
use qgraph_cli::instances;
use qgraph_cli::progress::{describe_error, describe_step};
use qgraph_integration::time::format_iso_seconds;
use qgraph_store::{GraphStore, Instance, JobRecord, JobStepRecord, SqliteStore};

use crate::integration_cmd::open_store;
use crate::output::{OutputError, outln};

/// Arguments of `qgraph jobs`.
#[derive(Debug, Args)]
pub struct JobsArgs {
    /// Instance name; every instance when left out.
    name: Option<String>,
    #[command(flatten)]
    db: DbArgs,
    /// Jobs to show per instance, newest first; 1 or more.
    #[arg(long, default_value_t = 10, value_parser = parse_limit)]
    limit: usize,
}

/// Runs `qgraph jobs`.
pub fn run(args: &JobsArgs) -> anyhow::Result<ExitCode> {
    let store = open_store(&args.db)?;
    let selected = match &args.name {
        Some(name) => vec![instances::find(&store, name)?],
        None => store.list_instances()?,
    };
    if selected.is_empty() {
        outln!("no instances: add one with `qgraph integration add NAME`")?;
    }
    for instance in &selected {
        print_instance_jobs(&store, instance, args.limit)?;
    }
    Ok(ExitCode::SUCCESS)
}

/// Parses `--limit`, which must be 1 or more: a limit of 0 would print
/// "no jobs" for instances that have jobs.
fn parse_limit(text: &str) -> Result<usize, String> {
    match text.parse::<usize>() {
        Ok(0) => Err("the number of jobs must be 1 or more".to_owned()),
        Ok(limit) => Ok(limit),
        Err(error) => Err(format!("expected a whole number, 1 or more ({error})")),
    }
}

fn print_instance_jobs(
    store: &SqliteStore,
    instance: &Instance,
    limit: usize,
) -> anyhow::Result<()> {
    let name = escape_controls(&instance.name);
    outln!("instance {name} (id {})", instance.id)?;
    let jobs = store.jobs(instance.id, limit)?;
    if jobs.is_empty() {
        outln!("  no jobs: run `qgraph integration run {name}`")?;
    }
    for job in &jobs {
        print_job(job)?;
    }
    Ok(())
}

fn print_job(job: &JobRecord) -> Result<(), OutputError> {
    let duration = job
        .ended_on
        .map(|end| format!(" in {:.1} s", (end - job.started_on) as f64 / 1000.0))
        .unwrap_or_default();
    outln!(
        "  job {} started {} {}{duration}",
        job.id,
        format_iso_seconds(job.started_on),
        job.status.as_str()
    )?;
    if let Some(report) = &job.report {
        outln!(
            "    entities {} created, {} updated, {} deleted; relationships {} created, {} updated, {} deleted",
            report.entities_created,
            report.entities_updated,
            report.entities_deleted,
            report.relationships_created + report.mapper_relationships_created,
            report.relationships_updated + report.mapper_relationships_updated,
            report.relationships_deleted + report.mapper_relationships_deleted,
        )?;
        if report.findings_retired > 0 {
            outln!(
                "    {}",
                crate::integration_cmd::retired_findings_text(report.findings_retired)
            )?;
        }
    }
    if let Some(error) = &job.error {
        outln!("    error: {}", escape_controls(error))?;
    }
    // The store returns steps in its own order, so list them in execution order.
    let order: Vec<String> = qgraph_integration::step_declarations()
        .into_iter()
        .map(|declaration| declaration.id)
        .collect();
    let mut steps: Vec<&JobStepRecord> = job.steps.iter().collect();
    steps.sort_by_key(|step| order.iter().position(|id| *id == step.step_id));
    for step in steps {
        let result = qgraph_model::StepResult {
            id: step.step_id.clone(),
            status: step.status,
            started_on: step.started_on,
            ended_on: step.ended_on,
            counts: step.counts.clone(),
            errors: step.errors.clone(),
        };
        outln!("    {}", escape_controls(&describe_step(&result)))?;
        for error in &step.errors {
            outln!("      error: {}", escape_controls(&describe_error(error)))?;
        }
    }
    Ok(())
}
