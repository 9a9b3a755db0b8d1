//! Command-line interface. Exit codes: 0 success, 1 failure, 2 invalid usage or input.

mod bench;
mod bench_pipeline;
mod calendar;
mod case;
mod deadline;
mod dept;
mod directory;
mod dlq;
mod list;
mod report;
mod stats;
mod submit;
mod termination;
mod tokens;
mod up;
mod users;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(
    name = "xinfang",
    version,
    about = "Petition (信访) case handling: registration, routing, deadlines, review, notices"
)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run all five services and the console in one process (single-machine deployment) until Ctrl-C.
    Up,
    /// Create the database if needed and run every service's migrations, then exit.
    Migrate,
    /// Register a petition from a JSON file (or stdin) and print its case number.
    Submit(submit::Args),
    /// When is a statutory deadline (D1–D11) due?
    Deadline(deadline::Args),
    /// The holiday calendar: check a file, reload it in the running services.
    #[command(subcommand)]
    Calendar(calendar::CalendarCmd),
    /// Cases in the registry.
    #[command(subcommand)]
    Case(case::Case),
    /// Dead letters: list and replay.
    #[command(subcommand)]
    Dlq(dlq::Dlq),
    /// The department directory: check a file, reload it in the running services.
    #[command(subcommand)]
    Directory(directory::Directory),
    /// Generate a nats-server configuration with per-department permissions.
    NatsConfig(directory::NatsConfigArgs),
    /// A department's client: listen to its durable feed, send actions.
    #[command(subcommand)]
    Dept(dept::Dept),
    /// Listed matters (清单): lists per source, milestones, weekly progress, KPIs.
    List(list::List),
    /// KPIs: 及时受理率, 按期办结率, 参评率, 满意率, repeats, handling days, overdue.
    Stats(stats::Args),
    /// Reports: the weekly analysis (周研判) as HTML, CSV or JSON.
    #[command(subcommand)]
    Report(report::Report),
    /// The console's staff accounts.
    #[command(subcommand)]
    Users(users::Users),
    /// The provincial terminated-matters registry (省级终结库): export, import.
    #[command(subcommand)]
    Termination(termination::Termination),
    /// Bearer tokens for the HTTP APIs.
    #[command(subcommand)]
    Tokens(tokens::Tokens),
    /// Benchmarks that print numbers.
    #[command(subcommand)]
    Bench(bench::Bench),
}

pub async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Up => up::run().await,
        Command::Migrate => up::migrate().await,
        Command::Submit(a) => submit::run(a).await,
        Command::Deadline(a) => deadline::run(a),
        Command::Calendar(c) => calendar::run(c).await,
        Command::Bench(b) => bench::run(b).await,
        Command::Case(c) => case::run(c).await,
        Command::Dlq(d) => dlq::run(d).await,
        Command::Directory(d) => directory::run(d).await,
        Command::NatsConfig(a) => directory::nats_config(a),
        Command::Dept(d) => dept::run(d).await,
        Command::Termination(t) => termination::run(t).await,
        Command::Tokens(t) => tokens::run(t).await,
        Command::Users(u) => users::run(u).await,
        Command::Stats(a) => stats::run(a).await,
        Command::Report(r) => report::run(r).await,
        Command::List(l) => list::run(l).await,
    }
}
