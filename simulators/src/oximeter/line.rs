//! One Masimo "ASCII 1" line as a Radical-7 writes it (the format of the line captured from a
//! real device, `03/17/16 19:19:36 SN=---------- SPO2=098% BPM=123 PI=00.55 … EXC=0000C00
//! EXC1=00000000`), from a device time, a serial number, SpO2, pulse rate and exception bits.

use chrono::NaiveDateTime;

/// Exception bit: no sensor connected.
pub const EXC_NO_SENSOR: u32 = 0x001;
/// Exception bit: low perfusion (the value stays, flagged questionable by wardstream).
pub const EXC_LOW_PERFUSION: u32 = 0x004;
/// Exception bit: sensor off the patient.
pub const EXC_SENSOR_OFF: u32 = 0x020;

/// What one line says.
#[derive(Debug, Clone, PartialEq)]
pub struct OximeterLine {
    /// The device's local wall-clock time.
    pub time: NaiveDateTime,
    /// The serial number, `None` for `SN=----------`.
    pub serial_number: Option<String>,
    /// SpO2 in %, `None` for dashes.
    pub spo2: Option<f64>,
    /// Pulse rate in /min, `None` for dashes.
    pub pulse: Option<f64>,
    /// The `EXC=` bits.
    pub exceptions: u32,
}

impl OximeterLine {
    /// The numbers on the line (SpO2 and pulse that are not dashes).
    pub fn value_count(&self) -> u64 {
        u64::from(self.spo2.is_some()) + u64::from(self.pulse.is_some())
    }

    /// The line with its CR LF. Values are rounded to whole numbers and written with three
    /// digits (`098`); perfusion index and the other parameters this replay has no data for are
    /// dashes, as a device without them sends.
    pub fn to_bytes(&self) -> Vec<u8> {
        let three = |v: Option<f64>| match v {
            Some(v) => format!("{:03}", v.round().clamp(0.0, 999.0) as u32),
            None => "---".to_owned(),
        };
        let sn = self.serial_number.as_deref().unwrap_or("----------");
        format!(
            "{} SN={sn} SPO2={}% BPM={} PI=--.-- SPCO=--% SPMET=--.-% SPHB=--.- SPOC=-- RESVD=--- DESAT=-- PIDELTA=+-- PVI=--- ALARM=000000 EXC={:07X} EXC1=00000000\r\n",
            self.time.format("%m/%d/%y %H:%M:%S"),
            three(self.spo2),
            three(self.pulse),
            self.exceptions,
        )
        .into_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_has_the_radical7_layout() {
        let time = NaiveDateTime::parse_from_str("2016-03-17 19:19:36", "%Y-%m-%d %H:%M:%S").unwrap();
        let line = OximeterLine { time, serial_number: None, spo2: Some(97.6), pulse: Some(123.0), exceptions: 0xC00 };
        assert_eq!(
            String::from_utf8(line.to_bytes()).unwrap(),
            "03/17/16 19:19:36 SN=---------- SPO2=098% BPM=123 PI=--.-- SPCO=--% SPMET=--.-% SPHB=--.- SPOC=-- RESVD=--- DESAT=-- PIDELTA=+-- PVI=--- ALARM=000000 EXC=0000C00 EXC1=00000000\r\n"
        );
        let line = OximeterLine {
            serial_number: Some("0000093112".into()),
            spo2: None,
            pulse: Some(61.4),
            exceptions: 1,
            ..line
        };
        let text = String::from_utf8(line.to_bytes()).unwrap();
        assert!(text.starts_with("03/17/16 19:19:36 SN=0000093112 SPO2=---% BPM=061 "), "{text}");
        assert!(text.ends_with(" EXC=0000001 EXC1=00000000\r\n"), "{text}");
        assert_eq!(line.value_count(), 1);
    }
}
