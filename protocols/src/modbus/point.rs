//! [`PointConfig`]: one entry of a register map (which metric sits where, in which data type,
//! byte order and scale), with the [`Function`], [`DataType`], [`Order`] and [`Sentinel`] it
//! is described by. Deserialised from the `points` of a model in the configuration.

use serde::Deserialize;

/// The Modbus data table a point is read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Function {
    /// Coils (read/write bits, function 0x01).
    Coils,
    /// Discrete inputs (read-only bits, function 0x02).
    DiscreteInputs,
    /// Holding registers (read/write words, function 0x03).
    HoldingRegisters,
    /// Input registers (read-only words, function 0x04).
    InputRegisters,
}

impl Function {
    /// The Modbus function code that reads this table.
    pub const fn code(self) -> u8 {
        match self {
            Function::Coils => 0x01,
            Function::DiscreteInputs => 0x02,
            Function::HoldingRegisters => 0x03,
            Function::InputRegisters => 0x04,
        }
    }

    /// True for the bit tables (coils, discrete inputs).
    pub const fn is_bits(self) -> bool {
        matches!(self, Function::Coils | Function::DiscreteInputs)
    }

    /// The most items one request may read: 2000 bits or 125 registers (Modbus spec 6.1-6.4).
    pub const fn max_count(self) -> u16 {
        if self.is_bits() { 2000 } else { 125 }
    }

    /// The name used in configuration and messages.
    pub const fn as_str(self) -> &'static str {
        match self {
            Function::Coils => "coils",
            Function::DiscreteInputs => "discrete_inputs",
            Function::HoldingRegisters => "holding_registers",
            Function::InputRegisters => "input_registers",
        }
    }
}

/// How the registers of a point are read as a number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DataType {
    /// Unsigned 16-bit integer (1 register).
    U16,
    /// Signed 16-bit integer, two's complement (1 register).
    I16,
    /// Unsigned 32-bit integer (2 registers).
    U32,
    /// Signed 32-bit integer (2 registers).
    I32,
    /// IEEE 754 single precision (2 registers).
    F32,
    /// Unsigned 64-bit integer (4 registers); above 2^53 the value is rounded to an `f64`.
    U64,
    /// Signed 64-bit integer (4 registers); beyond ±2^53 the value is rounded to an `f64`.
    I64,
    /// IEEE 754 double precision (4 registers).
    F64,
    /// A coil or discrete input: 1.0 when set, 0.0 when clear.
    Bool,
    /// IEEE 11073-20601 SFLOAT (1 register): 4-bit exponent, 12-bit mantissa; its NaN, NRes
    /// and ±INF codes are no value.
    MderSfloat,
    /// IEEE 11073-20601 FLOAT (2 registers): 8-bit exponent, 24-bit mantissa; its NaN, NRes
    /// and ±INF codes are no value.
    MderFloat,
}

impl DataType {
    /// Registers (or bits, for [`DataType::Bool`]) the point occupies.
    pub const fn width(self) -> u16 {
        match self {
            DataType::U16 | DataType::I16 | DataType::Bool | DataType::MderSfloat => 1,
            DataType::U32 | DataType::I32 | DataType::F32 | DataType::MderFloat => 2,
            DataType::U64 | DataType::I64 | DataType::F64 => 4,
        }
    }

    /// Bits of the raw value (16 per register; 1 for a bool).
    pub const fn bits(self) -> u32 {
        match self {
            DataType::Bool => 1,
            other => other.width() as u32 * 16,
        }
    }

    /// True for IEEE 754 types, whose sentinel may be `NaN`.
    pub const fn is_ieee754(self) -> bool {
        matches!(self, DataType::F32 | DataType::F64)
    }
}

/// Byte and word order of a multi-byte value, named by where the bytes of the big-endian value
/// `A B C D` (most significant first) appear on the wire.
///
/// - `ABCD`: big-endian words, big-endian bytes (the Modbus default).
/// - `CDAB`: least significant word first ("word swap"), big-endian bytes in each word.
/// - `BADC`: big-endian word order, bytes swapped inside each word ("byte swap").
/// - `DCBA`: fully little-endian.
///
/// For 16-bit types only the byte swap matters (`BADC`/`DCBA` swap the two bytes); for 64-bit
/// types the same rules apply to four words (`CDAB` means the least significant word first).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Order {
    /// Big-endian words and bytes.
    #[default]
    Abcd,
    /// Words reversed, bytes big-endian.
    Cdab,
    /// Words in order, bytes swapped.
    Badc,
    /// Words reversed and bytes swapped.
    Dcba,
}

impl Order {
    /// True when the least significant word comes first.
    pub const fn words_reversed(self) -> bool {
        matches!(self, Order::Cdab | Order::Dcba)
    }

    /// True when the two bytes of each register are swapped.
    pub const fn bytes_swapped(self) -> bool {
        matches!(self, Order::Badc | Order::Dcba)
    }
}

/// A device's "no value" marker for a point: when the register content matches, the point
/// becomes a `missing_value` dead letter instead of a number.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Sentinel {
    /// A raw bit pattern of the point's width: `0x8000` and `-32768` both match an `i16` holding
    /// `0x8000`; for floats, the IEEE bits (`0x7FC00000`).
    Bits(u64),
    /// A decoded value, before scale and offset (`-9999.0`).
    Value(f64),
    /// Any IEEE 754 NaN (`"NaN"`, floats only).
    NaN,
}

impl Sentinel {
    /// How the marker is named in a dead letter's detail.
    pub fn describe(&self) -> String {
        match self {
            Sentinel::Bits(bits) => format!("0x{bits:X}"),
            Sentinel::Value(value) => format!("{value}"),
            Sentinel::NaN => "NaN".to_owned(),
        }
    }
}

impl<'de> Deserialize<'de> for Sentinel {
    /// An integer (bit pattern), a float (value), `"NaN"`, or a hex string such as
    /// `"0xFFFFFFFFFFFFFFFF"` for patterns above `i64::MAX`.
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Repr {
            Int(i64),
            UInt(u64),
            Float(f64),
            Text(String),
        }
        let bad = |text: &str| {
            serde::de::Error::custom(format!(
                "no_value {text:?}: expected an integer, a float, \"NaN\" or a hex string like \"0x8000\""
            ))
        };
        Ok(match Repr::deserialize(deserializer)? {
            // Two's complement: -32768 is the pattern 0x…8000, masked to the point's width.
            Repr::Int(i) => Sentinel::Bits(i as u64),
            Repr::UInt(u) => Sentinel::Bits(u),
            Repr::Float(f) if f.is_nan() => Sentinel::NaN,
            Repr::Float(f) => Sentinel::Value(f),
            Repr::Text(t) if t.trim().eq_ignore_ascii_case("nan") => Sentinel::NaN,
            Repr::Text(t) => {
                let hex = t.trim().strip_prefix("0x").or_else(|| t.trim().strip_prefix("0X")).ok_or_else(|| bad(&t))?;
                Sentinel::Bits(u64::from_str_radix(&hex.replace('_', ""), 16).map_err(|_| bad(&t))?)
            }
        })
    }
}

const fn default_scale() -> f64 {
    1.0
}

/// One value of a register map: a metric read from `function` at `address`.
///
/// `value = raw × scale + offset`, where `raw` is the register content read as `type` in
/// `order`. A scale whose inverse is a whole number (`0.1`, `0.01`) divides instead, so that
/// `363 × 0.1` is exactly `36.3`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PointConfig {
    /// The metric name handed to the normaliser (a catalogue name, code or alias: `temp`).
    pub metric: String,
    /// The data table the point is in.
    pub function: Function,
    /// The 0-based address of its first register or bit (the wire address, not `40001`).
    pub address: u16,
    /// How its registers are read.
    #[serde(rename = "type")]
    pub data_type: DataType,
    /// Word and byte order (default `ABCD`).
    #[serde(default)]
    pub order: Order,
    /// Multiplier applied to the raw value (default 1).
    #[serde(default = "default_scale")]
    pub scale: f64,
    /// Added after scaling (default 0).
    #[serde(default)]
    pub offset: f64,
    /// The UCUM unit of the scaled value (`Cel`, `%`); none means the metric's canonical unit.
    #[serde(default)]
    pub unit: Option<String>,
    /// The device's "no value" marker, if it has one.
    #[serde(default)]
    pub no_value: Option<Sentinel>,
}

impl PointConfig {
    /// A point with scale 1, offset 0, order `ABCD`, no unit and no marker.
    pub fn new(metric: &str, function: Function, address: u16, data_type: DataType) -> PointConfig {
        PointConfig {
            metric: metric.to_owned(),
            function,
            address,
            data_type,
            order: Order::Abcd,
            scale: 1.0,
            offset: 0.0,
            unit: None,
            no_value: None,
        }
    }

    /// The address after the point's last register or bit (may be 65536).
    pub fn end(&self) -> u32 {
        u32::from(self.address) + u32::from(self.data_type.width())
    }

    /// Why this point cannot be read, if it cannot.
    pub fn problem(&self) -> Option<String> {
        if self.metric.trim().is_empty() {
            return Some("metric must not be empty".into());
        }
        if self.function.is_bits() != (self.data_type == DataType::Bool) {
            return Some(format!(
                "type bool goes with coils/discrete_inputs only, not {:?} on {}",
                self.data_type,
                self.function.as_str()
            ));
        }
        if self.end() > 65_536 {
            return Some(format!("address {} + {} registers runs past 65535", self.address, self.data_type.width()));
        }
        if !self.scale.is_finite() || self.scale == 0.0 || !self.offset.is_finite() {
            return Some("scale must be finite and non-zero, offset finite".into());
        }
        match self.no_value {
            Some(Sentinel::NaN) if !self.data_type.is_ieee754() => Some("no_value NaN needs type f32 or f64".into()),
            Some(Sentinel::Bits(bits))
                if self.data_type.bits() < 64
                    && bits >> self.data_type.bits() != 0
                    && !fits_signed(bits, self.data_type.bits()) =>
            {
                Some(format!("no_value 0x{bits:X} does not fit in {} bits", self.data_type.bits()))
            }
            _ => None,
        }
    }
}

/// True when `bits` is a sign-extended negative number of `width` bits (`-32768` for 16).
fn fits_signed(bits: u64, width: u32) -> bool {
    let value = bits as i64;
    value < 0 && value >= -(1i64 << (width - 1))
}
