//! Vital-sign numerics from a WFDB record, in physical units, with missing values as `None`.
//!
//! [`mimic2_numerics`] decodes the MIMIC-II numerics record embedded in the crate (see
//! `data/README.md` for its source and licence): 10 signals, one frame a minute, 1,936 frames.
//! [`Numerics::from_wfdb`] does the same for any format-16 header/data pair.

use anyhow::{Context, Result};

use crate::wfdb::{Header, INVALID_SAMPLE, Record};

/// The embedded MIMIC-II numerics header (`s00001-2896-10-10-00-31n.hea`).
pub const MIMIC2_HEADER: &str = include_str!("../data/mimic2-numerics/s00001-2896-10-10-00-31n.hea");

/// The embedded MIMIC-II numerics signal file (`3975656n.dat`, format 16).
pub const MIMIC2_DATA: &[u8] = include_bytes!("../data/mimic2-numerics/3975656n.dat");

/// One signal of a numerics record.
#[derive(Debug, Clone, PartialEq)]
pub struct SignalInfo {
    /// The signal name, exactly as the header describes it (`HR`, `ABPSys`, `SpO2`, …).
    pub name: String,
    /// The units as the header writes them (`bpm`, `mmHg`, `pm`, `%`).
    pub units: String,
    /// ADC units per physical unit: physical value = (sample − baseline) / gain.
    pub gain: f64,
    /// The sample value of physical zero (the header's ADC zero unless given explicitly).
    pub baseline: i32,
}

impl SignalInfo {
    /// The UCUM unit for SenML `u`: see [`ucum_unit`].
    pub fn ucum_unit(&self) -> &str {
        ucum_unit(&self.units)
    }
}

/// Maps WFDB unit spellings to UCUM: `bpm` → `beat/min`, `mmHg` → `mm[Hg]`, `pm` (per minute,
/// the respiration rate) → `/min`; anything else (`%`, `mV`, …) is returned unchanged.
pub fn ucum_unit(wfdb_units: &str) -> &str {
    match wfdb_units {
        "bpm" => "beat/min",
        "mmHg" => "mm[Hg]",
        "pm" => "/min",
        other => other,
    }
}

/// A numerics record in physical units: `frames[i][s]` is signal `s` in frame `i`.
#[derive(Debug, Clone, PartialEq)]
pub struct Numerics {
    record: String,
    sampling_frequency: f64,
    signals: Vec<SignalInfo>,
    frames: Vec<Vec<Option<f64>>>,
}

/// Whether a stored sample marks a missing value. In MIMIC-II numerics both the WFDB invalid
/// sample (−32768) and 0 mean "not measured" (a heart rate or pressure of exactly 0 is never
/// recorded as a value).
pub const fn is_missing(sample: i16) -> bool {
    sample == INVALID_SAMPLE || sample == 0
}

impl Numerics {
    /// Decodes a WFDB header and its format-16 signal file. The checksums in the header must
    /// match the data. Samples for which [`is_missing`] holds become `None`.
    pub fn from_wfdb(header: &str, data: &[u8]) -> Result<Numerics> {
        let header = Header::parse(header)?;
        let record = Record::decode(header, data)?;
        record.verify_checksums()?;
        Ok(Numerics::from_record(&record))
    }

    /// Converts a decoded record to physical values.
    pub fn from_record(record: &Record) -> Numerics {
        let specs = &record.header.signals;
        let signals = specs
            .iter()
            .map(|s| SignalInfo {
                name: s.description.clone(),
                units: s.units.clone(),
                gain: s.gain,
                baseline: s.baseline,
            })
            .collect::<Vec<_>>();
        let frames = (0..record.frame_count())
            .filter_map(|i| record.frame(i))
            .map(|frame| {
                frame
                    .iter()
                    .zip(&signals)
                    .map(|(&sample, signal)| {
                        (!is_missing(sample)).then(|| f64::from(i32::from(sample) - signal.baseline) / signal.gain)
                    })
                    .collect()
            })
            .collect();
        Numerics {
            record: record.header.record.clone(),
            sampling_frequency: record.header.sampling_frequency,
            signals,
            frames,
        }
    }

    /// The record name from the header.
    pub fn record(&self) -> &str {
        &self.record
    }

    /// Frames per second in the original recording (1/60 for the MIMIC-II numerics).
    pub fn sampling_frequency(&self) -> f64 {
        self.sampling_frequency
    }

    /// The signals, in header order.
    pub fn signals(&self) -> &[SignalInfo] {
        &self.signals
    }

    /// All frames; each has one entry per signal, `None` where the value is missing.
    pub fn frames(&self) -> &[Vec<Option<f64>>] {
        &self.frames
    }

    /// Number of frames.
    pub fn frame_count(&self) -> usize {
        self.frames.len()
    }

    /// The present values of frame `index` as `(signal, value)`, in header order; empty past the end.
    pub fn readings(&self, index: usize) -> impl Iterator<Item = (&SignalInfo, f64)> + '_ {
        let frame = self.frames.get(index).map(Vec::as_slice).unwrap_or_default();
        self.signals.iter().zip(frame).filter_map(|(signal, value)| value.map(|v| (signal, v)))
    }
}

/// Decodes the embedded MIMIC-II numerics record (10 signals, 1,936 frames).
pub fn mimic2_numerics() -> Result<Numerics> {
    Numerics::from_wfdb(MIMIC2_HEADER, MIMIC2_DATA).context("embedded MIMIC-II numerics record")
}

#[cfg(test)]
mod tests;
