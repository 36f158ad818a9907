//! Tests of the association log: round trip, creation, torn tails, corrupt lines.

use std::fs::{self, OpenOptions};
use std::io::Write;

use wardstream_pipeline::association::{
    AdtEvent, AdtKind, AssociationEvent, BedRef, DevicePlacement, ExplicitAssociation, ExplicitEnd, Location,
    PatientVisit, Subject,
};

use super::*;

fn bed() -> BedRef {
    BedRef { ward: "ICU".into(), room: "1".into(), bed: "A".into() }
}

fn events() -> Vec<AssociationEvent> {
    vec![
        AssociationEvent::Place(DevicePlacement {
            device_id: "mon-1".into(),
            bed: Some(bed()),
            from: 0,
            recorded_at: 1,
        }),
        AssociationEvent::Adt(AdtEvent {
            kind: AdtKind::Admit,
            message_id: "MSG1".into(),
            visit: PatientVisit {
                patient_id: "P1".into(),
                encounter_id: Some("V1".into()),
                location: Some(Location { bed: bed(), facility: Some("NORTH".into()) }),
                prior_location: None,
            },
            other: None,
            event_time: 10,
            recorded_at: 11,
        }),
        AssociationEvent::Associate(ExplicitAssociation {
            id: "scan-1".into(),
            subject: Subject::Device("mon-1".into()),
            patient_id: "P1".into(),
            encounter_id: None,
            start: 20,
            end: None,
            recorded_at: 21,
        }),
        AssociationEvent::EndAssociation(ExplicitEnd { id: "scan-1".into(), end: 30, recorded_at: 31 }),
    ]
}

fn write(dir: &Path, events: &[AssociationEvent]) -> PathBuf {
    let (log, replay) = AssociationLog::open(dir).unwrap();
    assert_eq!(replay, LogReplay::default());
    for e in events {
        log.append(e).unwrap();
    }
    log.path().to_path_buf()
}

#[test]
fn appended_events_come_back_in_order_after_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let nested = dir.path().join("state").join("associations");
    let path = write(&nested, &events());
    assert_eq!(path, nested.join("associations.log"));
    let text = fs::read_to_string(&path).unwrap();
    assert_eq!(text.lines().count(), 4);
    let first = text.lines().next().unwrap();
    let json = &first[9..];
    assert_eq!(&first[..9], format!("{:08x} ", crc32fast::hash(json.as_bytes())));
    assert!(json.starts_with(r#"{"type":"place","device_id":"mon-1""#), "{json}");

    let (log, replay) = AssociationLog::open(&nested).unwrap();
    assert_eq!(replay, LogReplay { events: events(), corrupt: vec![], torn: None });
    log.append(&events()[0]).unwrap();
    drop(log);
    let (_, replay) = AssociationLog::open(&nested).unwrap();
    assert_eq!(replay.events.len(), 5);
}

#[test]
fn a_torn_last_line_is_cut_off_reported_and_the_log_stays_appendable() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), &events()[..2]);
    let whole = fs::metadata(&path).unwrap().len();
    let partial = encode_line(&events()[2]).unwrap();
    OpenOptions::new().append(true).open(&path).unwrap().write_all(&partial[..20]).unwrap();

    let (log, replay) = AssociationLog::open(dir.path()).unwrap();
    assert_eq!(replay.events, events()[..2]);
    assert_eq!(replay.corrupt, []);
    assert_eq!(replay.torn, Some(TornLine { offset: whole, bytes: partial[..20].to_vec() }));
    assert_eq!(fs::metadata(&path).unwrap().len(), whole);
    log.append(&events()[2]).unwrap();
    drop(log);
    let (_, replay) = AssociationLog::open(dir.path()).unwrap();
    assert_eq!(replay, LogReplay { events: events()[..3].to_vec(), corrupt: vec![], torn: None });
}

#[test]
fn a_complete_last_line_with_a_bad_crc_is_treated_as_torn() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), &events()[..2]);
    let mut bytes = fs::read(&path).unwrap();
    let first_len = bytes.iter().position(|b| *b == b'\n').unwrap() as u64 + 1;
    let last = bytes.len() - 3;
    bytes[last] ^= 0x01;
    fs::write(&path, &bytes).unwrap();
    let (_, replay) = AssociationLog::open(dir.path()).unwrap();
    assert_eq!(replay.events, events()[..1]);
    assert_eq!(
        replay.torn.map(|t| (t.offset, t.bytes.len() as u64)),
        Some((first_len, bytes.len() as u64 - first_len))
    );
    assert_eq!(fs::metadata(&path).unwrap().len(), first_len);
}

#[test]
fn a_corrupt_line_in_the_middle_is_reported_skipped_and_kept_every_time() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), &events()[..3]);
    let mut bytes = fs::read(&path).unwrap();
    let second = bytes.iter().position(|b| *b == b'\n').unwrap() + 1;
    let victim = second + 40;
    bytes[victim] = if bytes[victim] == b'x' { b'y' } else { b'x' };
    fs::write(&path, &bytes).unwrap();
    for _ in 0..2 {
        let (_, replay) = AssociationLog::open(dir.path()).unwrap();
        assert_eq!(replay.events, [events()[0].clone(), events()[2].clone()]);
        assert_eq!(replay.torn, None);
        assert_eq!(replay.corrupt.len(), 1);
        let c = &replay.corrupt[0];
        assert_eq!((c.line, c.offset), (2, second as u64));
        assert!(c.reason.starts_with("CRC mismatch (stored "), "{}", c.reason);
        assert_eq!(fs::read(&path).unwrap(), bytes);
    }
}

#[test]
fn a_whole_line_that_is_not_an_event_is_corrupt_even_at_the_end() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), &events()[..1]);
    let json = br#"{"type":"teleport","to":"mars"}"#;
    let mut line = format!("{:08x} ", crc32fast::hash(json)).into_bytes();
    line.extend_from_slice(json);
    line.push(b'\n');
    OpenOptions::new().append(true).open(&path).unwrap().write_all(&line).unwrap();
    let (_, replay) = AssociationLog::open(dir.path()).unwrap();
    assert_eq!(replay.events, events()[..1]);
    assert_eq!(replay.torn, None);
    let reasons: Vec<_> =
        replay.corrupt.iter().map(|c| (c.line, c.reason.split(':').next().unwrap().to_string())).collect();
    assert_eq!(reasons, [(2, "not an association event".to_string())]);
}

#[test]
fn short_or_unframed_lines_in_the_middle_are_corrupt() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), &[]);
    let good = encode_line(&events()[0]).unwrap();
    let mut bytes = b"garbage\nzzzzzzzz {}\n".to_vec();
    bytes.extend_from_slice(&good);
    fs::write(&path, &bytes).unwrap();
    let (_, replay) = AssociationLog::open(dir.path()).unwrap();
    assert_eq!(replay.events, events()[..1]);
    let reasons: Vec<_> = replay.corrupt.iter().map(|c| (c.line, c.offset, c.reason.as_str())).collect();
    assert_eq!(reasons, [(1, 0, "too short for a framed line (7 bytes)"), (2, 8, "the CRC is not 8 hex digits")]);
}
