//! The identifiers ADT and PCD-01 messages share: the patient (PID-3), the visit (PV1-19) and
//! locations (PV1-3, PV1-6).
//!
//! **Patient (PID-3).** PID-3 is a list of identifiers (`CX`: id ^ check digit ^ scheme ^
//! assigning authority ^ identifier type ^ …), often a medical-record number beside others
//! (`PATID1234^^^HOSP^MR~123456789^^^USSSA^SS`). The patient id is CX.1 of the first
//! repetition whose CX.5 identifier type is `MR` (medical record number, any case); when none
//! is typed `MR`, CX.1 of the first repetition that has one. The assigning authority is not
//! part of the id (one site, one MRN namespace).
//!
//! **Locations (PL).** `point of care ^ room ^ bed ^ facility ^ …`. Since v2.7 point of care and
//! facility are `HD` (`HUH AE OMU&9.8&ISO`) and room and bed may carry sub-components; each part
//! is its first sub-component, so older and newer feeds name the same bed the same way. A
//! location exists when any of point of care, room or bed is sent.
//!
//! Ids and location parts are unescaped and trimmed of surrounding white space.

use wardstream_pipeline::association::{BedRef, Location};

use super::{Segment, Value};

/// The patient id of a PID segment (rule in the module docs); `None` when PID-3 has no id.
pub fn patient_id(pid: &Segment<'_>) -> Option<String> {
    let ids = || pid.field(3).repetitions().filter(|r| !leaf(r.component(1)).is_empty());
    let chosen = ids().find(|r| leaf(r.component(5)).eq_ignore_ascii_case("MR")).or_else(|| ids().next())?;
    Some(leaf(chosen.component(1)))
}

/// PV1-19 visit number (CX.1), when sent.
pub fn encounter_id(pv1: &Segment<'_>) -> Option<String> {
    let id = leaf(pv1.field(19).component(1));
    (!id.is_empty()).then_some(id)
}

/// A PL field (PV1-3, PV1-6) as a [`Location`], when it names one.
pub fn location(pl: Value<'_>) -> Option<Location> {
    let part = |n: usize| leaf(pl.component(n));
    let bed = BedRef { ward: part(1), room: part(2), bed: part(3) };
    if bed.ward.is_empty() && bed.room.is_empty() && bed.bed.is_empty() {
        return None;
    }
    let facility = Some(part(4)).filter(|f| !f.is_empty());
    Some(Location { bed, facility })
}

/// The first sub-component of a value, unescaped and trimmed.
pub(crate) fn leaf(value: Value<'_>) -> String {
    value.sub_component(1).text().trim().to_owned()
}

#[cfg(test)]
mod tests {
    use super::super::Message;
    use super::*;

    fn pid(pid3: &str) -> Option<String> {
        let text = format!("MSH|^~\\&|A\rPID|||{pid3}\r");
        let msg = Message::parse(text.as_bytes()).unwrap();
        patient_id(&msg.segment("PID").unwrap())
    }

    #[test]
    fn the_mr_identifier_wins_else_the_first_non_empty_one() {
        assert_eq!(pid("123^^^SSA^SS~PAT1^5^M11^A&1.2&ISO^MR").as_deref(), Some("PAT1"));
        assert_eq!(pid("123^^^SSA^SS~PAT1^^^H^mr").as_deref(), Some("PAT1"));
        assert_eq!(pid("~^^^H^MR~ 77 ^^^H^PI~88^^^H^PI").as_deref(), Some("77"));
        assert_eq!(pid("AB60001^^^A^PI").as_deref(), Some("AB60001"));
        assert_eq!(pid("X\\T\\Y^^^H^MR").as_deref(), Some("X&Y"));
        assert_eq!(pid("ID&sub^^^H^MR").as_deref(), Some("ID"));
        for empty in ["", "~", "^^^H^MR", " ^^^H^MR"] {
            assert_eq!(pid(empty), None, "{empty:?}");
        }
    }

    #[test]
    fn locations_take_the_first_sub_component_of_each_part() {
        let text =
            "MSH|^~\\&|A\rPV1||I|HUH AE OMU&9.8&ISO^OMU B^Bed 03^HOMERTON UNIVER^^C|||^^^FAC|||||||||||||V1^^^H^VN\r";
        let msg = Message::parse(text.as_bytes()).unwrap();
        let pv1 = msg.segment("PV1").unwrap();
        let loc = location(pv1.field(3)).unwrap();
        assert_eq!(loc.bed, BedRef { ward: "HUH AE OMU".into(), room: "OMU B".into(), bed: "Bed 03".into() });
        assert_eq!(loc.facility.as_deref(), Some("HOMERTON UNIVER"));
        // A facility alone names no bed.
        assert_eq!(location(pv1.field(6)), None);
        assert_eq!(location(pv1.field(7)), None);
        assert_eq!(encounter_id(&pv1).as_deref(), Some("V1"));
        assert_eq!(encounter_id(&msg.msh()), None);
        let ward_only = location(Value::new("ICU", msg.delimiters(), super::super::value::Level::Field)).unwrap();
        assert_eq!((ward_only.bed.to_string(), ward_only.facility), ("ICU^^".to_owned(), None));
    }
}
