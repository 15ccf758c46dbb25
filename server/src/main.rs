//! `baoming-server`: run the service (`serve`) or administer a database (`admin …`).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use baoming_server::admin;
use baoming_server::config::{Config, FlagOverrides};
use baoming_server::identity::operators::Role;

// The sync path allocates and frees many small buffers per message (frames, changes, sync
// messages) across two threads; mimalloc's per-thread free lists serve that pattern better than
// the system allocator (see the sync benchmark in the README).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Baoming exam registration server.
#[derive(Debug, Parser)]
#[command(name = "baoming-server", version, about)]
struct Cli {
    /// Configuration file (TOML).
    #[arg(long, global = true, env = "BAOMING_CONFIG")]
    config: Option<PathBuf>,
    /// Database folder (overrides the file and BAOMING_DATA_DIR).
    #[arg(long, global = true)]
    data_dir: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the service (the default command).
    Serve {
        /// Address to listen on (overrides the file and BAOMING_LISTEN).
        #[arg(long)]
        listen: Option<SocketAddr>,
    },
    /// Administer a database (run while the server is stopped).
    Admin {
        #[command(subcommand)]
        command: AdminCommand,
    },
}

#[derive(Debug, Subcommand)]
enum AdminCommand {
    /// Catalog files.
    Catalog {
        #[command(subcommand)]
        command: CatalogCommand,
    },
    /// Operator accounts.
    Operator {
        #[command(subcommand)]
        command: OperatorCommand,
    },
    /// Show notifications that were not delivered by a transport.
    Outbox,
    /// Write a backup of the database to FILE.
    Backup {
        /// Target file.
        file: PathBuf,
    },
    /// Restore a backup from FILE into an empty database.
    Restore {
        /// Backup file.
        file: PathBuf,
    },
    /// Verify the hash-chained audit log.
    AuditVerify,
}

#[derive(Debug, Subcommand)]
enum CatalogCommand {
    /// Check a catalog TOML file without touching the database.
    Validate {
        /// Catalog file.
        file: PathBuf,
    },
    /// Validate and import a catalog TOML file.
    Import {
        /// Catalog file.
        file: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
enum OperatorCommand {
    /// Create an operator (the password is generated and printed unless given).
    Create {
        /// User name.
        username: String,
        /// administrator, center_operator or auditor.
        #[arg(long)]
        role: Role,
        /// A center the operator works for (repeat for several).
        #[arg(long = "center")]
        centers: Vec<String>,
        /// Password (read from BAOMING_OPERATOR_PASSWORD when set; generated otherwise).
        #[arg(long, env = "BAOMING_OPERATOR_PASSWORD", hide_env_values = true)]
        password: Option<String>,
    },
    /// Set a new password (generated unless given) and end the operator's sessions.
    ResetPassword {
        /// User name.
        username: String,
        /// Password (read from BAOMING_OPERATOR_PASSWORD when set; generated otherwise).
        #[arg(long, env = "BAOMING_OPERATOR_PASSWORD", hide_env_values = true)]
        password: Option<String>,
    },
}

fn init_logs() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("BAOMING_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr)
        .init();
}

#[allow(clippy::print_stdout)]
fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logs();
    let listen = match &cli.command {
        Some(Command::Serve { listen }) => *listen,
        _ => None,
    };
    let flags = FlagOverrides { listen, data_dir: cli.data_dir.clone() };
    let config = match Config::load(cli.config.as_deref(), std::env::vars(), &flags) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let result: Result<(), String> = match cli.command.unwrap_or(Command::Serve { listen: None }) {
        Command::Serve { .. } => {
            let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
                Ok(r) => r,
                Err(e) => {
                    eprintln!("error: tokio runtime: {e}");
                    return ExitCode::FAILURE;
                }
            };
            runtime.block_on(baoming_server::serve::serve(config)).map_err(|e| e.to_string())
        }
        Command::Admin { command } => run_admin(&config, command),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

#[allow(clippy::print_stdout)]
fn run_admin(config: &Config, command: AdminCommand) -> Result<(), String> {
    let s = |e: admin::AdminError| e.to_string();
    match command {
        AdminCommand::Catalog { command: CatalogCommand::Validate { file } } => {
            println!("{}", admin::catalog_validate(&file).map_err(s)?);
        }
        AdminCommand::Catalog { command: CatalogCommand::Import { file } } => {
            println!("{}", admin::catalog_import(config, &file).map_err(s)?);
        }
        AdminCommand::Operator { command: OperatorCommand::Create { username, role, centers, password } } => {
            let (op, generated) =
                admin::operator_create(config, &username, role, centers, password).map_err(s)?;
            println!("created operator {} ({}) with role {:?}", op.username, op.id, op.role);
            if let Some(p) = generated {
                println!("password: {p}");
            }
        }
        AdminCommand::Operator { command: OperatorCommand::ResetPassword { username, password } } => {
            let generated = admin::operator_reset_password(config, &username, password).map_err(s)?;
            println!("password of {username} changed; its sessions were ended");
            if let Some(p) = generated {
                println!("password: {p}");
            }
        }
        AdminCommand::Outbox => {
            let entries = admin::outbox(config).map_err(s)?;
            if entries.is_empty() {
                println!("the outbox is empty");
            }
            for e in entries {
                println!("--- {} via {} ({}) to {}", e.created, e.channel, e.reason, e.message.to);
                println!("subject: {}", e.message.subject);
                println!("{}", e.message.body);
            }
        }
        AdminCommand::Backup { file } => {
            let n = admin::backup(config, &file).map_err(s)?;
            println!("wrote {n} records to {}", file.display());
        }
        AdminCommand::Restore { file } => {
            let (n, entries) = admin::restore(config, &file).map_err(s)?;
            println!("restored {n} records; audit chain intact ({entries} entries)");
        }
        AdminCommand::AuditVerify => {
            let n = admin::audit_verify(config).map_err(s)?;
            println!("audit chain intact: {n} entries");
        }
    }
    Ok(())
}
