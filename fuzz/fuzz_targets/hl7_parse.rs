//! Fuzzes the HL7 v2 parser, its path accessors, the ACK builder and the MLLP decoder: no input
//! may panic, an ACK always parses back, and MLLP framing round-trips.

#![no_main]

use libfuzzer_sys::fuzz_target;
use wardstream_protocols::hl7::Message;
use wardstream_protocols::hl7::ack::{self, Reply};
use wardstream_protocols::mllp::{Decoded, ErrorCode, MllpDecoder, encode};

fuzz_target!(|data: &[u8]| {
    match Message::parse(data) {
        Ok(msg) => {
            for seg in msg.all_segments() {
                for n in 0..=seg.field_count() + 1 {
                    let field = seg.field(n);
                    let _ = (field.text(), field.coded_text());
                    for rep in field.repetitions() {
                        for comp in rep.components() {
                            for sub in comp.sub_components() {
                                let _ = sub.text();
                            }
                        }
                    }
                    let _ = field.repetition(1).component(2).sub_component(2).text();
                }
            }
            let reply = Reply::error(ErrorCode::DataType, String::from_utf8_lossy(data));
            let built = ack::build(&msg, &reply, "FUZZ", 0);
            let parsed = Message::parse(built.as_bytes()).expect("an ACK parses");
            assert_eq!(
                parsed.segment("MSA").map(|s| s.field(2).raw().to_owned()),
                Some(msg.msh().field(10).raw().to_owned())
            );
        }
        Err(error) => {
            let built = ack::build_unparsable(error.error_code(), &error.to_string(), "FUZZ", 0);
            assert!(Message::parse(built.as_bytes()).is_ok());
        }
    }
    // Any bytes through the MLLP decoder, then a framed message without control bytes whole.
    let mut decoder = MllpDecoder::new(64);
    decoder.push(data);
    decoder.finish();
    while decoder.next().is_some() {}
    let clean: Vec<u8> = data.iter().copied().filter(|b| ![0x0b, 0x1c].contains(b)).collect();
    let mut decoder = MllpDecoder::new(clean.len());
    decoder.push(&encode(&clean));
    assert_eq!(decoder.next(), Some(Decoded::Frame(clean)));
});
