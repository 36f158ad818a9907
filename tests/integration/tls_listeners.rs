//! TLS on the service's own listeners through the real binary: `wardstream run` with
//! `[http] tls_cert_file/tls_key_file` and `[adt] tls_cert_file/tls_key_file`, certificates made
//! by the test (rcgen, [`Pki`]). HTTPS with the test CA works (`curl --cacert`), plain HTTP to
//! the TLS port gets no HTTP response, a failed handshake does not stop the listener, and an ADT
//! A01 sent over MLLP inside TLS (Python's `ssl`) is answered `AA`; the PCD-01 listener starts
//! with TLS too. An unreadable certificate is
//! a start-up error naming the file.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use chrono::Utc;
use wardstream_simulators::adt_feed::AdtMessage;

use crate::support::tls_mosquitto::Pki;
use crate::support::wardstream_process::WardstreamProcess;
use crate::support::{ADMIN_TOKEN, auth_toml, wardstream_bin};

/// Sends one MLLP frame over TLS (verifying the server against `ca`) and prints the ACK.
const MLLP_TLS_CLIENT: &str = r#"
import socket, ssl, sys
host, port, ca, path = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
ctx = ssl.create_default_context(cafile=ca)
with socket.create_connection((host, port), timeout=20) as raw:
    with ctx.wrap_socket(raw, server_hostname=host) as s:
        s.sendall(b"\x0b" + open(path, "rb").read() + b"\x1c\x0d")
        buf = b""
        while b"\x1c\x0d" not in buf:
            chunk = s.recv(4096)
            if not chunk:
                break
            buf += chunk
        sys.stdout.write(buf.strip(b"\x0b\x1c\x0d").decode())
"#;

fn config(dir: &Path, pki: &Pki) -> std::path::PathBuf {
    let (cert, key) = pki.cert_and_key("server");
    let path = dir.join("wardstream.toml");
    std::fs::write(
        &path,
        format!(
            "[storage]\ndata_dir = {:?}\n\n[http]\nlisten = \"127.0.0.1:0\"\ntls_cert_file = {cert:?}\n\
             tls_key_file = {key:?}\n\n[adt]\nlisten = \"127.0.0.1:0\"\ntls_cert_file = {cert:?}\n\
             tls_key_file = {key:?}\n\n[pcd01]\nlisten = \"127.0.0.1:0\"\ntls_cert_file = {cert:?}\n\
             tls_key_file = {key:?}\n{}",
            dir.join("data"),
            auth_toml()
        ),
    )
    .unwrap();
    path
}

fn address_after(line: &str) -> SocketAddr {
    line.split_whitespace()
        .find_map(|w| w.strip_prefix("address="))
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| panic!("no address in {line:?}"))
}

/// `curl --cacert <ca> https://127.0.0.1:<port><path>` as the admin: (exit code, body).
fn curl(ca: &Path, api: SocketAddr, path: &str) -> (i32, String) {
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "20", "--cacert"])
        .arg(ca)
        .args(["-H", &format!("Authorization: Bearer {ADMIN_TOKEN}"), "-w", "\n%{http_code}"])
        .arg(format!("https://{api}{path}"))
        .output()
        .unwrap();
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stdout).into_owned())
}

#[test]
fn https_and_mllp_over_tls_work_and_plain_connections_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::generate("wardstream test CA");
    let mut service = WardstreamProcess::spawn(&config(dir.path(), &pki), &dir.path().join("wardstream.log"));
    let api = address_after(&service.wait_log("HTTP API ready", Duration::from_secs(60)));
    let adt_line = service.wait_log("ADT listener (HL7 MLLP) ready", Duration::from_secs(60));
    assert!(adt_line.contains("tls=true"), "{adt_line}");
    let adt = address_after(&adt_line);
    let pcd01_line = service.wait_log("PCD-01 listener (HL7 MLLP) ready", Duration::from_secs(60));
    assert!(pcd01_line.contains("tls=true"), "{pcd01_line}");

    // Plain HTTP to the TLS port: no HTTP answer (the handshake fails, the connection closes).
    let mut plain = TcpStream::connect(api).unwrap();
    plain.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    plain.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").unwrap();
    let mut answer = Vec::new();
    let _ = plain.read_to_end(&mut answer);
    assert!(!answer.starts_with(b"HTTP/"), "plain HTTP was answered: {:?}", String::from_utf8_lossy(&answer));
    service.wait_log("HTTP API TLS handshake failed", Duration::from_secs(20));

    // HTTPS with the test CA, after the failed handshake: the listener goes on.
    let (code, out) = curl(&pki.ca(), api, "/healthz");
    assert_eq!(code, 0, "curl failed: {out}");
    assert_eq!(out.lines().last(), Some("200"), "{out}");
    let (code, out) = curl(&pki.ca(), api, "/metrics");
    assert_eq!((code, out.lines().last()), (0, Some("200")), "{out}");
    // Without the CA the server certificate is not trusted: curl exit 60.
    let untrusted = Command::new("curl")
        .args(["-sS", "--max-time", "20", &format!("https://{api}/healthz")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert_eq!(untrusted.code(), Some(60));

    // Plain MLLP to the TLS ADT port: no ACK.
    let a01 = AdtMessage {
        trigger: "A01".into(),
        control_id: "TLS-00001".into(),
        patient_id: "TLS-PATIENT-1".into(),
        encounter_id: "V-TLS-1".into(),
        location: ("icu-9".into(), "1".into(), "bed-01".into()),
        prior: None,
        event_time: Utc::now(),
    };
    let message = dir.path().join("a01.hl7");
    std::fs::write(&message, a01.to_hl7()).unwrap();
    let mut plain = TcpStream::connect(adt).unwrap();
    plain.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut frame = vec![0x0b];
    frame.extend_from_slice(a01.to_hl7().as_bytes());
    frame.extend_from_slice(&[0x1c, 0x0d]);
    plain.write_all(&frame).unwrap();
    let mut answer = Vec::new();
    let _ = plain.read_to_end(&mut answer);
    assert!(!String::from_utf8_lossy(&answer).contains("MSA|"), "plain MLLP was acknowledged");
    service.wait_log("MLLP TLS handshake failed", Duration::from_secs(20));

    // MLLP inside TLS: ACK AA for the A01.
    let out = Command::new("python3")
        .args(["-c", MLLP_TLS_CLIENT, "127.0.0.1", &adt.port().to_string()])
        .arg(pki.ca())
        .arg(&message)
        .output()
        .unwrap();
    let ack = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "python client failed: {}", String::from_utf8_lossy(&out.stderr));
    let msa = ack.split('\r').find(|s| s.starts_with("MSA|")).unwrap_or_else(|| panic!("no MSA in {ack:?}"));
    assert_eq!(msa.split('|').take(3).collect::<Vec<_>>(), ["MSA", "AA", "TLS-00001"]);
    service.terminate(Duration::from_secs(30));
}

#[test]
fn an_unreadable_certificate_is_a_start_up_error_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-such-cert.pem");
    let key = dir.path().join("no-such-key.pem");
    let path = dir.path().join("wardstream.toml");
    std::fs::write(
        &path,
        format!(
            "[storage]\ndata_dir = {:?}\n\n[http]\nlisten = \"127.0.0.1:0\"\ntls_cert_file = {missing:?}\n\
             tls_key_file = {key:?}\n{}",
            dir.path().join("data"),
            auth_toml()
        ),
    )
    .unwrap();
    let out = Command::new(wardstream_bin()).args(["run", "--config"]).arg(&path).output().unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(&format!("reading the TLS certificate {}", missing.display())), "{stderr}");
}
