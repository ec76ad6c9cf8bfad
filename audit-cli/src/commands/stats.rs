//! `audit stats`: counts by action, actor, outcome and day.

use std::io::Write;

use audit_core::Outcome;
use audit_core::query::{CountBy, GroupCount};
use serde_json::{Map, Value, json};

use crate::cli::{GroupBy, StatsArgs};
use crate::error::{CliError, Exit};
use crate::target::Target;

fn name(by: GroupBy) -> &'static str {
    match by {
        GroupBy::Action => "action",
        GroupBy::Actor => "actor",
        GroupBy::Outcome => "outcome",
        GroupBy::Day => "day",
    }
}

pub async fn run(args: StatsArgs, target: &Target) -> Result<Exit, CliError> {
    let store = target.store();
    let q = args.filters.query();
    let total = store.count(&q).await?;
    let groups = if args.by.is_empty() {
        vec![
            GroupBy::Action,
            GroupBy::Actor,
            GroupBy::Outcome,
            GroupBy::Day,
        ]
    } else {
        args.by.clone()
    };
    let mut sections: Vec<(GroupBy, Vec<GroupCount>)> = Vec::new();
    for by in groups {
        let counts = match by {
            GroupBy::Action => store.count_by(&q, CountBy::Action).await?,
            GroupBy::Actor => store.count_by(&q, CountBy::Actor).await?,
            GroupBy::Day => store.count_by(&q, CountBy::Day).await?,
            GroupBy::Outcome => {
                let mut out = Vec::new();
                for outcome in [Outcome::Success, Outcome::Failure, Outcome::Denied] {
                    if q.outcome.is_some_and(|own| own != outcome) {
                        continue;
                    }
                    let count = store.count(&q.clone().outcome(outcome)).await?;
                    out.push(GroupCount {
                        key: outcome.as_str().into(),
                        count,
                    });
                }
                out
            }
        };
        sections.push((by, counts));
    }
    let mut out = std::io::stdout().lock();
    if args.json {
        let mut object = Map::new();
        object.insert("total".into(), json!(total));
        for (by, counts) in &sections {
            object.insert(
                name(*by).into(),
                serde_json::to_value(counts).map_err(std::io::Error::from)?,
            );
        }
        serde_json::to_writer(&mut out, &Value::Object(object)).map_err(std::io::Error::from)?;
        writeln!(out)?;
    } else {
        writeln!(out, "total {total}")?;
        for (by, counts) in &sections {
            writeln!(out, "\nby {}:", name(*by))?;
            let width = counts
                .iter()
                .map(|c| c.key.chars().count())
                .max()
                .unwrap_or(0)
                .max(6);
            for c in counts {
                let key = if c.key.is_empty() {
                    "(none)"
                } else {
                    c.key.as_str()
                };
                let key: String = key
                    .chars()
                    .map(|ch| if ch.is_control() { ' ' } else { ch })
                    .collect();
                writeln!(out, "  {key:<width$}  {:>10}", c.count)?;
            }
        }
    }
    out.flush()?;
    Ok(Exit::Ok)
}
