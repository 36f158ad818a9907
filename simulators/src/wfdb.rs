//! A small reader for PhysioNet WFDB records: the text header (`.hea`) and signal files in
//! format 16. Sans-I/O: text and bytes in, [`Header`] and [`Record`] out.
//!
//! Format 16 stores one little-endian `i16` per signal per frame, signals interleaved in header
//! order. The header's checksum of a signal is the sum of its samples modulo 2¹⁶, read as an
//! `i16`; [`Record::verify_checksums`] compares it with the data, which proves the decode.
//!
//! Reference: `header(5)` and `signal(5)` of the WFDB Software Package (PhysioNet).

use anyhow::{Context, Result, bail, ensure};

/// The WFDB "invalid sample" value in 16-bit formats.
pub const INVALID_SAMPLE: i16 = i16::MIN;

/// The default ADC gain (units per adu) when a header gives none or `0`.
const DEFAULT_GAIN: f64 = 200.0;

/// The record line and signal lines of a WFDB header.
#[derive(Debug, Clone, PartialEq)]
pub struct Header {
    /// Record name (the first field of the record line).
    pub record: String,
    /// Sampling frequency in frames per second (`0.0166666666667` is one frame a minute).
    pub sampling_frequency: f64,
    /// Counter frequency, if given after a `/` (`125` in `0.0166666666667/125`).
    pub counter_frequency: Option<f64>,
    /// Number of frames the header announces (`None` when absent or 0, meaning "unknown").
    pub samples_per_signal: Option<usize>,
    /// Base time as written (`HH:MM:SS`, `MM:SS.sss`, …), if any.
    pub base_time: Option<String>,
    /// Base date as written (`DD/MM/YYYY`), if any.
    pub base_date: Option<String>,
    /// One entry per signal, in file order.
    pub signals: Vec<SignalSpec>,
    /// `#` comment lines, without the `#` and surrounding blanks.
    pub comments: Vec<String>,
}

/// One signal line of a WFDB header.
#[derive(Debug, Clone, PartialEq)]
pub struct SignalSpec {
    /// Signal file name (`3975656n.dat`).
    pub file: String,
    /// Storage format (`16`).
    pub format: u16,
    /// Byte offset of the first sample in the signal file (`+offset` after the format).
    pub byte_offset: usize,
    /// ADC units per physical unit (`10` in `10/bpm`); the WFDB default 200 when absent or 0.
    pub gain: f64,
    /// The sample value of physical zero (`gain(baseline)`); defaults to `adc_zero`.
    pub baseline: i32,
    /// Physical units as written (`bpm`, `mmHg`, `pm`, `%`); `mV` when absent.
    pub units: String,
    /// ADC resolution in bits.
    pub adc_resolution: Option<u32>,
    /// The ADC output for a zero input.
    pub adc_zero: i32,
    /// The value of the first sample, if given.
    pub initial_value: Option<i32>,
    /// The 16-bit checksum of all samples, if given.
    pub checksum: Option<i16>,
    /// Block size (0 for ordinary files).
    pub block_size: Option<u32>,
    /// Signal description, the rest of the line (`HR`, `ABPSys`, …).
    pub description: String,
}

/// A decoded record: its header and the raw samples, frame by frame.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    /// The parsed header.
    pub header: Header,
    /// `samples[frame * signals + signal]`, as stored (not scaled).
    samples: Vec<i16>,
}

impl Header {
    /// Parses a WFDB header. Multi-segment headers (`name/segments`) are rejected.
    pub fn parse(text: &str) -> Result<Header> {
        let mut comments = Vec::new();
        let mut lines = text.lines().enumerate().filter_map(|(index, line)| {
            let line = line.trim();
            if let Some(comment) = line.strip_prefix('#') {
                comments.push(comment.trim().to_owned());
                None
            } else if line.is_empty() {
                None
            } else {
                Some((index + 1, line))
            }
        });
        let (number, record_line) = lines.next().context("WFDB header has no record line")?;
        let mut header = parse_record_line(record_line).with_context(|| format!("WFDB header line {number}"))?;
        let expected = header.signals.capacity();
        for (number, line) in lines.by_ref().take(expected) {
            let spec = parse_signal_line(line).with_context(|| format!("WFDB header line {number}"))?;
            header.signals.push(spec);
        }
        // Draining the iterator also collects trailing comment lines.
        if let Some((number, _)) = lines.next() {
            bail!("WFDB header line {number}: more signal lines than the {expected} announced");
        }
        lines.for_each(drop);
        ensure!(
            header.signals.len() == expected,
            "WFDB header announces {expected} signals but has {} signal lines",
            header.signals.len()
        );
        header.comments = comments;
        Ok(header)
    }
}

/// Parses `name[/segments] nsig [fs[/counter][(base)] [nsamp [time [date]]]]`; `signals` is
/// returned empty with the announced count as its capacity.
fn parse_record_line(line: &str) -> Result<Header> {
    let mut fields = line.split_whitespace();
    let record = fields.next().context("record line is empty")?;
    ensure!(!record.contains('/'), "multi-segment record {record:?} is not supported");
    let nsig: usize =
        parse_field(fields.next(), "number of signals")?.context("record line has no number of signals")?;
    ensure!(nsig <= 4096, "implausible number of signals {nsig}");
    let (sampling_frequency, counter_frequency) = match fields.next() {
        None => (250.0, None), // the WFDB default
        Some(text) => parse_frequency(text)?,
    };
    let samples_per_signal: Option<usize> = parse_field(fields.next(), "number of samples")?;
    Ok(Header {
        record: record.to_owned(),
        sampling_frequency,
        counter_frequency,
        samples_per_signal: samples_per_signal.filter(|&n| n > 0),
        base_time: fields.next().map(str::to_owned),
        base_date: fields.next().map(str::to_owned),
        signals: Vec::with_capacity(nsig),
        comments: Vec::new(),
    })
}

/// Parses `fs[/counter][(base counter)]`.
fn parse_frequency(text: &str) -> Result<(f64, Option<f64>)> {
    let text = text.split('(').next().unwrap_or(text);
    let (fs, counter) = match text.split_once('/') {
        Some((fs, counter)) => (fs, Some(counter)),
        None => (text, None),
    };
    let fs: f64 = fs.parse().with_context(|| format!("bad sampling frequency {fs:?}"))?;
    ensure!(fs.is_finite() && fs > 0.0, "sampling frequency must be positive, got {fs}");
    let counter =
        counter.map(|c| c.parse::<f64>().with_context(|| format!("bad counter frequency {c:?}"))).transpose()?;
    Ok((fs, counter))
}

/// Parses one signal line; fields after the format are optional, as in WFDB.
fn parse_signal_line(line: &str) -> Result<SignalSpec> {
    let mut rest = line;
    let mut next = || {
        let trimmed = rest.trim_start();
        let end = trimmed.find(char::is_whitespace).unwrap_or(trimmed.len());
        let (field, tail) = trimmed.split_at(end);
        rest = tail;
        (!field.is_empty()).then_some(field)
    };
    let file = next().context("signal line is empty")?.to_owned();
    let (format, byte_offset) = parse_format(next().context("signal line has no format")?)?;
    let gain_field = next();
    let adc_resolution = parse_field(next(), "ADC resolution")?;
    let adc_zero = parse_field(next(), "ADC zero")?.unwrap_or(0);
    let initial_value = parse_field(next(), "initial value")?;
    let checksum = parse_field::<i32>(next(), "checksum")?
        .map(|c| i16::try_from(c).with_context(|| format!("checksum {c} out of 16-bit range")))
        .transpose()?;
    let block_size = parse_field(next(), "block size")?;
    let description = rest.trim().to_owned();
    let (gain, baseline, units) = parse_gain(gain_field, adc_zero)?;
    Ok(SignalSpec {
        file,
        format,
        byte_offset,
        gain,
        baseline,
        units,
        adc_resolution,
        adc_zero,
        initial_value,
        checksum,
        block_size,
        description,
    })
}

/// Parses `format[xsamples][:skew][+offset]`; only one sample per frame and no skew are supported.
fn parse_format(text: &str) -> Result<(u16, usize)> {
    let (head, offset) = match text.split_once('+') {
        Some((head, offset)) => (head, offset.parse().with_context(|| format!("bad byte offset in {text:?}"))?),
        None => (text, 0),
    };
    ensure!(!head.contains(['x', ':']), "samples-per-frame and skew ({text:?}) are not supported");
    let format = head.parse().with_context(|| format!("bad format {text:?}"))?;
    Ok((format, offset))
}

/// Parses `gain[(baseline)][/units]`.
fn parse_gain(field: Option<&str>, adc_zero: i32) -> Result<(f64, i32, String)> {
    let Some(field) = field else {
        return Ok((DEFAULT_GAIN, adc_zero, "mV".to_owned()));
    };
    let (number, units) = match field.split_once('/') {
        Some((number, units)) => (number, units.to_owned()),
        None => (field, "mV".to_owned()),
    };
    let (gain, baseline) = match number.split_once('(') {
        Some((gain, baseline)) => {
            let baseline = baseline.strip_suffix(')').with_context(|| format!("unclosed baseline in {field:?}"))?;
            (gain, baseline.parse().with_context(|| format!("bad baseline in {field:?}"))?)
        }
        None => (number, adc_zero),
    };
    let gain: f64 = gain.parse().with_context(|| format!("bad gain in {field:?}"))?;
    ensure!(gain.is_finite() && gain >= 0.0, "gain must be a non-negative number, got {field:?}");
    Ok((if gain == 0.0 { DEFAULT_GAIN } else { gain }, baseline, units))
}

/// Parses an optional whitespace-free field.
fn parse_field<T: std::str::FromStr>(field: Option<&str>, what: &str) -> Result<Option<T>> {
    field.map(|f| f.parse::<T>().map_err(|_| anyhow::anyhow!("bad {what} {f:?}"))).transpose()
}

impl Record {
    /// Decodes the signal file of `header`. All signals must be in the one file `data`, in
    /// format 16; the data after the byte offset must be whole frames, as many as announced.
    pub fn decode(header: Header, data: &[u8]) -> Result<Record> {
        let first = header.signals.first().context("record has no signals")?;
        for spec in &header.signals {
            ensure!(
                spec.format == 16,
                "signal {:?}: format {} is not supported (only 16)",
                spec.description,
                spec.format
            );
            ensure!(
                spec.file == first.file,
                "signals in several files ({} and {}) are not supported",
                first.file,
                spec.file
            );
            ensure!(spec.byte_offset == first.byte_offset, "signals with different byte offsets are not supported");
        }
        let body = data.get(first.byte_offset..).with_context(|| {
            format!("signal file has {} bytes, fewer than its byte offset {}", data.len(), first.byte_offset)
        })?;
        let frame_bytes = 2 * header.signals.len();
        if body.len() % frame_bytes != 0 {
            bail!("signal file has {} bytes, not a whole number of {frame_bytes}-byte frames", body.len());
        }
        let frames = body.len() / frame_bytes;
        if let Some(announced) = header.samples_per_signal {
            ensure!(frames == announced, "header announces {announced} frames, signal file has {frames}");
        }
        let samples = body.chunks_exact(2).map(|b| i16::from_le_bytes([b[0], b[1]])).collect();
        Ok(Record { header, samples })
    }

    /// Number of frames (samples per signal).
    pub fn frame_count(&self) -> usize {
        self.samples.len() / self.header.signals.len().max(1)
    }

    /// The stored samples of frame `index`, one per signal, or `None` past the end.
    pub fn frame(&self, index: usize) -> Option<&[i16]> {
        let width = self.header.signals.len();
        let start = index.checked_mul(width)?;
        self.samples.get(start..start.checked_add(width)?)
    }

    /// The 16-bit checksum of signal `signal` computed from the data (sum of samples mod 2¹⁶).
    pub fn computed_checksum(&self, signal: usize) -> Option<i16> {
        let width = self.header.signals.len();
        (signal < width).then(|| self.samples.iter().skip(signal).step_by(width).fold(0i16, |a, &s| a.wrapping_add(s)))
    }

    /// Fails if any checksum given in the header differs from the data.
    pub fn verify_checksums(&self) -> Result<()> {
        for (index, spec) in self.header.signals.iter().enumerate() {
            let computed = self.computed_checksum(index);
            if let Some(expected) = spec.checksum {
                ensure!(
                    computed == Some(expected),
                    "signal {index} ({}): header checksum {expected}, data gives {computed:?}",
                    spec.description
                );
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
