//! [`Faults`]: which damage the simulated oximeter does to its output, and how often. Each kind
//! hits every N-th line (1-based), so a run's damage, and what a correct receiver must count,
//! is known exactly. Written as `kind:N` pairs, comma-separated: `garbage:10,half:7,drop:13`.
//!
//! | kind | what is written | what a receiver sees |
//! |---|---|---|
//! | `garbage` | 32 bytes of line noise (≥ 0x80, as from a wrong baud rate) + CR LF, before the line | one malformed line; the line itself intact |
//! | `half` | the first half of the line, then CR LF (the device reset mid-line) | one malformed line (no `EXC=`) |
//! | `drop` | the line without its CR LF, so it runs into the next | the two lines as one malformed line |
//! | `exc` | `EXC=0000004` (low perfusion) with the values | values flagged questionable |
//! | `dashes` | `SPO2=---% BPM=---` with `EXC=0000020` (sensor off) | a line with no value |
//!
//! One line gets at most one of `half`, `drop`, `dashes`, `exc` (in that order of precedence);
//! `garbage` can precede any. The line after a `drop` gets no fault (it is already damaged),
//! and the last line of a counted run is never dropped (it would have no line to run into).

use std::str::FromStr;

/// How often each fault is injected: `Some(n)` hits lines n, 2n, 3n, …; `None` never.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Faults {
    /// A burst of line noise before the line.
    pub garbage: Option<u64>,
    /// The line cut after half its bytes.
    pub half: Option<u64>,
    /// The line's CR LF dropped.
    pub drop: Option<u64>,
    /// Low-perfusion exception bit set.
    pub exc: Option<u64>,
    /// Values replaced by dashes, sensor-off bit set.
    pub dashes: Option<u64>,
}

/// The fault kinds, as written in a fault list.
pub const FAULT_KINDS: [&str; 5] = ["garbage", "half", "drop", "exc", "dashes"];

impl Faults {
    /// No faults.
    pub const NONE: Faults = Faults { garbage: None, half: None, drop: None, exc: None, dashes: None };

    /// Whether the fault with period `every` hits line `index` (1-based).
    pub fn hits(every: Option<u64>, index: u64) -> bool {
        every.is_some_and(|n| n > 0 && index.is_multiple_of(n))
    }
}

impl FromStr for Faults {
    type Err = String;

    /// Parses `kind:N[,kind:N…]` (empty or `none`: no faults). N must be at least 1.
    fn from_str(s: &str) -> Result<Faults, String> {
        let mut faults = Faults::NONE;
        let s = s.trim();
        if s.is_empty() || s == "none" {
            return Ok(faults);
        }
        for part in s.split(',') {
            let (kind, every) =
                part.trim().split_once(':').ok_or_else(|| format!("{part:?}: expected kind:N, e.g. garbage:10"))?;
            let every: u64 = every
                .trim()
                .parse()
                .ok()
                .filter(|n| *n > 0)
                .ok_or_else(|| format!("{part:?}: N must be a whole number of lines, at least 1"))?;
            let slot = match kind.trim() {
                "garbage" => &mut faults.garbage,
                "half" => &mut faults.half,
                "drop" => &mut faults.drop,
                "exc" => &mut faults.exc,
                "dashes" => &mut faults.dashes,
                other => return Err(format!("unknown fault {other:?} (known: {})", FAULT_KINDS.join(", "))),
            };
            *slot = Some(every);
        }
        Ok(faults)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fault_lists_parse_and_bad_ones_say_why() {
        let f: Faults = "garbage:10, half:7,drop:13,exc:5,dashes:11".parse().unwrap();
        assert_eq!(f, Faults { garbage: Some(10), half: Some(7), drop: Some(13), exc: Some(5), dashes: Some(11) });
        assert_eq!("".parse::<Faults>().unwrap(), Faults::NONE);
        assert_eq!("none".parse::<Faults>().unwrap(), Faults::NONE);
        assert!("garbage".parse::<Faults>().unwrap_err().contains("expected kind:N"));
        assert!("half:0".parse::<Faults>().unwrap_err().contains("at least 1"));
        assert!("noise:3".parse::<Faults>().unwrap_err().contains("unknown fault \"noise\""));
        assert!(Faults::hits(Some(3), 6) && !Faults::hits(Some(3), 7) && !Faults::hits(None, 3));
    }
}
