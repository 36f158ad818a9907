//! Single sign-on JWTs: keys generated here (RSA 2048 and P-256), their public halves written as
//! the JWKS file the service reads; RS256 and ES256 tokens with the right issuer, audience and
//! expiry are accepted with the role and wards of their claims; expired, wrong-audience,
//! wrong-issuer, wrongly signed, HS256 and unsigned tokens are 401.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use p256::pkcs8::EncodePrivateKey;
use rsa::pkcs1::EncodeRsaPrivateKey;
use rsa::traits::PublicKeyParts;
use serde_json::{Value, json};
use wardstream_ingest::auth::AuthSettings;
use wardstream_ingest::auth::settings::JwtSettings;

use crate::api_common::{associate, minutes_ago, place, rfc3339, start_with};
use crate::support::http::request_as;

const ISSUER: &str = "https://sso.hospital.test";
const AUDIENCE: &str = "wardstream";

struct Keys {
    rsa: EncodingKey,
    ec: EncodingKey,
    other_rsa: EncodingKey,
    jwks: Value,
}

fn keys() -> Keys {
    let mut rng = rand_core::OsRng;
    let rsa_key = rsa::RsaPrivateKey::new(&mut rng, 2048).unwrap();
    let other = rsa::RsaPrivateKey::new(&mut rng, 2048).unwrap();
    let ec_key = p256::SecretKey::random(&mut rng);
    let point = ec_key.public_key().to_sec1_bytes();
    // Uncompressed SEC1: 0x04 ‖ x (32 bytes) ‖ y (32 bytes).
    assert_eq!((point.len(), point[0]), (65, 4));
    let b64 = |bytes: &[u8]| URL_SAFE_NO_PAD.encode(bytes);
    let jwks = json!({"keys": [
        {"kty": "RSA", "kid": "rsa-1", "use": "sig", "alg": "RS256",
         "n": b64(&rsa_key.n().to_bytes_be()), "e": b64(&rsa_key.e().to_bytes_be())},
        {"kty": "EC", "kid": "ec-1", "use": "sig", "alg": "ES256", "crv": "P-256",
         "x": b64(&point[1..33]), "y": b64(&point[33..65])},
    ]});
    Keys {
        rsa: EncodingKey::from_rsa_der(rsa_key.to_pkcs1_der().unwrap().as_bytes()),
        ec: EncodingKey::from_ec_der(ec_key.to_pkcs8_der().unwrap().as_bytes()),
        other_rsa: EncodingKey::from_rsa_der(other.to_pkcs1_der().unwrap().as_bytes()),
        jwks,
    }
}

fn sign(alg: Algorithm, kid: &str, key: &EncodingKey, claims: &Value) -> String {
    let header = Header { kid: Some(kid.into()), ..Header::new(alg) };
    jsonwebtoken::encode(&header, claims, key).unwrap()
}

fn claims(role: &str, wards: &[&str], exp_offset_s: i64, iss: &str, aud: &str) -> Value {
    let now = chrono::Utc::now().timestamp();
    json!({"sub": format!("{role}@hospital"), "role": role, "wards": wards, "iss": iss, "aud": aud,
           "iat": now, "exp": now + exp_offset_s})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rs256_and_es256_tokens_from_the_jwks_are_accepted_and_bad_ones_are_401() {
    let keys = keys();
    let data = tempfile::tempdir().unwrap();
    let jwks_file = data.path().join("jwks.json");
    std::fs::write(&jwks_file, keys.jwks.to_string()).unwrap();
    let service = start_with(data.path(), None, "ws-sec-jwt", false, |c| {
        // JWTs only, plus the test admin token the helpers use for set-up.
        c.auth = AuthSettings {
            jwt: Some(JwtSettings {
                jwks_file: jwks_file.clone(),
                issuer: ISSUER.into(),
                audience: AUDIENCE.into(),
                role_claim: "role".into(),
                wards_claim: "wards".into(),
                user_claim: "sub".into(),
                leeway_secs: 0,
            }),
            ..crate::support::test_auth()
        };
    })
    .await;
    let api = service.http_address().unwrap();
    let t0 = minutes_ago(60);
    place(api, "mon-j", ("ICU-J", "1", "J1"), t0);
    associate(api, &json!({"id": "as-j", "device_id": "mon-j", "patient_id": "PJ", "start": rfc3339(t0)}));

    let timeline = "/api/v1/patients/PJ/timeline";
    let status = |token: &str, path: &str| request_as(api, "GET", path, None, Some(token));
    let good = |role: &str, wards: &[&str]| claims(role, wards, 600, ISSUER, AUDIENCE);

    // Accepted, with the role and wards of the claims.
    let rs = sign(Algorithm::RS256, "rsa-1", &keys.rsa, &good("clinician", &["ICU-J"]));
    assert_eq!(status(&rs, timeline).status, 200);
    let es = sign(Algorithm::ES256, "ec-1", &keys.ec, &good("clinician", &["ICU-J"]));
    assert_eq!(status(&es, timeline).status, 200);
    let es_other_ward = sign(Algorithm::ES256, "ec-1", &keys.ec, &good("clinician", &["ICU-X"]));
    assert_eq!(status(&es_other_ward, timeline).status, 403);
    let integration = sign(Algorithm::RS256, "rsa-1", &keys.rsa, &good("integration", &[]));
    assert_eq!(status(&integration, "/api/v1/devices").status, 200);
    assert_eq!(status(&integration, timeline).status, 403);
    let admin_es = sign(Algorithm::ES256, "ec-1", &keys.ec, &good("admin", &[]));
    assert_eq!(status(&admin_es, "/metrics").status, 200);

    // Refused: 401 with the Bearer challenge naming an invalid token.
    let hs = jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &good("admin", &[]),
        &EncodingKey::from_secret(b"guessable"),
    )
    .unwrap();
    let unsigned = {
        let head = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
        let body = URL_SAFE_NO_PAD.encode(good("admin", &[]).to_string());
        format!("{head}.{body}.")
    };
    let bad = [
        ("expired", sign(Algorithm::RS256, "rsa-1", &keys.rsa, &claims("admin", &[], -120, ISSUER, AUDIENCE))),
        ("wrong audience", sign(Algorithm::RS256, "rsa-1", &keys.rsa, &claims("admin", &[], 600, ISSUER, "other"))),
        (
            "wrong issuer",
            sign(Algorithm::ES256, "ec-1", &keys.ec, &claims("admin", &[], 600, "https://evil", AUDIENCE)),
        ),
        ("wrongly signed", sign(Algorithm::RS256, "rsa-1", &keys.other_rsa, &good("admin", &[]))),
        ("wrongly signed, no kid", {
            let header = Header::new(Algorithm::RS256);
            jsonwebtoken::encode(&header, &good("admin", &[]), &keys.other_rsa).unwrap()
        }),
        ("HS256", hs),
        ("alg none", unsigned),
        ("unknown role", sign(Algorithm::RS256, "rsa-1", &keys.rsa, &good("superuser", &[]))),
        ("clinician without wards", sign(Algorithm::RS256, "rsa-1", &keys.rsa, &good("clinician", &[]))),
    ];
    for (what, token) in bad {
        let r = status(&token, "/metrics");
        assert_eq!(r.status, 401, "{what}: {}", r.body);
        let challenge = r.www_authenticate.unwrap_or_default();
        assert!(challenge.starts_with("Bearer ") && challenge.contains("invalid_token"), "{what}: {challenge}");
        let r = status(&token, "/fhir/r4/Observation?patient=PJ");
        assert_eq!((r.status, r.json()["resourceType"].as_str()), (401, Some("OperationOutcome")), "{what}");
    }
    let expired = sign(Algorithm::RS256, "rsa-1", &keys.rsa, &claims("admin", &[], -120, ISSUER, AUDIENCE));
    assert_eq!(status(&expired, "/metrics").json()["error"], "invalid credentials: token expired");
    service.shutdown().await.unwrap();
}
