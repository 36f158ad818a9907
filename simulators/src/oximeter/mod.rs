//! A simulated Masimo pulse oximeter on a serial port: "ASCII 1" lines at 1 Hz (or faster),
//! replaying the real MIMIC-II SpO2 and pulse series, with injectable faults.
//!
//! - [`OximeterLine`] (`line`): one line in a Radical-7's layout.
//! - [`Faults`] (`faults`): garbage bursts, half lines, dropped line ends, exception bits and
//!   dashes, each every N-th line, so what a receiver must count is known exactly.
//! - [`OximeterScript`] (`script`): sans-I/O; the bytes of each line and an
//!   [`OximeterReport`] of what was written and what a correct receiver must make of it.
//! - [`run_oximeter`] (`run`): writes the script to a port at [`OximeterConfig::rate_hz`].
//!
//! The `wardsim serial --port PATH [--rate HZ] [--count N] [--faults garbage:10,half:7,…]`
//! binary runs it and prints the report as JSON. For a device on a pseudo-terminal:
//! `socat -d -d pty,raw,echo=0,link=/tmp/spo2 pty,raw,echo=0,link=/tmp/spo2-device`, then point
//! wardstream's serial source at `/tmp/spo2` and run `wardsim serial --port /tmp/spo2-device`.
//!
//! ```
//! use wardstream_simulators::oximeter::{Faults, OximeterScript, ScriptConfig};
//!
//! let start = chrono::NaiveDateTime::parse_from_str("2026-01-02 03:04:05", "%Y-%m-%d %H:%M:%S")?;
//! let faults: Faults = "half:2".parse().map_err(anyhow::Error::msg)?;
//! let config = ScriptConfig { start, serial_number: None, start_frame: 0, count: Some(2), faults };
//! let mut script = OximeterScript::new(config)?;
//! let first = script.next_chunk();
//! assert!(first.starts_with(b"01/02/26 03:04:05 SN=---------- SPO2="));
//! let second = script.next_chunk(); // half a line
//! assert!(script.finished());
//! let report = script.report();
//! assert_eq!((report.lines, report.intact_lines, report.malformed_lines, report.half), (2, 1, 1, 1));
//! assert_eq!(report.bytes_written, (first.len() + second.len()) as u64);
//! # Ok::<(), anyhow::Error>(())
//! ```

mod faults;
mod line;
mod run;
mod script;

#[cfg(test)]
mod tests;

pub use faults::{FAULT_KINDS, Faults};
pub use line::{EXC_LOW_PERFUSION, EXC_NO_SENSOR, EXC_SENSOR_OFF, OximeterLine};
pub use run::{DRAIN_TIMEOUT, OximeterConfig, run_oximeter};
pub use script::{GARBAGE_BYTES, OximeterReport, OximeterScript, ScriptConfig};
