use proptest::prelude::*;

use super::*;

const ORU: &str = "MSH|^~\\&|MON^0024BEFFFE804FF1^EUI-64|ICU|||20260329013000+0000||ORU^R01^ORU_R01|MSG-1|P|2.6\r\
                   PID|||111^^^H^MR~222^^^H^PI||Doe^John\r\
                   OBX|1|NM|150456^MDC_PULS_OXIM_SAT_O2^MDC|1.1.1.1|97|262688^MDC_DIM_PERCENT^MDC|||||F\r\
                   OBX|2|ST|x||a\\F\\b\\S\\c\\T\\d\\R\\e\\E\\f~second&sub^comp2\r";

#[test]
fn msh_fields_are_numbered_as_the_standard_numbers_them() {
    let msg = Message::parse(ORU.as_bytes()).unwrap();
    let msh = msg.msh();
    assert_eq!((msh.name(), msh.field(0).text()), ("MSH", "MSH".into()));
    assert_eq!(msh.field(1).text(), "|");
    assert_eq!(msh.field(2).text(), "^~\\&");
    // MSH-2 is never split or unescaped, even though it holds every separator.
    assert_eq!((msh.field(2).component(1).raw(), msh.field(2).component(2).raw()), ("^~\\&", ""));
    assert_eq!(msh.field(3).component(2).text(), "0024BEFFFE804FF1");
    assert_eq!(msh.field(7).text(), "20260329013000+0000");
    assert_eq!(msh.field(9).raw(), "ORU^R01^ORU_R01");
    assert_eq!((msg.message_code(), msg.trigger_event()), ("ORU".into(), "R01".into()));
    assert_eq!((msg.control_id(), msg.version()), ("MSG-1".into(), "2.6".into()));
    assert_eq!(msh.field_count(), 12);
    assert_eq!(msh.field(13).text(), "");
}

#[test]
fn repetitions_components_and_sub_components_are_read_by_path_and_unescaped() {
    let msg = Message::parse(ORU.as_bytes()).unwrap();
    let pid = msg.segment("PID").unwrap();
    let ids: Vec<String> = pid.field(3).repetitions().map(|r| r.component(1).text().into_owned()).collect();
    assert_eq!(ids, ["111", "222"]);
    assert_eq!(pid.field(3).repetition(1).component(5).text(), "PI");
    assert_eq!(pid.field(3).component(5).text(), "MR"); // first repetition
    assert_eq!(pid.field(3).repetition(2).component(1).text(), "");
    let obx: Vec<Segment<'_>> = msg.segments("OBX").collect();
    assert_eq!(obx.len(), 2);
    assert_eq!(obx[0].field(3).component(2).text(), "MDC_PULS_OXIM_SAT_O2");
    assert_eq!(obx[0].field(6).coded_text(), "262688^MDC_DIM_PERCENT^MDC");
    let five = obx[1].field(5);
    assert_eq!(five.repetition(0).text(), "a|b^c&d~e\\f");
    assert_eq!(five.repetition(1).raw(), "second&sub^comp2");
    assert_eq!(five.repetition(1).component(1).sub_component(2).text(), "sub");
    assert_eq!(five.repetition(1).sub_component(1).text(), "second");
    assert_eq!(five.repetition(1).component(2).text(), "comp2");
    // A leaf is its own first part; other parts of a leaf are empty.
    let leaf = five.repetition(1).component(2);
    assert_eq!((leaf.component(1).text(), leaf.sub_component(1).text()), ("comp2".into(), "comp2".into()));
    assert_eq!(
        (leaf.component(2).text(), leaf.sub_component(2).text(), leaf.component(0).text()),
        ("".into(), "".into(), "".into())
    );
    assert_eq!(msg.segments("ZZZ").count(), 0);
    assert!(msg.segment("NTE").is_none());
}

#[test]
fn cr_lf_and_crlf_segment_ends_and_blank_lines_all_work() {
    for sep in ["\r", "\n", "\r\n", "\n\n", "\r\r\n"] {
        let text = format!("MSH|^~\\&|A|B|||2026||ADT^A01|1|P|2.5{sep}PID|||X{sep}PV1||I|ICU^1^2{sep}");
        let msg = Message::parse(text.as_bytes()).unwrap();
        let names: Vec<&str> = msg.all_segments().map(|s| s.name()).collect();
        assert_eq!(names, ["MSH", "PID", "PV1"], "{sep:?}");
        assert_eq!(msg.segment("PV1").unwrap().field(3).component(3).text(), "2");
    }
}

#[test]
fn declared_separators_are_honoured() {
    let msg = Message::parse(b"MSH#$*!@#A#B#####ADT$A02#7#P#2.3\rPID###X$$$$MR*Y!F!Z\r").unwrap();
    assert_eq!(msg.delimiters().field, '#');
    assert_eq!((msg.message_code(), msg.trigger_event(), msg.control_id()), ("ADT".into(), "A02".into(), "7".into()));
    let pid3 = msg.segment("PID").unwrap().field(3);
    assert_eq!(pid3.component(5).text(), "MR");
    assert_eq!(pid3.repetition(1).text(), "Y#Z");
    assert_eq!(pid3.coded_text(), "X^^^^MR");
}

#[test]
fn latin1_and_utf8_text_are_both_read_without_loss() {
    let latin1 = b"MSH|^~\\&|A|B|||2026||ADT^A01|1|P|2.5\rPID|||X||M\xfcller\r";
    let msg = Message::parse(latin1).unwrap();
    assert_eq!(msg.segment("PID").unwrap().field(5).text(), "Müller");
    let utf8 = "MSH|^~\\&|A|B|||2026||ADT^A01|1|P|2.5\rPID|||X||Müller\r";
    assert_eq!(Message::parse(utf8.as_bytes()).unwrap().segment("PID").unwrap().field(5).text(), "Müller");
    let bom = "\u{feff}\r\nMSH|^~\\&|A\r";
    assert_eq!(Message::parse(bom.as_bytes()).unwrap().msh().field(3).text(), "A");
}

#[test]
fn unusable_headers_are_errors_that_say_why() {
    let cases: [(&[u8], &str); 9] = [
        (b"", "NoMsh"),
        (b"PID|||X\r", "NoMsh"),
        (b"msh|^~\\&|", "NoMsh"),
        (b"MSH", "MshTooShort"),
        (b"MSH\rPID|", "MshTooShort"),
        (b"MSH|", "MshTooShort"),
        (b"MSH||A", "BadEncodingCharacters"),
        (b"MSHA^~\\&|", "BadFieldSeparator"),
        (b"MSH|^^~\\&|", "BadEncodingCharacters"),
    ];
    for (bytes, expected) in cases {
        let err = Message::parse(bytes).unwrap_err();
        assert!(format!("{err:?}").starts_with(expected), "{:?}: {err:?}", String::from_utf8_lossy(bytes));
        assert!(!err.to_string().is_empty());
    }
    assert_eq!(
        Message::parse(b"PID|1").unwrap_err().to_string(),
        "not an HL7 v2 message: it must start with an MSH segment, but starts with \"PID\""
    );
}

#[test]
fn a_header_with_only_its_separators_parses_with_everything_else_empty() {
    let msg = Message::parse(b"MSH|^~\\&").unwrap();
    assert_eq!((msg.msh().field_count(), msg.message_code(), msg.control_id()), (2, "".into(), "".into()));
}

/// Reads every part of every segment, as a consumer might.
fn walk(msg: &Message) -> usize {
    let mut n = 0;
    for seg in msg.all_segments() {
        for f in 0..=seg.field_count() + 1 {
            let field = seg.field(f);
            n += field.text().len() + field.coded_text().len();
            for rep in field.repetitions() {
                for comp in rep.components() {
                    n += comp.sub_components().map(|s| s.text().len()).sum::<usize>();
                }
            }
        }
    }
    n
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        if let Ok(msg) = Message::parse(&bytes) {
            walk(&msg);
        }
    }

    #[test]
    fn arbitrary_text_after_a_valid_header_never_panics(
        body in "([A-Z0-9|^~\\\\&#\r\nXF.é+-]|ADT|ORU|R01|A17|PID|PV1|OBR|OBX|NM|MR|\rOBX\\|1\\|NM\\|){0,60}",
        enc in prop_oneof![Just("^~\\&".to_owned()), "[\\^~\\\\&#!$*]{1,6}"],
        kind in prop_oneof![Just("ORU^R01"), Just("ADT^A01"), Just("ADT^A17"), Just("")],
    ) {
        let text = format!("MSH|{enc}|A|B|||20260101||{kind}|1|P|2.6\r{body}");
        if let Ok(msg) = Message::parse(text.as_bytes()) {
            walk(&msg);
            let _ = crate::hl7::ack::build(&msg, &crate::hl7::ack::Reply::accept(), "ID", 0);
            let mut clock = wardstream_pipeline::LocalClock::utc();
            let _ = crate::hl7::adt::decode(&msg, 0, &mut clock);
            let result = crate::hl7::pcd01::decode(&msg, std::sync::Arc::from(text.as_bytes()), 0, &mut clock);
            let c = result.counts;
            prop_assert!(c.dead_letters == 1 && c.obx == 0 || c.obx == c.readings + c.dead_letters + c.structural + c.non_numeric);
        }
    }
}
