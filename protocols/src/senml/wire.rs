//! One SenML JSON record as it appears on the wire (RFC 8428 §5, Table 2), before any base
//! field is applied.
//!
//! Deserialised by hand rather than with `#[derive(Deserialize)]` so that strings are borrowed
//! from the payload when they contain no escapes, duplicate labels are rejected, and unknown
//! labels are told apart: those ending in `_` must be understood (RFC 8428 §4.4) and are kept
//! for the pack-level check, all others are skipped without building a value tree.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, Deserialize, Deserializer, IgnoredAny, MapAccess, Visitor};

/// The fields of one record, each `None` when absent.
#[derive(Debug, Default, Clone, PartialEq)]
pub(crate) struct WireRecord<'a> {
    pub bn: Option<Cow<'a, str>>,
    pub bt: Option<f64>,
    pub bu: Option<Cow<'a, str>>,
    pub bv: Option<f64>,
    pub bs: Option<f64>,
    pub bver: Option<u64>,
    pub n: Option<Cow<'a, str>>,
    pub u: Option<Cow<'a, str>>,
    pub v: Option<f64>,
    pub vs: Option<Cow<'a, str>>,
    pub vb: Option<bool>,
    pub vd: Option<Cow<'a, str>>,
    pub s: Option<f64>,
    pub t: Option<f64>,
    pub ut: Option<f64>,
    /// The first unknown label ending in `_` ("must understand").
    pub must_understand: Option<String>,
}

impl WireRecord<'_> {
    /// True when the record has no regular field (RFC 8428 §4.2), only base fields and
    /// ignored extensions: it sets context for later records and is not a measurement.
    pub fn is_base_only(&self) -> bool {
        self.n.is_none()
            && self.u.is_none()
            && self.v.is_none()
            && self.vs.is_none()
            && self.vb.is_none()
            && self.vd.is_none()
            && self.s.is_none()
            && self.t.is_none()
            && self.ut.is_none()
    }
}

/// A record label.
enum Label {
    Bn,
    Bt,
    Bu,
    Bv,
    Bs,
    Bver,
    N,
    U,
    V,
    Vs,
    Vb,
    Vd,
    S,
    T,
    Ut,
    MustUnderstand(String),
    Ignored,
}

impl Label {
    fn from_str(label: &str) -> Label {
        match label {
            "bn" => Label::Bn,
            "bt" => Label::Bt,
            "bu" => Label::Bu,
            "bv" => Label::Bv,
            "bs" => Label::Bs,
            "bver" => Label::Bver,
            "n" => Label::N,
            "u" => Label::U,
            "v" => Label::V,
            "vs" => Label::Vs,
            "vb" => Label::Vb,
            "vd" => Label::Vd,
            "s" => Label::S,
            "t" => Label::T,
            "ut" => Label::Ut,
            other if other.ends_with('_') => Label::MustUnderstand(other.to_owned()),
            _ => Label::Ignored,
        }
    }
}

impl<'de> Deserialize<'de> for Label {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Label, D::Error> {
        struct LabelVisitor;
        impl Visitor<'_> for LabelVisitor {
            type Value = Label;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a SenML label")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Label, E> {
                Ok(Label::from_str(v))
            }
        }
        deserializer.deserialize_identifier(LabelVisitor)
    }
}

/// A JSON string, borrowed from the payload when it has no escape sequences.
struct Text<'a>(Cow<'a, str>);

impl<'de> Deserialize<'de> for Text<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Text<'de>, D::Error> {
        struct TextVisitor;
        impl<'de> Visitor<'de> for TextVisitor {
            type Value = Text<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Owned(v)))
            }
        }
        deserializer.deserialize_str(TextVisitor)
    }
}

impl<'de> Deserialize<'de> for WireRecord<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<WireRecord<'de>, D::Error> {
        deserializer.deserialize_map(RecordVisitor)
    }
}

struct RecordVisitor;

impl<'de> Visitor<'de> for RecordVisitor {
    type Value = WireRecord<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a SenML record (a JSON object)")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<WireRecord<'de>, A::Error> {
        let mut r = WireRecord::default();
        while let Some(label) = map.next_key::<Label>()? {
            match label {
                Label::Bn => set(&mut r.bn, "bn", map.next_value::<Text<'de>>()?.0)?,
                Label::Bt => set(&mut r.bt, "bt", map.next_value()?)?,
                Label::Bu => set(&mut r.bu, "bu", map.next_value::<Text<'de>>()?.0)?,
                Label::Bv => set(&mut r.bv, "bv", map.next_value()?)?,
                Label::Bs => set(&mut r.bs, "bs", map.next_value()?)?,
                Label::Bver => set(&mut r.bver, "bver", map.next_value()?)?,
                Label::N => set(&mut r.n, "n", map.next_value::<Text<'de>>()?.0)?,
                Label::U => set(&mut r.u, "u", map.next_value::<Text<'de>>()?.0)?,
                Label::V => set(&mut r.v, "v", map.next_value()?)?,
                Label::Vs => set(&mut r.vs, "vs", map.next_value::<Text<'de>>()?.0)?,
                Label::Vb => set(&mut r.vb, "vb", map.next_value()?)?,
                Label::Vd => set(&mut r.vd, "vd", map.next_value::<Text<'de>>()?.0)?,
                Label::S => set(&mut r.s, "s", map.next_value()?)?,
                Label::T => set(&mut r.t, "t", map.next_value()?)?,
                Label::Ut => set(&mut r.ut, "ut", map.next_value()?)?,
                Label::MustUnderstand(label) => {
                    map.next_value::<IgnoredAny>()?;
                    r.must_understand.get_or_insert(label);
                }
                Label::Ignored => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(r)
    }
}

/// Stores a field, rejecting a label given twice in one record.
fn set<T, E: de::Error>(slot: &mut Option<T>, label: &'static str, value: T) -> Result<(), E> {
    if slot.is_some() {
        return Err(E::duplicate_field(label));
    }
    *slot = Some(value);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> Result<Vec<WireRecord<'_>>, serde_json::Error> {
        serde_json::from_str(json)
    }

    #[test]
    fn strings_without_escapes_are_borrowed_and_escaped_ones_owned() {
        let records = parse(r#"[{"bn":"dev:","n":"h\u0052","u":"Cel","v":1}]"#).unwrap();
        assert!(matches!(records[0].bn, Some(Cow::Borrowed("dev:"))));
        assert!(matches!(records[0].n.as_deref(), Some("hR")));
        assert!(matches!(records[0].n, Some(Cow::Owned(_))));
    }

    #[test]
    fn unknown_labels_are_skipped_and_must_understand_ones_remembered() {
        let records = parse(r#"[{"n":"a","v":1,"foo":{"deep":[1,2]},"bar_":true,"baz_":1}]"#).unwrap();
        assert_eq!(records[0].v, Some(1.0));
        assert_eq!(records[0].must_understand.as_deref(), Some("bar_"));
    }

    #[test]
    fn a_label_given_twice_is_an_error() {
        let err = parse(r#"[{"n":"a","v":1,"v":2}]"#).unwrap_err();
        assert!(err.to_string().starts_with("duplicate field `v`"), "{err}");
    }

    #[test]
    fn wrong_types_and_nulls_are_errors_naming_the_problem() {
        let err = parse(r#"[{"n":"a","v":"12"}]"#).unwrap_err();
        assert!(err.to_string().starts_with("invalid type: string \"12\", expected f64"), "{err}");
        assert!(parse(r#"[{"n":"a","v":null}]"#).is_err());
        assert!(parse(r#"[{"n":"a","bver":-1}]"#).is_err());
        assert!(parse(r#"[{"n":1,"v":1}]"#).is_err());
    }

    #[test]
    fn base_only_records_are_recognised() {
        let records =
            parse(r#"[{"bn":"x:","bt":1,"bu":"A","bv":1,"bs":2,"bver":10,"other":1},{"bn":"x","t":0}]"#).unwrap();
        assert!(records[0].is_base_only());
        assert!(!records[1].is_base_only());
    }
}
