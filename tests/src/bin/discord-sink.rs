//! `discord-sink [--listen 127.0.0.1:PORT]`: the Discord-compatible test server as a process that
//! prints every accepted webhook message readably as it arrives — the demo's stand-in for a Discord
//! channel. Prints its base URL first (port 0 picks a free port). Stops on SIGINT/SIGTERM.

use std::io::{IsTerminal, Write};
use std::net::SocketAddr;
use std::time::{SystemTime, UNIX_EPOCH};

use faultline_tests::discord::{FakeDiscord, Options, render};

const USAGE: &str = "usage: discord-sink [--listen 127.0.0.1:PORT]\n\
  Serves Discord's webhook API (POST /api/v10/webhooks/{id}/{token}) on loopback and prints\n\
  each accepted message. Use {url}/api/v10/webhooks/1/sink as the webhook URL.";

fn main() {
    if let Err(e) = run() {
        eprintln!("discord-sink: {e}");
        std::process::exit(2);
    }
}

fn run() -> Result<(), String> {
    let mut listen = SocketAddr::from(([127, 0, 0, 1], 0));
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--listen" => {
                let value = args.next().ok_or("--listen needs an address, e.g. 127.0.0.1:8099")?;
                listen = value.parse().map_err(|e| format!("--listen {value}: {e}"))?;
            }
            "-h" | "--help" => {
                println!("{USAGE}");
                return Ok(());
            }
            other => return Err(format!("unknown argument {other:?}\n{USAGE}")),
        }
    }
    let discord = FakeDiscord::start_with(Options { bind: listen, ..Options::default() })?;
    let messages = discord.subscribe();
    let colour = std::io::stdout().is_terminal();
    {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "discord-sink listening on {}", discord.base_url());
        let _ = writeln!(out, "webhook URL: {}", discord.webhook_url(1, "sink"));
        let _ = out.flush();
    }
    for (webhook, message) in messages {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
        let received = format!("{:02}:{:02}:{:02} UTC", now % 86_400 / 3600, now % 3600 / 60, now % 60);
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{}", render::render(webhook, &message, &received, colour));
        let _ = out.flush();
    }
    Ok(())
}
