//! How a GPT-facing handler receives its request. It takes a [`GptCall`] (API key checked,
//! body parsed, caller resolved) or a [`KeyedCall`] (API key checked, body parsed, no user:
//! sign-in), so an endpoint cannot be written without the key check or with an identity
//! resolved some other way. Public routes (health, documents, browser pages) take neither, and
//! are listed as such in `routes::configure`.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::{web, FromRequest, HttpRequest};
use serde::de::DeserializeOwned;

use crate::body::json_body;
use gptgate_ports::services::Limit;

use crate::caller::Caller;
use crate::error::ApiError;
use crate::state::AppState;

/// A request body that may carry the session token (`token`), the way GPTs on API-key auth
/// pass the user's session.
pub trait CarriesToken {
    fn token(&self) -> Option<&str>;
}

/// Implements [`CarriesToken`] for bodies with a `token: Option<String>` field.
macro_rules! carries_token {
    ($($body:ty),* $(,)?) => {
        $(impl $crate::extract::CarriesToken for $body {
            fn token(&self) -> Option<&str> {
                self.token.as_deref()
            }
        })*
    };
}
pub(crate) use carries_token;

/// A request with no body to speak of (a GET): whatever comes is ignored.
#[derive(serde::Deserialize, Default)]
pub struct NoBody {}

impl CarriesToken for NoBody {
    fn token(&self) -> Option<&str> {
        None
    }
}

/// A GPT call: the API key checked, the JSON body parsed into `B`, the caller resolved (from
/// a Bearer header, the body's token, or a header identity: see `AppState::caller`).
pub struct GptCall<B> {
    pub caller: Caller,
    pub body: B,
}

/// A GPT call that names no user (sign-in): the API key checked (its id kept, for budgets)
/// and the body parsed.
pub struct KeyedCall<B> {
    pub key_id: String,
    pub body: B,
}

type Extracted<T> = Pin<Box<dyn Future<Output = Result<T, actix_web::Error>>>>;

fn app_state(req: &HttpRequest) -> Result<web::Data<AppState>, actix_web::Error> {
    req.app_data::<web::Data<AppState>>()
        .cloned()
        .ok_or_else(|| ApiError::internal("the application state is missing").into())
}

impl<B: DeserializeOwned + CarriesToken + 'static> FromRequest for GptCall<B> {
    type Error = actix_web::Error;
    type Future = Extracted<Self>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let req = req.clone();
        // Bounded by the body limit; an overflow stays actix's 413, rewritten in our shape.
        let bytes = web::Bytes::from_request(&req, payload);
        Box::pin(async move {
            let state = app_state(&req)?;
            // The key first: a caller without one gets its 401 before any body is read
            // (unless it brings an OAuth access token instead, checked with the caller), and
            // its rate limit before the store is asked anything.
            let key_id = if crate::caller::oauth_bearer_only(&req) {
                None
            } else {
                let key_id = state.api_keys.check(&req).await?;
                state
                    .admit(Limit::ApiKey, &key_id)
                    .await
                    .map_err(ApiError::from)?;
                Some(key_id)
            };
            let bytes = bytes.await?;
            let body: B = json_body(&bytes)?;
            let caller = state.caller(&req, body.token()).await?;
            state
                .admit(Limit::User, &caller.user_id.to_string())
                .await
                .map_err(ApiError::from)?;
            // An OAuth client's bucket after its user's: a user over their own limit spends
            // nothing of what the client's other users share.
            if key_id.is_none() {
                state
                    .admit(
                        Limit::ApiKey,
                        &crate::caller::oauth_client_id(caller.client),
                    )
                    .await
                    .map_err(ApiError::from)?;
            }
            Ok(Self { caller, body })
        })
    }
}

impl<B: DeserializeOwned + 'static> FromRequest for KeyedCall<B> {
    type Error = actix_web::Error;
    type Future = Extracted<Self>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let req = req.clone();
        let bytes = web::Bytes::from_request(&req, payload);
        Box::pin(async move {
            let state = app_state(&req)?;
            let key_id = if crate::caller::oauth_bearer_only(&req) {
                // An OAuth access token stands for its client's credential: budgets are the
                // client's (a new session at every refresh must not mean a new budget).
                crate::caller::oauth_client_id(state.caller(&req, None).await?.client)
            } else {
                state.api_keys.check(&req).await?
            };
            state
                .admit(Limit::ApiKey, &key_id)
                .await
                .map_err(ApiError::from)?;
            let bytes = bytes.await?;
            let body: B = json_body(&bytes)?;
            Ok(Self { key_id, body })
        })
    }
}
