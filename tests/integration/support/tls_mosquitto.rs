//! A real Mosquitto with a TLS listener and password authentication, for the MQTT security
//! tests: certificates are made by the test with rcgen ([`Pki`]: a CA, a server certificate for
//! `127.0.0.1` and `localhost`, a client certificate), the password file with
//! `mosquitto_passwd -b`, and messages are published over TLS with `mosquitto_pub --cafile -u -P`.
//! The broker is killed when dropped; its log is kept in its directory.

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose,
};

/// PEM files of a test PKI, in a directory that lives as long as the value.
pub struct Pki {
    dir: tempfile::TempDir,
}

impl Pki {
    /// A new CA (common name `cn`) with a server certificate for `127.0.0.1` and `localhost` and a
    /// client certificate (common name `wardstream`), each signed by it.
    pub fn generate(cn: &str) -> Pki {
        let dir = tempfile::tempdir().unwrap();
        let ca_key = KeyPair::generate().unwrap();
        let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.distinguished_name.push(DnType::CommonName, cn);
        ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
        let ca_cert = ca.self_signed(&ca_key).unwrap();
        std::fs::write(dir.path().join("ca.pem"), ca_cert.pem()).unwrap();
        let issuer = Issuer::new(ca, ca_key);
        let leaf = |name: &str, sans: Vec<String>, usage: ExtendedKeyUsagePurpose| {
            let key = KeyPair::generate().unwrap();
            let mut params = CertificateParams::new(sans).unwrap();
            params.distinguished_name.push(DnType::CommonName, name);
            params.key_usages = vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::KeyEncipherment];
            params.extended_key_usages = vec![usage];
            params.use_authority_key_identifier_extension = true;
            let cert = params.signed_by(&key, &issuer).unwrap();
            std::fs::write(dir.path().join(format!("{name}.pem")), cert.pem()).unwrap();
            std::fs::write(dir.path().join(format!("{name}.key")), key.serialize_pem()).unwrap();
        };
        leaf("server", vec!["127.0.0.1".into(), "localhost".into()], ExtendedKeyUsagePurpose::ServerAuth);
        leaf("wardstream", vec![], ExtendedKeyUsagePurpose::ClientAuth);
        Pki { dir }
    }

    /// The CA certificate.
    pub fn ca(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    /// The certificate (`<name>.pem`) and key (`<name>.key`) of `server` or `wardstream`.
    pub fn cert_and_key(&self, name: &str) -> (PathBuf, PathBuf) {
        (self.dir.path().join(format!("{name}.pem")), self.dir.path().join(format!("{name}.key")))
    }
}

/// A running TLS broker.
pub struct TlsMosquitto {
    child: Child,
    port: u16,
    pki: Pki,
    dir: tempfile::TempDir,
}

fn binary() -> PathBuf {
    for candidate in ["/usr/sbin/mosquitto", "/usr/bin/mosquitto", "/usr/local/sbin/mosquitto"] {
        if Path::new(candidate).exists() {
            return PathBuf::from(candidate);
        }
    }
    panic!("mosquitto is not installed: run scripts/test.sh, which installs it (apt package mosquitto)");
}

impl TlsMosquitto {
    /// Starts a broker on a free loopback port: TLS only (certificates of a new [`Pki`]), no
    /// anonymous access, the given `users` (name, password); with `require_client_cert` a client
    /// must also present a certificate signed by the CA.
    pub fn start(users: &[(&str, &str)], require_client_cert: bool) -> TlsMosquitto {
        let pki = Pki::generate("wardstream test CA");
        let dir = tempfile::tempdir().unwrap();
        let passwd = dir.path().join("passwd");
        for (i, (user, password)) in users.iter().enumerate() {
            let mut cmd = Command::new("mosquitto_passwd");
            if i == 0 {
                cmd.arg("-c");
            }
            let out = cmd.arg("-b").arg(&passwd).args([user, password]).output().unwrap();
            assert!(out.status.success(), "mosquitto_passwd: {}", String::from_utf8_lossy(&out.stderr));
        }
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let (cert, key) = pki.cert_and_key("server");
        let user = if super::persistent_mosquitto::is_root() { "user root\n" } else { "" };
        std::fs::write(
            dir.path().join("mosquitto.conf"),
            format!(
                "{user}listener {port} 127.0.0.1\ncafile {}\ncertfile {}\nkeyfile {}\n\
                 require_certificate {require_client_cert}\nallow_anonymous false\npassword_file {}\n\
                 persistence false\nmax_queued_messages 0\nmax_inflight_messages 0\n\
                 log_dest stderr\nlog_type error\nlog_type warning\nlog_type notice\nlog_type information\n",
                pki.ca().display(),
                cert.display(),
                key.display(),
                passwd.display()
            ),
        )
        .unwrap();
        let log = std::fs::File::create(dir.path().join("mosquitto.log")).unwrap();
        let mut child = Command::new(binary())
            .arg("-c")
            .arg(dir.path().join("mosquitto.conf"))
            .stdout(Stdio::null())
            .stderr(Stdio::from(log))
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Some(status) = child.try_wait().unwrap() {
                panic!(
                    "mosquitto exited ({status}):\n{}",
                    std::fs::read_to_string(dir.path().join("mosquitto.log")).unwrap_or_default()
                );
            }
            assert!(Instant::now() < deadline, "mosquitto did not listen on {port}");
            std::thread::sleep(Duration::from_millis(20));
        }
        TlsMosquitto { child, port, pki, dir }
    }

    /// `mqtts://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("mqtts://127.0.0.1:{}", self.port)
    }

    /// The PKI whose CA signed the broker's certificate.
    pub fn pki(&self) -> &Pki {
        &self.pki
    }

    /// The broker's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("mosquitto.log")).unwrap_or_default()
    }

    /// Publishes `payload` to `topic` at QoS 1 over TLS as `user`, verifying the broker against
    /// the CA (`mosquitto_pub --cafile -u -P`, with the client certificate when the broker wants
    /// one); panics when `mosquitto_pub` fails.
    pub fn publish(&self, user: &str, password: &str, topic: &str, payload: &str) {
        let mut cmd = Command::new("mosquitto_pub");
        cmd.args(["-h", "127.0.0.1", "-p", &self.port.to_string(), "-q", "1", "--cafile"])
            .arg(self.pki.ca())
            .args(["-u", user, "-P", password, "-t", topic, "-m", payload]);
        let (cert, key) = self.pki.cert_and_key("wardstream");
        cmd.arg("--cert").arg(cert).arg("--key").arg(key);
        let out = cmd.output().expect("mosquitto_pub not found: install mosquitto-clients (scripts/test.sh does)");
        assert!(
            out.status.success(),
            "mosquitto_pub over TLS failed: {}\nbroker log:\n{}",
            String::from_utf8_lossy(&out.stderr),
            self.log()
        );
    }
}

impl Drop for TlsMosquitto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
