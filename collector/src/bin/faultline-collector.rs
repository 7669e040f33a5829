//! The `faultline-collector` command: parses arguments and calls into the library.

use clap::{Parser, Subcommand};
use faultline_collector::config::Config;
use std::path::PathBuf;
use std::process::ExitCode;

/// Faultline's collector: ingests the proxy filter's flushes, alerts on Discord.
#[derive(Parser)]
#[command(name = "faultline-collector", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Runs the collector (until SIGTERM or SIGINT).
    Run {
        /// Configuration file (TOML).
        #[arg(long, short)]
        config: PathBuf,
    },
    /// Validates a configuration and prints it with defaults filled in and secrets masked.
    CheckConfig {
        /// Configuration file (TOML).
        path: PathBuf,
    },
    /// Checks every Faultline plugin configuration of an nginx.conf or an envoy.yaml with the filter's own
    /// validation (run it before `nginx -s reload` or an Envoy restart: neither proxy checks it); with
    /// --config, also that the collector accepts its token, proxy_id and services.
    CheckProxy {
        /// The proxy's configuration: nginx (`.conf`) or Envoy (`.yaml`, `.yml`, `.json`); else by content.
        file: PathBuf,
        /// The collector's configuration (TOML), to check tokens, proxy ids and services against.
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
    /// Sends a clearly marked test alert through the real outbox and delivery path.
    TestAlert {
        /// Configuration file (TOML).
        #[arg(long, short)]
        config: PathBuf,
        /// Service whose webhook and link to use (default: the first configured).
        #[arg(long, short)]
        service: Option<String>,
    },
    /// Prints the history (per-minute 5xx rate, a text chart, failing routes, alerts) from the
    /// database; safe while the service runs (read-only).
    History {
        /// Only this service (default: every service with history in the period).
        #[arg(long, short)]
        service: Option<String>,
        /// How far back, e.g. "1h", "30m", "2d".
        #[arg(long, default_value = "1h")]
        since: String,
        /// Configuration file (for its state_dir and thresholds).
        #[arg(long, short, conflicts_with = "state_dir")]
        config: Option<PathBuf>,
        /// The state directory holding faultline.db (default thresholds).
        #[arg(long)]
        state_dir: Option<PathBuf>,
    },
    /// Silences on the running collector (its operator API): add, list, remove.
    Silence {
        #[command(subcommand)]
        action: SilenceAction,
    },
    /// Acknowledges a service's open incident on the running collector: reminders stop until it gets worse.
    Ack {
        /// The service whose incident to acknowledge.
        service: String,
        /// Who acknowledges (shown in the living message and on the status page).
        #[arg(long)]
        by: Option<String>,
        /// Configuration file (its listen address and operator_token).
        #[arg(long, short, default_value = DEFAULT_CONFIG)]
        config: PathBuf,
    },
    /// Prints a Prometheus rules file with the same two tiers over the /metrics counters.
    Rules {
        /// Configuration file (its thresholds, per-service overrides and window); else the defaults.
        #[arg(long, short)]
        config: Option<PathBuf>,
        /// The rate window, e.g. "5m" (default: the configuration's window, else 5m).
        #[arg(long)]
        window: Option<String>,
    },
}

/// Where the packaged configuration lives.
const DEFAULT_CONFIG: &str = "/etc/faultline/faultline.toml";

#[derive(Subcommand)]
enum SilenceAction {
    /// Silences a service (or a route pattern) for a duration or until an instant; state is still tracked and
    /// its incident's living message still edited, but nothing notifies.
    Add {
        /// The service to silence.
        #[arg(long, short)]
        service: Option<String>,
        /// Only while every failing route matches this pattern (`*` matches anything), e.g. "GET /reports/*".
        #[arg(long)]
        route: Option<String>,
        /// How long, e.g. "1h", "30m".
        #[arg(long = "for", conflicts_with = "until", allow_hyphen_values = true)]
        for_: Option<String>,
        /// Until an RFC 3339 instant, e.g. "2025-12-01T22:00:00Z".
        #[arg(long)]
        until: Option<String>,
        /// Why (shown in the living message and on the status page).
        #[arg(long, default_value = "")]
        reason: String,
        /// Who silences.
        #[arg(long)]
        by: Option<String>,
        /// Configuration file (its listen address and operator_token).
        #[arg(long, short, default_value = DEFAULT_CONFIG)]
        config: PathBuf,
    },
    /// Lists the silences (active, and those ended within a day).
    List {
        /// Configuration file (its listen address and operator_token).
        #[arg(long, short, default_value = DEFAULT_CONFIG)]
        config: PathBuf,
    },
    /// Ends a silence now.
    Remove {
        /// Its number (from `silence list`).
        id: u64,
        /// Configuration file (its listen address and operator_token).
        #[arg(long, short, default_value = DEFAULT_CONFIG)]
        config: PathBuf,
    },
}

/// Runs one call of the operator API client and prints its answer.
fn operate(config: &std::path::Path, f: impl AsyncFnOnce(Config) -> Result<String, String>) -> Result<(), String> {
    let cfg = Config::load(config).map_err(|e| e.to_string())?;
    let out = runtime()?.block_on(f(cfg))?;
    println!("{out}");
    Ok(())
}

fn silence(action: SilenceAction) -> Result<(), String> {
    use faultline_collector::operate::client;
    match action {
        SilenceAction::Add { service, route, for_, until, reason, by, config } => {
            let a = client::AddSilence { service, route, for_, until, reason, by };
            operate(&config, async move |c| client::add(&c, a).await)
        }
        SilenceAction::List { config } => operate(&config, async move |c| client::list(&c).await),
        SilenceAction::Remove { id, config } => operate(&config, async move |c| client::remove(&c, id).await),
    }
}

fn duration(what: &str, v: &str) -> Result<std::time::Duration, String> {
    match humantime::parse_duration(v) {
        Ok(d) if !d.is_zero() => Ok(d),
        Ok(_) => Err(format!("--{what}: must be above zero")),
        Err(e) => Err(format!("--{what}: {v:?} is not a duration like \"1h\" or \"5m\": {e}")),
    }
}

fn history(
    service: Option<String>,
    since: &str,
    config: Option<PathBuf>,
    state_dir: Option<PathBuf>,
) -> Result<(), String> {
    let since = duration("since", since)?;
    let cfg = config.as_deref().map(Config::load).transpose().map_err(|e| e.to_string())?;
    let dir = match (&cfg, state_dir) {
        (Some(c), _) => c.state_dir.clone(),
        (None, Some(d)) => d,
        (None, None) => PathBuf::from("/var/lib/faultline-collector"),
    };
    let src = faultline_collector::observe::report::Source { state_dir: &dir, config: cfg.as_ref() };
    let text = faultline_collector::observe::report::history(
        &src,
        service.as_deref(),
        since,
        faultline_collector::clock::now_ms(),
    )
    .map_err(|e| e.to_string())?;
    print!("{text}");
    Ok(())
}

fn rules(config: Option<PathBuf>, window: Option<String>) -> Result<(), String> {
    let cfg = config.as_deref().map(Config::load).transpose().map_err(|e| e.to_string())?;
    let window = window.as_deref().map(|w| duration("window", w)).transpose()?;
    print!("{}", faultline_collector::observe::report::rules(cfg.as_ref(), window));
    Ok(())
}

/// Prints the report on stdout; every problem is an error line (`faultline-collector: file:line: ...`).
fn check_proxy(file: &std::path::Path, config: Option<PathBuf>) -> Result<(), String> {
    let cfg = config.as_deref().map(Config::load).transpose().map_err(|e| e.to_string())?;
    let report = faultline_collector::proxycheck::check_file(file, cfg.as_ref()).map_err(|e| e.to_string())?;
    print!("{}", report.summary());
    if report.problems.is_empty() {
        return Ok(());
    }
    let lines: Vec<String> = report.problems.iter().map(ToString::to_string).collect();
    Err(lines.join("\nfaultline-collector: "))
}

fn init_logs() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("FAULTLINE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr)
        .init();
}

fn runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| format!("tokio runtime: {e}"))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::CheckConfig { path } => {
            Config::load(&path).map(|c| print!("{}", c.masked_toml())).map_err(|e| e.to_string())
        }
        Command::CheckProxy { file, config } => check_proxy(&file, config),
        Command::Run { config } => {
            init_logs();
            Config::load(&config)
                .map_err(|e| e.to_string())
                .and_then(|cfg| runtime()?.block_on(faultline_collector::app::run(cfg)).map_err(|e| e.to_string()))
        }
        Command::TestAlert { config, service } => {
            init_logs();
            Config::load(&config)
                .map_err(|e| e.to_string())
                .and_then(|cfg| {
                    runtime()?
                        .block_on(faultline_collector::deliver::test_alert::run(cfg, service))
                        .map_err(|e| e.to_string())
                })
                .map(|done| println!("{done}"))
        }
        Command::History { service, since, config, state_dir } => history(service, &since, config, state_dir),
        Command::Rules { config, window } => rules(config, window),
        Command::Silence { action } => silence(action),
        Command::Ack { service, by, config } => {
            let by = by.or_else(|| std::env::var("USER").ok());
            operate(&config, async move |c| faultline_collector::operate::client::ack(&c, &service, by).await)
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("faultline-collector: {e}");
            ExitCode::FAILURE
        }
    }
}
