//! [`OximeterScript`]: the simulated oximeter's output, sans-I/O. Each call to
//! [`next_chunk`](OximeterScript::next_chunk) gives the bytes of the next line (faults applied)
//! and updates the [`OximeterReport`]: what was written and what a correct receiver must count.
//!
//! Values replay the real MIMIC-II numerics record ([`mimic2_numerics`]): frame `k` gives the
//! `SpO2` and `PULSE` (the SpO2-derived pulse rate) of line `k`, one frame per line, starting at
//! a chosen frame and wrapping at the end. A frame where the monitor recorded nothing gives
//! dashes, as a real device would send. The device clock advances one second per line.

use anyhow::{Context, Result};
use chrono::{NaiveDateTime, TimeDelta};

use super::faults::Faults;
use super::line::{EXC_LOW_PERFUSION, EXC_SENSOR_OFF, OximeterLine};
use crate::mimic::mimic2_numerics;

/// Bytes of line noise in a `garbage` burst.
pub const GARBAGE_BYTES: usize = 32;

/// What the simulator wrote and what a correct receiver must make of it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OximeterReport {
    /// Lines produced (one per tick), damaged or not.
    pub lines: u64,
    /// Bytes written, noise included.
    pub bytes_written: u64,
    /// Lines a receiver gets whole.
    pub intact_lines: u64,
    /// Frames a receiver must reject: noise bursts, half lines, lines run together (a pair
    /// counts once).
    pub malformed_lines: u64,
    /// Numbers on intact lines: readings a receiver must produce.
    pub readings: u64,
    /// Of those, numbers on lines with a questionable exception bit (low perfusion).
    pub questionable_readings: u64,
    /// Intact lines without a single number (sensor off, or no data in the record's frame).
    pub no_value_lines: u64,
    /// Faults injected, by kind.
    pub garbage: u64,
    /// See [`Faults::half`].
    pub half: u64,
    /// See [`Faults::drop`].
    pub dropped: u64,
    /// See [`Faults::exc`].
    pub exc: u64,
    /// See [`Faults::dashes`].
    pub dashes: u64,
}

/// Settings of a script.
#[derive(Debug, Clone, PartialEq)]
pub struct ScriptConfig {
    /// The device time of the first line (local wall clock).
    pub start: NaiveDateTime,
    /// The serial number, or `None` for `SN=----------`.
    pub serial_number: Option<String>,
    /// The first MIMIC-II frame replayed.
    pub start_frame: usize,
    /// Lines in the run, when bounded (the last line is never dropped).
    pub count: Option<u64>,
    /// The damage to do.
    pub faults: Faults,
}

/// The oximeter's output, line by line. See the module documentation.
#[derive(Debug, Clone)]
pub struct OximeterScript {
    config: ScriptConfig,
    /// (SpO2, pulse) per MIMIC-II frame.
    series: Vec<(Option<f64>, Option<f64>)>,
    /// The previous line was dropped into this one: no fault, and not intact.
    joined_to_previous: bool,
    noise_state: u32,
    report: OximeterReport,
}

impl OximeterScript {
    /// A script replaying the embedded MIMIC-II record.
    pub fn new(config: ScriptConfig) -> Result<OximeterScript> {
        let numerics = mimic2_numerics()?;
        let index = |name: &str| {
            numerics.signals().iter().position(|s| s.name == name).with_context(|| format!("no {name} signal"))
        };
        let (spo2, pulse) = (index("SpO2")?, index("PULSE")?);
        let series = numerics
            .frames()
            .iter()
            .map(|f| (f.get(spo2).copied().flatten(), f.get(pulse).copied().flatten()))
            .collect::<Vec<_>>();
        anyhow::ensure!(!series.is_empty(), "the MIMIC-II record has no frames");
        Ok(OximeterScript {
            config,
            series,
            joined_to_previous: false,
            noise_state: 0x2545_F491,
            report: OximeterReport::default(),
        })
    }

    /// The report so far.
    pub fn report(&self) -> OximeterReport {
        self.report
    }

    /// Whether a bounded run has produced all its lines.
    pub fn finished(&self) -> bool {
        self.config.count.is_some_and(|n| self.report.lines >= n)
    }

    /// The clean line with index `index` (0-based), before any fault.
    pub fn line(&self, index: u64) -> OximeterLine {
        let frame = (self.config.start_frame as u64 + index) % self.series.len() as u64;
        let (spo2, pulse) = self.series.get(frame as usize).copied().unwrap_or_default();
        let seconds = i64::try_from(index).unwrap_or(i64::MAX);
        OximeterLine {
            time: self.config.start + TimeDelta::try_seconds(seconds).unwrap_or(TimeDelta::zero()),
            serial_number: self.config.serial_number.clone(),
            spo2,
            pulse,
            exceptions: 0,
        }
    }

    /// The bytes of the next line, faults applied.
    pub fn next_chunk(&mut self) -> Vec<u8> {
        let index = self.report.lines;
        let n = index + 1; // faults count lines from 1
        let mut line = self.line(index);
        let faults = self.config.faults;
        let joined = std::mem::take(&mut self.joined_to_previous);
        let last = self.config.count.is_some_and(|count| n >= count);
        let mut out = Vec::new();
        let r = &mut self.report;
        r.lines += 1;

        if joined {
            out.extend(line.to_bytes());
        } else {
            if Faults::hits(faults.garbage, n) {
                r.garbage += 1;
                r.malformed_lines += 1;
                for _ in 0..GARBAGE_BYTES {
                    self.noise_state ^= self.noise_state << 13;
                    self.noise_state ^= self.noise_state >> 17;
                    self.noise_state ^= self.noise_state << 5;
                    out.push(0x80 | (self.noise_state & 0x7F) as u8);
                }
                out.extend(b"\r\n");
            }
            if Faults::hits(faults.half, n) {
                r.half += 1;
                r.malformed_lines += 1;
                let bytes = line.to_bytes();
                out.extend(bytes.get(..(bytes.len() - 2) / 2).unwrap_or_default());
                out.extend(b"\r\n");
            } else if Faults::hits(faults.drop, n) && !last {
                r.dropped += 1;
                r.malformed_lines += 1;
                let bytes = line.to_bytes();
                out.extend(bytes.strip_suffix(b"\r\n").unwrap_or(&bytes));
                self.joined_to_previous = true;
            } else {
                if Faults::hits(faults.dashes, n) {
                    r.dashes += 1;
                    (line.spo2, line.pulse, line.exceptions) = (None, None, EXC_SENSOR_OFF);
                } else if Faults::hits(faults.exc, n) {
                    r.exc += 1;
                    line.exceptions = EXC_LOW_PERFUSION;
                    r.questionable_readings += line.value_count();
                }
                r.intact_lines += 1;
                r.readings += line.value_count();
                r.no_value_lines += u64::from(line.value_count() == 0);
                out.extend(line.to_bytes());
            }
        }
        self.report.bytes_written += out.len() as u64;
        out
    }
}
