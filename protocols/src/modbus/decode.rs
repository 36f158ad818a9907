//! Typed decoding of one point: the registers (or bit) it occupies → a number in the point's
//! unit, or the reason there is none. Pure functions, no I/O; the poller calls them on the
//! register values rmodbus parsed out of a response.

use wardstream_pipeline::DeviceNumber;
use wardstream_pipeline::device_quality::{decode_float32, decode_sfloat16};

use super::point::{DataType, PointConfig, Sentinel};

/// What one point's registers say.
#[derive(Debug, Clone, PartialEq)]
pub enum Decoded {
    /// A finite value, scale and offset applied.
    Value(f64),
    /// The device's "no value" marker (the configured sentinel or an IEEE 11073 special code);
    /// the text names it.
    NoValue(String),
    /// A NaN or an infinity that is not the configured marker; the text names it.
    NonFinite(String),
}

/// The raw bits of a point whose registers are `words` (exactly `width()` of them), in the
/// point's word and byte order, right-aligned in a `u64`.
pub fn raw_bits(point: &PointConfig, words: &[u16]) -> u64 {
    let swap = |w: u16| if point.order.bytes_swapped() { w.swap_bytes() } else { w };
    let fold = |acc: u64, w: &u16| (acc << 16) | u64::from(swap(*w));
    if point.order.words_reversed() { words.iter().rev().fold(0, fold) } else { words.iter().fold(0, fold) }
}

/// Decodes a register point from its `words` (the slice of the response it occupies).
pub fn decode_registers(point: &PointConfig, words: &[u16]) -> Decoded {
    let bits = raw_bits(point, words);
    let width = point.data_type.bits();
    let mask = if width >= 64 { u64::MAX } else { (1u64 << width) - 1 };
    let raw = match point.data_type {
        DataType::U16 | DataType::U32 | DataType::U64 => bits as f64,
        DataType::I16 => f64::from(bits as u16 as i16),
        DataType::I32 => f64::from(bits as u32 as i32),
        DataType::I64 => bits as i64 as f64,
        DataType::F32 => f64::from(f32::from_bits(bits as u32)),
        DataType::F64 => f64::from_bits(bits),
        DataType::Bool => (bits & 1) as f64,
        DataType::MderSfloat => match decode_sfloat16(bits as u16) {
            DeviceNumber::Value(v) => v,
            DeviceNumber::NoValue => return Decoded::NoValue(format!("IEEE 11073 SFLOAT special value 0x{bits:04X}")),
        },
        DataType::MderFloat => match decode_float32(bits as u32) {
            DeviceNumber::Value(v) => v,
            DeviceNumber::NoValue => return Decoded::NoValue(format!("IEEE 11073 FLOAT special value 0x{bits:08X}")),
        },
    };
    if let Some(sentinel) = &point.no_value {
        let matches = match sentinel {
            Sentinel::Bits(pattern) => pattern & mask == bits,
            Sentinel::Value(value) => raw == *value,
            Sentinel::NaN => raw.is_nan(),
        };
        if matches {
            return Decoded::NoValue(format!("the device's no-value marker {}", sentinel.describe()));
        }
    }
    finish(point, raw)
}

/// Decodes a bit point: 1.0 when set, 0.0 when clear, then scale and offset.
pub fn decode_bit(point: &PointConfig, bit: bool) -> Decoded {
    finish(point, if bit { 1.0 } else { 0.0 })
}

fn finish(point: &PointConfig, raw: f64) -> Decoded {
    if !raw.is_finite() {
        return Decoded::NonFinite(format!("{raw}"));
    }
    let value = apply_scale(raw, point.scale) + point.offset;
    if value.is_finite() { Decoded::Value(value) } else { Decoded::NonFinite(format!("{value} after scaling")) }
}

/// `raw × scale`, dividing by `1/scale` when that is a whole number so that decimal scales are
/// exact (`363 × 0.1` = `36.3`, where the multiplication would give `36.300000000000004`).
pub fn apply_scale(raw: f64, scale: f64) -> f64 {
    if scale == 1.0 {
        return raw;
    }
    let inverse = 1.0 / scale;
    let whole = inverse.round();
    if whole.abs() >= 2.0 && (inverse - whole).abs() < 1e-9 * whole.abs() { raw / whole } else { raw * scale }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::modbus::point::{Function, Order};

    fn point(data_type: DataType, order: Order) -> PointConfig {
        PointConfig { order, ..PointConfig::new("x", Function::HoldingRegisters, 0, data_type) }
    }

    fn value(p: &PointConfig, words: &[u16]) -> f64 {
        match decode_registers(p, words) {
            Decoded::Value(v) => v,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn every_order_of_a_32_bit_value_reads_the_same_number() {
        // 0x11223344 = 287454020 as it appears on the wire in each order.
        let wire = [
            (Order::Abcd, [0x1122, 0x3344]),
            (Order::Cdab, [0x3344, 0x1122]),
            (Order::Badc, [0x2211, 0x4433]),
            (Order::Dcba, [0x4433, 0x2211]),
        ];
        for (order, words) in wire {
            assert_eq!(raw_bits(&point(DataType::U32, order), &words), 0x1122_3344, "{order:?}");
            assert_eq!(value(&point(DataType::U32, order), &words), 287_454_020.0, "{order:?}");
        }
    }

    #[test]
    fn sixteen_and_sixty_four_bit_values_follow_the_same_rules() {
        assert_eq!(value(&point(DataType::I16, Order::Abcd), &[0xFF85]), -123.0);
        assert_eq!(value(&point(DataType::I16, Order::Badc), &[0x85FF]), -123.0);
        assert_eq!(value(&point(DataType::U16, Order::Cdab), &[0xFF85]), 65_413.0);
        let words = [0x0102, 0x0304, 0x0506, 0x0708];
        assert_eq!(raw_bits(&point(DataType::U64, Order::Abcd), &words), 0x0102_0304_0506_0708);
        assert_eq!(raw_bits(&point(DataType::U64, Order::Cdab), &words), 0x0708_0506_0304_0102);
        assert_eq!(raw_bits(&point(DataType::U64, Order::Badc), &words), 0x0201_0403_0605_0807);
        assert_eq!(raw_bits(&point(DataType::U64, Order::Dcba), &words), 0x0807_0605_0403_0201);
        let pi = std::f64::consts::PI.to_bits();
        let pi_words = [(pi >> 48) as u16, (pi >> 32) as u16, (pi >> 16) as u16, pi as u16];
        assert_eq!(value(&point(DataType::F64, Order::Abcd), &pi_words), std::f64::consts::PI);
        assert_eq!(value(&point(DataType::I64, Order::Abcd), &[0xFFFF, 0xFFFF, 0xFFFF, 0xFFFE]), -2.0);
        assert_eq!(value(&point(DataType::I32, Order::Cdab), &[0xFFFE, 0xFFFF]), -2.0);
        assert_eq!(value(&point(DataType::F32, Order::Abcd), &[0x4212, 0x6666]), f64::from(36.6f32));
    }

    #[test]
    fn scale_and_offset_apply_and_decimal_scales_are_exact() {
        let p = PointConfig { scale: 0.1, ..point(DataType::I16, Order::Abcd) };
        assert_eq!(value(&p, &[363]), 36.3);
        assert_eq!(value(&p, &[0xFFCE]), -5.0);
        let f = PointConfig { scale: 1.8, offset: 32.0, ..point(DataType::U16, Order::Abcd) };
        assert_eq!(value(&f, &[10]), 10.0 * 1.8 + 32.0);
        assert_eq!(apply_scale(7.0, 0.25), 1.75);
        assert_eq!(apply_scale(12_345.0, 0.01), 123.45);
    }

    #[test]
    fn markers_nan_and_ieee_11073_specials_are_not_numbers() {
        let marked = |s| PointConfig { no_value: Some(s), ..point(DataType::I16, Order::Abcd) };
        assert!(
            matches!(decode_registers(&marked(Sentinel::Bits(0x8000)), &[0x8000]), Decoded::NoValue(d) if d == "the device's no-value marker 0x8000")
        );
        assert!(matches!(decode_registers(&marked(Sentinel::Bits(-32768i64 as u64)), &[0x8000]), Decoded::NoValue(_)));
        assert_eq!(decode_registers(&marked(Sentinel::Bits(0x8000)), &[0x8001]), Decoded::Value(-32767.0));
        let f = PointConfig { no_value: Some(Sentinel::NaN), ..point(DataType::F32, Order::Abcd) };
        assert!(matches!(decode_registers(&f, &[0x7FC0, 0x0000]), Decoded::NoValue(_)));
        let unmarked = point(DataType::F32, Order::Abcd);
        assert_eq!(decode_registers(&unmarked, &[0x7F80, 0x0000]), Decoded::NonFinite("inf".into()));
        let v = PointConfig { no_value: Some(Sentinel::Value(-9999.0)), ..point(DataType::F32, Order::Abcd) };
        assert!(matches!(decode_registers(&v, &[0xC61C, 0x3C00]), Decoded::NoValue(d) if d.ends_with("-9999")));
        let sfloat = point(DataType::MderSfloat, Order::Abcd);
        assert_eq!(decode_registers(&sfloat, &[0xF16E]), Decoded::Value(36.6));
        assert_eq!(
            decode_registers(&sfloat, &[0x07FF]),
            Decoded::NoValue("IEEE 11073 SFLOAT special value 0x07FF".into())
        );
        let float = point(DataType::MderFloat, Order::Abcd);
        assert_eq!(decode_registers(&float, &[0xFF00, 0x016E]), Decoded::Value(36.6));
        assert!(matches!(decode_registers(&float, &[0x007F, 0xFFFF]), Decoded::NoValue(_)));
    }

    #[test]
    fn bits_read_as_one_and_zero() {
        let p = PointConfig::new("door", Function::DiscreteInputs, 3, DataType::Bool);
        assert_eq!((decode_bit(&p, true), decode_bit(&p, false)), (Decoded::Value(1.0), Decoded::Value(0.0)));
    }
}
