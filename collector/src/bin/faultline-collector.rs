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
    /// Sends a clearly marked test alert through the real outbox and delivery path.
    TestAlert {
        /// Configuration file (TOML).
        #[arg(long, short)]
        config: PathBuf,
        /// Service whose webhook and link to use (default: the first configured).
        #[arg(long, short)]
        service: Option<String>,
    },
}

fn init_logs() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("FAULTLINE_LOG").unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt().with_env_filter(filter).with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr())).with_writer(std::io::stderr).init();
}

fn runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().map_err(|e| format!("tokio runtime: {e}"))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::CheckConfig { path } => Config::load(&path).map(|c| print!("{}", c.masked_toml())).map_err(|e| e.to_string()),
        Command::Run { config } => {
            init_logs();
            Config::load(&config).map_err(|e| e.to_string()).and_then(|cfg| runtime()?.block_on(faultline_collector::app::run(cfg)).map_err(|e| e.to_string()))
        }
        Command::TestAlert { config, service } => {
            init_logs();
            Config::load(&config)
                .map_err(|e| e.to_string())
                .and_then(|cfg| runtime()?.block_on(faultline_collector::testalert::run(cfg, service)).map_err(|e| e.to_string()))
                .map(|done| println!("{done}"))
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
