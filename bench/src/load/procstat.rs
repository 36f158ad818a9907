//! CPU time and peak memory of a process, from `/proc` (Linux): `utime + stime` of
//! `/proc/<pid>/stat` (every thread of the process, exited ones included) and `VmHWM` of
//! `/proc/<pid>/status`.

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

use anyhow::{Context, bail};

/// Which process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Process {
    /// This one.
    Current,
    /// Another one, by id.
    Pid(u32),
}

impl Process {
    fn dir(self) -> PathBuf {
        match self {
            Process::Current => PathBuf::from("/proc/self"),
            Process::Pid(pid) => PathBuf::from(format!("/proc/{pid}")),
        }
    }
}

/// Clock ticks per second of `/proc/<pid>/stat` times (`getconf CLK_TCK`; 100 when unknown,
/// which is what Linux uses on every common architecture).
fn ticks_per_second() -> f64 {
    static TICKS: OnceLock<f64> = OnceLock::new();
    *TICKS.get_or_init(|| {
        Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .and_then(|s| s.trim().parse::<f64>().ok())
            .filter(|t| *t > 0.0)
            .unwrap_or(100.0)
    })
}

/// CPU seconds (user + system) the process has used so far.
pub fn cpu_seconds(process: Process) -> anyhow::Result<f64> {
    let path = process.dir().join("stat");
    let text = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    parse_cpu_ticks(&text).map(|ticks| ticks as f64 / ticks_per_second())
}

/// `utime + stime` (fields 14 and 15) of a `/proc/<pid>/stat` line. The command name (field 2)
/// may contain spaces and parentheses, so fields are counted after its last `)`.
pub fn parse_cpu_ticks(stat: &str) -> anyhow::Result<u64> {
    let Some((_, after)) = stat.rsplit_once(')') else { bail!("no command name in /proc stat line") };
    let fields: Vec<&str> = after.split_whitespace().collect();
    // `after` starts at field 3 (state): utime is field 14, at index 11.
    let field = |i: usize| -> anyhow::Result<u64> {
        fields.get(i).context("short /proc stat line")?.parse::<u64>().context("non-numeric /proc stat field")
    };
    Ok(field(11)? + field(12)?)
}

/// The process's peak resident set size in MiB (`VmHWM`).
pub fn peak_rss_mib(process: Process) -> anyhow::Result<f64> {
    let path = process.dir().join("status");
    let text = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    parse_vm_hwm_kib(&text).map(|kib| kib as f64 / 1024.0)
}

/// The `VmHWM:` line of a `/proc/<pid>/status`, in KiB.
pub fn parse_vm_hwm_kib(status: &str) -> anyhow::Result<u64> {
    let line = status.lines().find_map(|l| l.strip_prefix("VmHWM:")).context("no VmHWM line")?;
    let number = line.trim().trim_end_matches("kB").trim();
    number.parse::<u64>().with_context(|| format!("VmHWM '{number}'"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_lines_give_user_plus_system_ticks() {
        let line = "4242 (load (x) y) S 1 4242 4242 0 -1 4194304 900 0 0 0 1234 56 0 0 20 0 9 0 77 0 0";
        assert_eq!(parse_cpu_ticks(line).unwrap(), 1290);
        assert!(parse_cpu_ticks("4242 (load) S 1").is_err());
        assert!(cpu_seconds(Process::Current).unwrap() >= 0.0);
    }

    #[test]
    fn status_gives_the_high_water_mark() {
        assert_eq!(parse_vm_hwm_kib("Name:\tload\nVmPeak:\t 9 kB\nVmHWM:\t  204800 kB\n").unwrap(), 204_800);
        assert!(parse_vm_hwm_kib("Name:\tload\n").is_err());
        assert!(peak_rss_mib(Process::Current).unwrap() > 0.0);
    }
}
