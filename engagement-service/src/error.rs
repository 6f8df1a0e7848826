//! The one table from errors to HTTP status, stable code and message.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;

use crate::ingest::IngestError;
use crate::store::StoreError;

/// Everything a request can fail with.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    Malformed(String),
    #[error("missing or wrong credentials")]
    Unauthorized,
    /// A webhook whose signature header does not check out; says which
    /// header and what to fix, never the secret.
    #[error("{0}")]
    BadSignature(String),
    #[error("{0}")]
    NotFound(String),
    /// A day or week board past its retention: gone on every store.
    #[error("{0}")]
    BucketExpired(String),
    /// Knowledge-flow insights are turned off (`ENGAGEMENT_INSIGHTS=false`).
    #[error("insights are not kept by this deployment (ENGAGEMENT_INSIGHTS=false)")]
    InsightsDisabled,
    /// Fair-play tallies are turned off (`ENGAGEMENT_FAIR_PLAY=false`).
    #[error("fair play is not kept by this deployment (ENGAGEMENT_FAIR_PLAY=false)")]
    FairPlayDisabled,
    /// Credentials are not set up (public URL, signing key, `[openbadges]`).
    #[error("{0}")]
    CredentialsDisabled(String),
    #[error("method not allowed")]
    MethodNotAllowed,
    #[error("request body larger than {0} bytes")]
    TooLarge(usize),
    #[error("content type must be application/json")]
    NotJson,
    /// Content that parsed but breaks a rule; names the field or batch index.
    #[error("{message}")]
    Invalid { code: Invalid, message: String },
    #[error("the store is unavailable, retry shortly")]
    Unavailable(String),
    /// Every live-update stream is taken; the page still works without one.
    #[error("too many live connections, retry shortly")]
    Busy,
    #[error("internal error")]
    Internal(String),
}

/// What kind of content broke a rule: the code of a 422.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Invalid {
    Event,
    Batch,
    Query,
    Profile,
    Member,
    Path,
    Grant,
    AliasTaken,
    Adjustment,
    /// A take-back larger than the member's points.
    BelowZero,
    /// A fair-play revocation naming bad pairs or buckets.
    FairPlay,
    /// Rules whose notification channels lack their credentials.
    Rules,
}

impl Invalid {
    pub fn code(self) -> &'static str {
        match self {
            Invalid::Event => "invalid_event",
            Invalid::Batch => "invalid_batch",
            Invalid::Query => "invalid_query",
            Invalid::Profile => "invalid_profile",
            Invalid::Member => "invalid_member",
            Invalid::Path => "invalid_path",
            Invalid::Grant => "invalid_grant",
            Invalid::AliasTaken => "alias_taken",
            Invalid::Adjustment => "invalid_adjustment",
            Invalid::BelowZero => "below_zero",
            Invalid::FairPlay => "invalid_fair_play",
            Invalid::Rules => "invalid_rules",
        }
    }
}

#[derive(Serialize)]
struct Body<'a> {
    error: Detail<'a>,
}

#[derive(Serialize)]
struct Detail<'a> {
    code: &'a str,
    message: String,
}

impl ApiError {
    pub fn invalid(code: Invalid, message: impl Into<String>) -> ApiError {
        ApiError::Invalid {
            code,
            message: message.into(),
        }
    }

    /// The stable, documented code clients can match on.
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::Malformed(_) => "malformed_request",
            ApiError::Unauthorized => "unauthorized",
            ApiError::BadSignature(_) => "invalid_signature",
            ApiError::NotFound(_) => "not_found",
            ApiError::BucketExpired(_) => "bucket_expired",
            ApiError::InsightsDisabled => "insights_disabled",
            ApiError::FairPlayDisabled => "fair_play_disabled",
            ApiError::CredentialsDisabled(_) => "credentials_disabled",
            ApiError::MethodNotAllowed => "method_not_allowed",
            ApiError::TooLarge(_) => "payload_too_large",
            ApiError::NotJson => "unsupported_media_type",
            ApiError::Invalid { code, .. } => code.code(),
            ApiError::Unavailable(_) => "store_unavailable",
            ApiError::Busy => "too_many_streams",
            ApiError::Internal(_) => "internal",
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::Malformed(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized | ApiError::BadSignature(_) => StatusCode::UNAUTHORIZED,
            ApiError::NotFound(_)
            | ApiError::BucketExpired(_)
            | ApiError::InsightsDisabled
            | ApiError::FairPlayDisabled
            | ApiError::CredentialsDisabled(_) => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::NotJson => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::Invalid { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::Unavailable(_) | ApiError::Busy => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        // Causes stay in the log; the client gets the public message only.
        match self {
            ApiError::Unavailable(cause) => tracing::warn!(%cause, "store unavailable"),
            ApiError::Internal(cause) => tracing::error!(%cause, "internal error"),
            _ => {}
        }
        let mut response = HttpResponse::build(self.status_code());
        if let ApiError::Unavailable(_) | ApiError::Busy = self {
            response.insert_header(("Retry-After", "1"));
        }
        if let ApiError::Unauthorized = self {
            response.insert_header(("WWW-Authenticate", "Bearer"));
        }
        response.json(Body {
            error: Detail {
                code: self.code(),
                message: self.to_string(),
            },
        })
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Unavailable(cause) => ApiError::Unavailable(cause),
            StoreError::Corrupt(cause) => ApiError::Internal(cause),
            e @ StoreError::RulesChanged { .. } => ApiError::Unavailable(e.to_string()),
        }
    }
}

impl From<IngestError> for ApiError {
    fn from(e: IngestError) -> Self {
        match e {
            IngestError::Invalid { message, .. } => ApiError::invalid(Invalid::Event, message),
            below @ IngestError::BelowZero { .. } => {
                ApiError::invalid(Invalid::BelowZero, below.to_string())
            }
            IngestError::Grant(message) => ApiError::invalid(Invalid::Grant, message),
            IngestError::Store(e) => e.into(),
        }
    }
}
