//! JSON request bodies with the API's own error answers.
//!
//! axum's `Json` extractor answers its rejections itself (422, 415 or 400 with a `text/plain`
//! body). [`ApiJson`] and [`OptionalApiJson`] answer every unreadable body with the API's JSON
//! error body ([`ApiError`]) instead:
//!
//! - a body without `Content-Type: application/json` (or `…+json`) → 415;
//! - a body over the configured limit (`http.max_body_bytes`) → 413;
//! - broken JSON, a missing or unknown field, a field of the wrong type → 400, saying what.
//!
//! [`OptionalApiJson`] takes an empty body as "no body" (`None`), and is otherwise as strict as
//! [`ApiJson`]: a body it cannot read is refused, never ignored.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use axum::http::header::CONTENT_TYPE;
use serde::de::DeserializeOwned;

use super::error::ApiError;

/// A JSON body (see the module docs).
#[derive(Debug)]
pub struct ApiJson<T>(pub T);

/// A JSON body or none at all (see the module docs).
#[derive(Debug)]
pub struct OptionalApiJson<T>(pub Option<T>);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let json = is_json(&req);
        let bytes = read(req, state).await?;
        if !json {
            return Err(unsupported());
        }
        parse(&bytes).map(ApiJson)
    }
}

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for OptionalApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let json = is_json(&req);
        let bytes = read(req, state).await?;
        if bytes.is_empty() {
            return Ok(OptionalApiJson(None));
        }
        if !json {
            return Err(unsupported());
        }
        parse(&bytes).map(|v| OptionalApiJson(Some(v)))
    }
}

/// Whether the request says its body is JSON.
fn is_json(req: &Request) -> bool {
    let Some(value) = req.headers().get(CONTENT_TYPE).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let mime = value.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
    mime == "application/json" || (mime.starts_with("application/") && mime.ends_with("+json"))
}

async fn read<S: Send + Sync>(req: Request, state: &S) -> Result<Bytes, ApiError> {
    Bytes::from_request(req, state).await.map_err(|rejection| {
        let status = rejection.status();
        if status == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError { status, message: "the request body is larger than this server accepts".into() }
        } else {
            ApiError::bad_request(format!("the request body could not be read: {}", rejection.body_text()))
        }
    })
}

fn unsupported() -> ApiError {
    ApiError {
        status: StatusCode::UNSUPPORTED_MEDIA_TYPE,
        message: "the request body must be JSON, sent with Content-Type: application/json".into(),
    }
}

fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(bytes).map_err(|e| ApiError::bad_request(format!("invalid JSON body: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;

    #[derive(Debug, serde::Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct B {
        a: u32,
    }

    fn req(content_type: Option<&str>, body: &str) -> Request {
        let mut b = axum::http::Request::builder().method("POST").uri("/");
        if let Some(c) = content_type {
            b = b.header(CONTENT_TYPE, c);
        }
        b.body(Body::from(body.to_owned())).unwrap()
    }

    #[tokio::test]
    async fn bodies_are_json_with_a_json_content_type_or_refused() {
        let ok = ApiJson::<B>::from_request(req(Some("application/json; charset=utf-8"), r#"{"a":1}"#), &()).await;
        assert_eq!(ok.unwrap().0, B { a: 1 });
        let e = ApiJson::<B>::from_request(req(None, r#"{"a":1}"#), &()).await.unwrap_err();
        assert_eq!(e.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
        let e = ApiJson::<B>::from_request(req(Some("application/json"), r#"{"a":1,"b":2}"#), &()).await.unwrap_err();
        assert_eq!(e.status, StatusCode::BAD_REQUEST);
        assert!(e.message.starts_with("invalid JSON body: unknown field `b`"), "{}", e.message);
        let e = ApiJson::<B>::from_request(req(Some("application/json"), ""), &()).await.unwrap_err();
        assert_eq!(e.status, StatusCode::BAD_REQUEST);
    }

    #[tokio::test]
    async fn an_optional_body_is_none_only_when_empty() {
        let none = OptionalApiJson::<B>::from_request(req(None, ""), &()).await.unwrap();
        assert_eq!(none.0, None);
        let e = OptionalApiJson::<B>::from_request(req(None, r#"{"a":1}"#), &()).await.unwrap_err();
        assert_eq!(e.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
        let some = OptionalApiJson::<B>::from_request(req(Some("application/json"), r#"{"a":2}"#), &()).await;
        assert_eq!(some.unwrap().0, Some(B { a: 2 }));
    }
}
