use proptest::prelude::*;

use super::*;

fn drain(decoder: &mut MllpDecoder) -> Vec<Decoded> {
    std::iter::from_fn(|| decoder.next()).collect()
}

fn frame(text: &str) -> Decoded {
    Decoded::Frame(text.as_bytes().to_vec())
}

/// Three frames with garbage before, between and after: 5 + 3 + 2 + 4 garbage bytes.
fn stream() -> Vec<u8> {
    let mut s = b"junk\n".to_vec();
    s.extend(encode(b"MSH|1"));
    s.extend(b"\r\n ");
    s.extend(encode(b"MSH|2\rPID|x"));
    s.extend(b"\x00\xff");
    s.extend(encode(b"MSH|3"));
    s.extend(b"tail");
    s
}

#[test]
fn encode_wraps_a_message_in_start_and_end_blocks() {
    assert_eq!(encode(b"MSH|x"), b"\x0bMSH|x\x1c\x0d");
}

#[test]
fn frames_come_out_whole_and_garbage_between_them_is_counted() {
    let mut d = MllpDecoder::new(1024);
    d.push(&stream());
    assert_eq!(drain(&mut d), [frame("MSH|1"), frame("MSH|2\rPID|x"), frame("MSH|3")]);
    assert_eq!(d.discarded_bytes(), 5 + 3 + 2 + 4);
    assert!(!d.in_frame());
}

#[test]
fn a_split_at_every_byte_boundary_gives_the_same_frames() {
    let bytes = stream();
    for cut in 0..=bytes.len() {
        let mut d = MllpDecoder::new(1024);
        d.push(&bytes[..cut]);
        let mut got = drain(&mut d);
        d.push(&bytes[cut..]);
        got.extend(drain(&mut d));
        assert_eq!(got.len(), 3, "cut at {cut}");
        assert_eq!(got[1], frame("MSH|2\rPID|x"), "cut at {cut}");
        assert_eq!(d.discarded_bytes(), 14, "cut at {cut}");
    }
    let mut d = MllpDecoder::new(1024);
    for b in &bytes {
        d.push(std::slice::from_ref(b));
    }
    assert_eq!(drain(&mut d), [frame("MSH|1"), frame("MSH|2\rPID|x"), frame("MSH|3")]);
}

#[test]
fn an_oversize_frame_is_skipped_reported_once_and_the_next_frame_is_read() {
    let mut d = MllpDecoder::new(10);
    let mut bytes = encode(b"0123456789"); // exactly the maximum: accepted
    bytes.extend(encode(b"0123456789ABCDEFGHIJ")); // 20 bytes: too long
    bytes.extend(encode(b"MSH|ok"));
    for chunk in bytes.chunks(3) {
        d.push(chunk);
    }
    let head = b"0123456789".to_vec();
    assert_eq!(drain(&mut d), [frame("0123456789"), Decoded::Oversize { len: 20, head }, frame("MSH|ok")]);
    assert_eq!(d.discarded_bytes(), 0);
}

#[test]
fn the_head_of_an_oversize_frame_is_at_most_the_head_size() {
    let mut d = MllpDecoder::new(5000);
    d.push(&encode(&vec![b'x'; 6000]));
    match drain(&mut d).as_slice() {
        [Decoded::Oversize { len: 6000, head }] => assert_eq!(head.len(), OVERSIZE_HEAD_BYTES),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_start_block_inside_a_frame_abandons_it_and_resynchronises() {
    let mut d = MllpDecoder::new(1024);
    d.push(b"\x0bMSH|partial\x0bMSH|whole\x1c\x0d");
    assert_eq!(drain(&mut d), [frame("MSH|whole")]);
    assert_eq!(d.discarded_bytes(), 1 + 11);
    // The same inside an oversize frame: it is reported, then the new frame is read.
    let mut d = MllpDecoder::new(4);
    d.push(b"\x0bMSH|long\x0bMSH\x1c\x0d");
    assert_eq!(drain(&mut d), [Decoded::Oversize { len: 8, head: b"MSH|".to_vec() }, frame("MSH")]);
}

#[test]
fn a_missing_carriage_return_after_the_end_block_is_tolerated() {
    let mut d = MllpDecoder::new(1024);
    d.push(b"\x0bA\x1c\x0bB\x1cX\x0bC\x1c\x0d\x0d");
    assert_eq!(drain(&mut d), [frame("A"), frame("B"), frame("C")]);
    // `X` (not a CR) and the second CR are outside any frame.
    assert_eq!(d.discarded_bytes(), 2);
}

#[test]
fn finish_discards_an_unfinished_frame_and_reports_an_unfinished_oversize_one() {
    let mut d = MllpDecoder::new(1024);
    d.push(b"\x0bMSH|cut off");
    assert!(d.in_frame());
    assert_eq!(d.finish(), 12);
    assert_eq!((drain(&mut d), d.discarded_bytes(), d.in_frame()), (vec![], 12, false));
    assert_eq!(d.finish(), 0);
    let mut d = MllpDecoder::new(3);
    d.push(b"\x0bMSH|cut");
    assert_eq!(d.finish(), 8);
    assert_eq!(drain(&mut d), [Decoded::Oversize { len: 7, head: b"MSH".to_vec() }]);
    assert_eq!(d.discarded_bytes(), 0);
}

#[test]
fn an_empty_frame_is_a_frame() {
    let mut d = MllpDecoder::new(1024);
    d.push(b"\x0b\x1c\x0d");
    assert_eq!(drain(&mut d), [Decoded::Frame(vec![])]);
}

proptest! {
    #[test]
    fn any_chunking_of_any_bytes_gives_the_same_result_as_one_push(
        bytes in proptest::collection::vec(prop_oneof![Just(0x0bu8), Just(0x1c), Just(0x0d), any::<u8>()], 0..200),
        cuts in proptest::collection::vec(0usize..200, 0..6),
        max in 0usize..40,
    ) {
        let mut whole = MllpDecoder::new(max);
        whole.push(&bytes);
        whole.finish();
        let expected = drain(&mut whole);
        let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c.min(bytes.len())).collect();
        cuts.sort_unstable();
        let mut pieces = MllpDecoder::new(max);
        let mut at = 0;
        for cut in cuts.into_iter().chain([bytes.len()]) {
            pieces.push(&bytes[at..cut]);
            at = cut;
        }
        pieces.finish();
        prop_assert_eq!(drain(&mut pieces), expected);
        prop_assert_eq!(pieces.discarded_bytes(), whole.discarded_bytes());
    }
}
