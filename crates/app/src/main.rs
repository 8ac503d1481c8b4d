//! `yuqing`: the command line of the county's public-opinion service.
//!
//! This crate is glue: it parses arguments, loads configuration and dictionaries (from the
//! current directory or the copies embedded at build time), wires the analysis crates together
//! and writes results. Logs go to stderr; results to stdout.

/// Prints a line of results to stdout; a closed pipe (`| head`) ends the command successfully.
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        if writeln!(std::io::stdout().lock(), $($arg)*).is_err() {
            return Ok(ExitCode::SUCCESS);
        }
    }};
}

mod alerts;
mod analyze;
mod case_cli;
mod cases_cmd;
mod collect;
mod demo;
mod evaluate;
mod import;
mod input;
mod maintain;
mod progress;
mod resources;
mod rules_cmd;
mod run;
mod search_cmd;
mod service;
mod settings;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// mimalloc: analysis allocates many small strings and vectors per post; measured faster than the
/// system allocator on the benchmark input (BENCHMARKS.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Debug, Parser)]
#[command(
    name = "yuqing",
    version,
    about = "舆情: hear, route and answer public concerns about county services"
)]
struct Cli {
    /// The county configuration folder (default: ./config, else the copy built into the binary),
    /// or a service settings file (`yuqing.toml`, see examples/yuqing.toml) whose
    /// `paths.config` names the folder. `YUQING__SECTION__KEY` variables override the file.
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    /// Dictionaries folder (default: ./dictionaries, else the copy built into the binary).
    #[arg(long, global = true)]
    dictionaries: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// The whole service on a local demo county site (SQLite in ./data/demo, web on a free
    /// loopback port): prints `Yuqing: http://127.0.0.1:PORT/`.
    Demo(demo::DemoArgs),
    /// Analyse posts (JSON lines) and print one JSON line of analysis per input line.
    Analyze(analyze::AnalyzeArgs),
    /// Validate and explain topic rules.
    #[command(subcommand)]
    Rules(RulesCommand),
    /// The learned router (a second opinion on department assignment).
    #[command(subcommand)]
    Router(RouterCommand),
    /// Measure quality against labelled data.
    #[command(subcommand)]
    Eval(EvalCommand),
    /// Read one page (a file or a URL): title, body, date, author, encoding.
    Extract(collect::ExtractArgs),
    /// The collection service: crawl due sources, analyse and store, until Ctrl-C (SQLite in
    /// ./data by default; `--database postgres://…` to share the work between processes).
    Run(run::RunArgs),
    /// Import posts from a JSON-lines or CSV file into the store (analysed and de-duplicated like
    /// crawled posts).
    Import(import::ImportArgs),
    /// API tokens for the push API.
    #[command(subcommand)]
    Token(run::TokenCommand),
    /// Apply the store's migrations.
    Migrate(run::MigrateArgs),
    /// Check the whole configuration (county, rules, dictionaries, sources); every problem with
    /// its file and line.
    CheckConfig,
    /// Rebuild the search index from the store (the index is derived data).
    Reindex(search_cmd::ReindexArgs),
    /// Search stored posts (Chinese needs no spaces); JSON lines of hits with snippets.
    Search(search_cmd::SearchArgs),
    /// Analyse every stored post again (after a rule or dictionary change) and update the index.
    Reanalyze(maintain::ReanalyzeArgs),
    /// Copy the embedded database online into a folder (PostgreSQL: pg_dump, see README).
    Backup(maintain::BackupArgs),
    /// Fetch the configured sources (`--config` is a sources file or folder, default
    /// ./config/sources) and print the new items as JSON lines, ready for `yuqing analyze`.
    Crawl(collect::CrawlArgs),
    /// Events (related posts as one story) by heat: `--level`, `--department`.
    Events(alerts::EventsArgs),
    /// One event (`show ID`), or open one by hand (`open`: phone report, 上级交办, 领导批示).
    #[command(subcommand)]
    Event(alerts::EventCommand),
    /// Alerts (one event at one receiver): notifications, acknowledgement, escalation, muting.
    Alerts(alerts::AlertsArgs),
    /// Acknowledge (签收) an event's alerts for an official's units.
    Ack(alerts::AckArgs),
    /// Silences: mute matching notifications for a while, with creator and reason.
    #[command(subcommand)]
    Silence(alerts::SilenceCommand),
    /// The notification outbox: each message, its channel, attempts and outcome.
    Deliveries(alerts::DeliveriesArgs),
    /// Officials: Telegram link codes.
    #[command(subcommand)]
    Official(alerts::OfficialCommand),
    /// Cases (an event to answer, owned by a lead department) with their clocks:
    /// `--department`, `--overdue`, `--all`.
    Cases(case_cli::CasesArgs),
    /// One case: `show`, `open`, and the steps of its workflow (ack, assess, draft, submit,
    /// review, publish, close, dismiss, merge, reopen, grade).
    #[command(subcommand)]
    Case(case_cli::CaseCommand),
    /// The audit log: `verify` checks its hash chain.
    #[command(subcommand)]
    Audit(case_cli::AuditCommand),
    /// Reports: `performance --month YYYY-MM` (考核).
    #[command(subcommand)]
    Report(case_cli::ReportCommand),
    /// The official working-day calendar (holidays and 调休) and deadline arithmetic.
    #[command(subcommand)]
    Calendar(cases_cmd::CalendarCommand),
}

#[derive(Debug, Subcommand)]
enum RulesCommand {
    /// Parse every configuration file and rule; explain each error with file, rule and column.
    Check,
    /// Show every rule that fires on a text, and why.
    Explain(rules_cmd::ExplainArgs),
    /// Write a configuration with N generated topics (for the rule-scaling benchmark).
    Synth(rules_cmd::SynthArgs),
}

#[derive(Debug, Subcommand)]
enum RouterCommand {
    /// Train the router on labelled posts (JSON lines with a `label`).
    Train(evaluate::TrainArgs),
}

#[derive(Debug, Subcommand)]
enum EvalCommand {
    /// Department assignment against labelled posts and a label map.
    Routing(evaluate::RoutingArgs),
    /// Negative-class precision/recall/F1 of sentiment on labelled sets.
    Sentiment(evaluate::SentimentArgs),
    /// Script/language detection accuracy on texts of known language.
    Lang(evaluate::LangArgs),
    /// Article extraction (title accuracy, body F1) on a corpus index of saved pages.
    Extract(collect::EvalExtractArgs),
    /// Every page, feed and JSON file of a folder through the collection code: failures with
    /// their reasons, and zero panics.
    Robustness(collect::EvalRobustnessArgs),
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("YUQING_LOG")
                .unwrap_or_else(|_| "warn,html5ever=error".into()),
        )
        .init();
    let cli = Cli::parse();
    // Collection commands need neither the county configuration nor the dictionaries.
    let early = match &cli.command {
        Command::Extract(a) => Some(collect::extract_cmd(a)),
        Command::Crawl(a) => Some(collect::crawl(cli.config.as_deref(), resources::embedded_config(), a)),
        Command::Eval(EvalCommand::Extract(a)) => Some(collect::eval_extract(a)),
        Command::Eval(EvalCommand::Robustness(a)) => Some(collect::eval_robustness(a)),
        _ => None,
    };
    if let Some(result) = early {
        return finish(result);
    }
    // `--config FILE` is the service settings; `--config DIR` the county configuration.
    let (settings_file, config_dir) = match cli.config {
        Some(p) if p.is_file() => (Some(p), None),
        other => (None, other),
    };
    let settings = match settings::init(settings_file.as_deref()) {
        Ok(s) => s,
        Err(e) => return finish(Err(e)),
    };
    let config_dir = config_dir.or_else(|| settings.paths.config.clone());
    let dictionaries = cli.dictionaries.or_else(|| settings.paths.dictionaries.clone());
    if let Command::Backup(a) = &cli.command {
        return finish(maintain::backup(a));
    }
    if let Command::Calendar(c) = &cli.command {
        return finish(cases_cmd::calendar(config_dir.as_deref(), c).map(|()| ExitCode::SUCCESS));
    }
    let res = resources::Resources::load(config_dir.as_deref(), dictionaries.as_deref());
    let result = res.and_then(|res| match cli.command {
        Command::Demo(a) => demo::demo(&res, &a),
        Command::Reanalyze(a) => maintain::reanalyze(&res, &a),
        Command::Analyze(a) => analyze::run(&res, &a),
        Command::Rules(RulesCommand::Check) => rules_cmd::check(&res),
        Command::Rules(RulesCommand::Explain(a)) => rules_cmd::explain(&res, &a),
        Command::Rules(RulesCommand::Synth(a)) => rules_cmd::synth(&res, &a),
        Command::Router(RouterCommand::Train(a)) => evaluate::train(&res, &a),
        Command::Eval(EvalCommand::Routing(a)) => evaluate::routing(&res, &a),
        Command::Eval(EvalCommand::Sentiment(a)) => evaluate::sentiment(&res, &a),
        Command::Eval(EvalCommand::Lang(a)) => evaluate::lang(&res, &a),
        Command::Run(a) => run::run(&res, config_dir.as_deref(), &a),
        Command::Import(a) => import::import(&res, &a),
        Command::Reindex(a) => search_cmd::reindex(&res, &a),
        Command::Migrate(a) => run::migrate(&a),
        Command::Token(c) => run::token(&c),
        Command::CheckConfig => run::check_config(&res, config_dir.as_deref()),
        Command::Search(a) => search_cmd::search(&res, &a),
        Command::Events(a) => alerts::events(&a),
        Command::Event(c) => alerts::event(&res, &c),
        Command::Alerts(a) => alerts::alerts(&a),
        Command::Ack(a) => alerts::ack(&res, &a),
        Command::Silence(c) => alerts::silence(&c),
        Command::Deliveries(a) => alerts::deliveries(&a),
        Command::Official(c) => alerts::official(&res, &c),
        Command::Cases(a) => case_cli::cases(&a),
        Command::Case(c) => case_cli::case(&res, config_dir.as_deref(), &c),
        Command::Audit(c) => case_cli::audit(&c),
        Command::Report(c) => case_cli::report(&c),
        Command::Extract(_)
        | Command::Crawl(_)
        | Command::Backup(_)
        | Command::Calendar(_)
        | Command::Eval(EvalCommand::Extract(_))
        | Command::Eval(EvalCommand::Robustness(_)) => {
            unreachable!("handled above")
        }
    });
    finish(result)
}

fn finish(result: anyhow::Result<ExitCode>) -> ExitCode {
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}
