//! The MLLP listener against an independent peer: the Python `hl7` package's `MLLPClient`
//! (installed by `scripts/test.sh`) sends the three shared ADT samples, an unsupported trigger
//! and a frame that is not HL7 over one connection, and prints each ACK it received; the ACK
//! codes and MSA-2 values are checked here.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use tokio::sync::watch;
use wardstream_pipeline::association::AdtKind;
use wardstream_pipeline::time::LocalClock;
use wardstream_protocols::hl7::{Message, adt};
use wardstream_protocols::mllp::{Decoded, MllpConfig, MllpDecoder, MllpHandler, MllpStats, Reply, serve};

/// Decodes ADT messages; accepts what decodes, answers the decoder's error otherwise.
#[derive(Default)]
struct AdtHandler {
    kinds: Mutex<Vec<AdtKind>>,
}

impl MllpHandler for AdtHandler {
    async fn handle(&self, msg: Message, _raw: Arc<[u8]>, _peer: SocketAddr) -> Reply {
        match adt::decode(&msg, 0, &mut LocalClock::utc()) {
            Ok(event) => {
                self.kinds.lock().unwrap().push(event.kind);
                Reply::accept()
            }
            Err(error) => error.reply(),
        }
    }
}

const CLIENT: &str = r#"
import json, sys
from hl7.client import MLLPClient

host, port = sys.argv[1], int(sys.argv[2])
with MLLPClient(host, port) as client:
    for path in sys.argv[3:]:
        data = open(path, "rb").read().replace(b"\r\n", b"\r").replace(b"\n", b"\r")
        ack = client.send_message(data)
        print(json.dumps({"file": path.rsplit("/", 1)[-1], "ack": ack.decode("latin-1")}), flush=True)
"#;

#[tokio::test]
async fn the_python_hl7_mllp_client_gets_the_right_ack_for_each_message() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let handler = Arc::new(AdtHandler::default());
    let stats = Arc::new(MllpStats::new());
    let (stop, shutdown) = watch::channel(false);
    let server = tokio::spawn({
        let (handler, stats) = (Arc::clone(&handler), Arc::clone(&stats));
        async move { serve(listener, &MllpConfig::test_config(), handler, stats, shutdown).await }
    });

    let data = format!("{}/tests/data/hl7", env!("CARGO_MANIFEST_DIR"));
    let dir = tempfile::tempdir().unwrap();
    let a99 = dir.path().join("a99.hl7");
    std::fs::write(&a99, "MSH|^~\\&|ADT|H|WS|ICU|20260101||ADT^A99|X-99|P|2.5\rPID|||P^^^H^MR\r").unwrap();
    let junk = dir.path().join("junk.hl7");
    std::fs::write(&junk, "this is not HL7").unwrap();
    let mut files: Vec<String> =
        ["fhirconv-adt-a01.hl7", "fhirconv-adt-a02.hl7", "fhirconv-adt-a03.hl7"].map(|f| format!("{data}/{f}")).into();
    files.extend([a99, junk].map(|p| p.display().to_string()));

    let output = tokio::process::Command::new("python3")
        .args(["-c", CLIENT, "127.0.0.1", &addr.port().to_string()])
        .args(&files)
        .output()
        .await
        .expect("python3 runs");
    assert!(output.status.success(), "python failed: {}", String::from_utf8_lossy(&output.stderr));

    let mut got = Vec::new();
    for line in String::from_utf8(output.stdout).unwrap().lines() {
        let printed: serde_json::Value = serde_json::from_str(line).unwrap();
        let bytes: Vec<u8> = printed["ack"].as_str().unwrap().chars().map(|c| c as u8).collect();
        let mut decoder = MllpDecoder::new(1 << 16);
        decoder.push(&bytes);
        let Some(Decoded::Frame(frame)) = decoder.next() else { panic!("not one MLLP frame: {line}") };
        let ack = Message::parse(&frame).unwrap();
        assert_eq!((ack.message_code(), ack.msh().field(9).component(3).text()), ("ACK".into(), "ACK".into()));
        let msa = ack.segment("MSA").unwrap();
        let file = printed["file"].as_str().unwrap().to_owned();
        got.push((file, msa.field(1).text().into_owned(), msa.field(2).text().into_owned()));
    }
    let row = |f: &str, code: &str, id: &str| (f.to_owned(), code.to_owned(), id.to_owned());
    assert_eq!(
        got,
        [
            row("fhirconv-adt-a01.hl7", "AA", "MSG00001"),
            row("fhirconv-adt-a02.hl7", "AA", "MSG00001"),
            row("fhirconv-adt-a03.hl7", "AA", "MSG00001"),
            row("a99.hl7", "AR", "X-99"),
            row("junk.hl7", "AR", ""),
        ]
    );
    assert_eq!(*handler.kinds.lock().unwrap(), [AdtKind::Admit, AdtKind::Transfer, AdtKind::Discharge]);
    let s = stats.snapshot();
    assert_eq!((s.connections_accepted, s.frames, s.acks_aa, s.acks_ae, s.acks_ar, s.parse_errors), (1, 5, 3, 0, 2, 1));
    stop.send(true).unwrap();
    server.await.unwrap().unwrap();
}
