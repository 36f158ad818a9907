//! `wardstream audit verify`: checks the audit trail of a data directory ([`super::verify`]).
//!
//! Exit status 0 when every record is intact; 1 naming the first broken record; 2 when the
//! chain is intact but ends in an incomplete record (a crash mid-write, cut off when the service
//! next starts).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Subcommand;

/// `wardstream audit …`.
#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Check the hash chain of the audit trail: exit 0 when intact, non-zero naming the first
    /// broken record.
    Verify {
        /// Data directory holding `audit/`.
        #[arg(long = "data", visible_alias = "data-dir", default_value = "./wardstream-data")]
        data_dir: PathBuf,
    },
}

/// Runs the command, printing the outcome (stdout when intact, stderr otherwise).
pub fn run(command: AuditCommand) -> anyhow::Result<ExitCode> {
    match command {
        AuditCommand::Verify { data_dir } => {
            anyhow::ensure!(data_dir.is_dir(), "no data directory at {}", data_dir.display());
            let report = super::verify(&data_dir)?;
            let (text, code) = describe(&report);
            if code == 0 {
                println!("{text}");
            } else {
                eprintln!("{text}");
            }
            Ok(ExitCode::from(code))
        }
    }
}

/// The message and exit status for a report.
pub fn describe(report: &super::VerifyReport) -> (String, u8) {
    if let Some(broken) = &report.broken {
        return (format!("audit trail BROKEN at {broken}"), 1);
    }
    if let Some(torn) = &report.torn_tail {
        return (
            format!(
                "audit trail intact up to record seq {}, then an incomplete record of {} bytes at offset {} \
                 (a write cut short by a crash; the service cuts it off when it next starts)",
                report.records_checked, torn.bytes, torn.offset
            ),
            2,
        );
    }
    (format!("audit trail intact: {} records", report.records_checked), 0)
}
