use super::*;

/// 2023-11-14T22:13:20Z.
const NOW: Micros = 1_700_000_000_000_000;

fn adt(version: &str) -> Message {
    let text = format!(
        "MSH|^~\\&|ADT1|HOSP^1.2^ISO|WARD|ICU|20260329013000||ADT^A01^ADT_A01|MSG-77|P|{version}\rPID|||X^^^^MR\r"
    );
    Message::parse(text.as_bytes()).unwrap()
}

#[test]
fn an_accept_swaps_sender_and_receiver_and_echoes_the_control_id() {
    let ack = build(&adt("2.5.1"), &Reply::accept(), "A1", NOW);
    assert_eq!(
        ack,
        "MSH|^~\\&|WARD|ICU|ADT1|HOSP^1.2^ISO|20231114221320+0000||ACK^A01^ACK|A1|P|2.5.1\rMSA|AA|MSG-77\r"
    );
    let parsed = Message::parse(ack.as_bytes()).unwrap();
    assert_eq!((parsed.message_code(), parsed.trigger_event()), ("ACK".into(), "A01".into()));
    assert_eq!(parsed.msh().field(6).component(2).text(), "1.2");
}

#[test]
fn an_error_carries_its_reason_in_msa_3_and_a_v25_err_segment() {
    let reply = Reply::error(ErrorCode::RequiredFieldMissing, "PID-3 is empty | no patient");
    let ack = build(&adt("2.8"), &reply, "A2", NOW);
    let lines: Vec<&str> = ack.split_terminator('\r').collect();
    assert_eq!(lines.len(), 3);
    assert_eq!(lines[1], "MSA|AE|MSG-77|PID-3 is empty \\F\\ no patient");
    assert_eq!(lines[2], "ERR|||101^Required field missing^HL70357|E||||PID-3 is empty \\F\\ no patient");
    let parsed = Message::parse(ack.as_bytes()).unwrap();
    assert_eq!(parsed.segment("MSA").unwrap().field(3).text(), "PID-3 is empty | no patient");
    assert_eq!(parsed.segment("ERR").unwrap().field(3).component(1).text(), "101");
}

#[test]
fn a_reject_for_a_v23_message_uses_err_1() {
    let reply = Reply::reject(ErrorCode::UnsupportedEventCode, "A99 is not supported");
    let ack = build(&adt("2.3"), &reply, "A3", NOW);
    assert!(ack.ends_with("MSA|AR|MSG-77|A99 is not supported\rERR|^^^201&Unsupported event code&HL70357\r"), "{ack}");
    // Without an error code, AE/AR say 207.
    let bare = Reply { code: AckCode::Error, text: String::new(), error: None };
    assert!(
        build(&adt("2.6"), &bare, "A4", NOW)
            .ends_with("MSA|AE|MSG-77\rERR|||207^Application internal error^HL70357|E||||\r")
    );
}

#[test]
fn the_message_s_own_separators_are_used() {
    let msg = Message::parse(b"MSH#$*!@#APP#FAC#RCV#RF#2026##ORU$R01#ID$7#T#2.6\r").unwrap();
    let ack = build(&msg, &Reply::error(ErrorCode::DataType, "a#b"), "X#1", NOW);
    assert_eq!(
        ack,
        "MSH#$*!@#RCV#RF#APP#FAC#20231114221320+0000##ACK$R01$ACK#X!F!1#T#2.6\r\
         MSA#AE#ID$7#a!F!b\rERR###102$Data type error$HL70357#E####a!F!b\r"
    );
    let parsed = Message::parse(ack.as_bytes()).unwrap();
    assert_eq!((parsed.control_id(), parsed.segment("MSA").unwrap().field(2).raw()), ("X#1".into(), "ID$7"));
}

#[test]
fn missing_version_and_processing_id_get_defaults() {
    let msg = Message::parse(b"MSH|^~\\&|A||||||ADT^A08|9").unwrap();
    let ack = build(&msg, &Reply::accept(), "Z", NOW);
    assert_eq!(ack, "MSH|^~\\&|||A||20231114221320+0000||ACK^A08^ACK|Z|P|2.5\rMSA|AA|9\r");
}

#[test]
fn unparsable_bytes_get_an_ar_without_msa_2() {
    let error = Message::parse(b"garbage").unwrap_err();
    let ack = build_unparsable(error.error_code(), &error.to_string(), "U1", NOW);
    assert_eq!(
        ack,
        "MSH|^~\\&|||||20231114221320+0000||ACK^^ACK|U1|P|2.5\r\
         MSA|AR||not an HL7 v2 message: it must start with an MSH segment, but starts with \"gar\"\r\
         ERR|||100^Segment sequence error^HL70357|E||||not an HL7 v2 message: it must start with an MSH segment, but starts with \"gar\"\r"
    );
    let parsed = Message::parse(ack.as_bytes()).unwrap();
    let msa = parsed.segment("MSA").unwrap();
    assert_eq!((msa.field(1).text(), msa.field(2).text()), ("AR".into(), "".into()));
    assert_eq!(Message::parse(b"MSH|^^").unwrap_err().error_code(), ErrorCode::DataType);
}
