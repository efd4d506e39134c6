//! How a GPT-facing handler receives its request. It takes a [`GptCall`] (API key checked,
//! body parsed, caller resolved), a [`GptRead`] (the same, a session token's session left to
//! the read's own statement) or a [`KeyedCall`] (API key checked, body parsed, no user:
//! sign-in), so an endpoint cannot be written without the key check or with an identity
//! resolved some other way. Public routes (health, documents, browser pages) take neither, and
//! are listed as such in `routes::configure`.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::{web, FromRequest, HttpRequest};
use serde::de::DeserializeOwned;

use crate::body::json_body;
use gptgate_ports::services::{AuthenticateError, Limit, Reader};

use crate::caller::{Caller, Claimed};
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

/// A GPT read: as a [`GptCall`], except that the session of a session token sent with the API
/// key is checked by the read itself, in the statement that reads (one round trip to the store
/// instead of two), and the user's rate limit is spent right after it (a user this instance
/// already refuses is refused before it, at no cost). Only for reads: a write must not start
/// before its caller's session is known to be good.
pub struct GptRead<B> {
    pub body: B,
    reader: Reader,
    state: web::Data<AppState>,
}

impl<B> GptRead<B> {
    /// Runs `read` for the caller. A read that refused the session (`None`) is answered
    /// 401 `invalid_token`, as a session refused before the read would be; then the user's
    /// rate limit is spent for a session token (a caller resolved otherwise spent it before).
    pub async fn read<T, E, F, Fut>(self, read: F) -> Result<T, ApiError>
    where
        F: FnOnce(Reader) -> Fut,
        Fut: Future<Output = Result<Option<T>, E>>,
        ApiError: From<E>,
    {
        let answer = read(self.reader)
            .await?
            .ok_or(AuthenticateError::InvalidToken)?;
        if let Reader::Session(guard) = self.reader {
            self.state
                .admit(Limit::User, &guard.user_id.to_string())
                .await?;
        }
        Ok(answer)
    }
}

/// The first steps of a GPT call: the API key checked and its bucket spent (unless the call
/// brings an OAuth access token instead), the body parsed, the caller claimed. Answers the
/// state, whether the call brought a key, the claim and the body.
fn claim_call<B: DeserializeOwned + CarriesToken + 'static>(
    req: &HttpRequest,
    payload: &mut Payload,
) -> impl Future<Output = Result<(web::Data<AppState>, bool, Claimed, B), actix_web::Error>> + 'static
{
    let req = req.clone();
    // Bounded by the body limit; an overflow stays actix's 413, rewritten in our shape.
    let bytes = web::Bytes::from_request(&req, payload);
    async move {
        let state = app_state(&req)?;
        // The key first: a caller without one gets its 401 before any body is read (unless
        // it brings an OAuth access token instead, checked with the caller), and its rate
        // limit before the store is asked anything.
        let keyed = !crate::caller::oauth_bearer_only(&req);
        if keyed {
            let key_id = state.api_keys.check(&req).await?;
            state
                .admit(Limit::ApiKey, &key_id)
                .await
                .map_err(ApiError::from)?;
        }
        let bytes = bytes.await?;
        let body: B = json_body(&bytes)?;
        let claimed = state.claim(&req, body.token()).await?;
        Ok((state, keyed, claimed, body))
    }
}

/// Spends the buckets of a resolved caller: the user's, then (for an OAuth access token) its
/// client's — a user over their own limit spends nothing of what the client's other users
/// share.
async fn admit_caller(state: &AppState, keyed: bool, caller: &Caller) -> Result<(), ApiError> {
    state
        .admit(Limit::User, &caller.user_id.to_string())
        .await?;
    if !keyed {
        state
            .admit(
                Limit::ApiKey,
                &crate::caller::oauth_client_id(caller.client),
            )
            .await?;
    }
    Ok(())
}

impl<B: DeserializeOwned + CarriesToken + 'static> FromRequest for GptCall<B> {
    type Error = actix_web::Error;
    type Future = Extracted<Self>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let claimed = claim_call::<B>(req, payload);
        Box::pin(async move {
            let (state, keyed, claimed, body) = claimed.await?;
            let caller = state.resolve(claimed).await?;
            admit_caller(&state, keyed, &caller).await?;
            Ok(Self { caller, body })
        })
    }
}

impl<B: DeserializeOwned + CarriesToken + 'static> FromRequest for GptRead<B> {
    type Error = actix_web::Error;
    type Future = Extracted<Self>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let claimed = claim_call::<B>(req, payload);
        Box::pin(async move {
            let (state, keyed, claimed, body) = claimed.await?;
            let reader = match claimed {
                Claimed::Caller(caller) => {
                    admit_caller(&state, keyed, &caller).await?;
                    Reader::User(caller.user_id)
                }
                Claimed::Session(guard) => {
                    // A user this instance already refuses costs no read: the token's user
                    // (signature checked; the session is checked by the read) is refused here
                    // as the read would be refused after it.
                    state
                        .refused(Limit::User, &guard.user_id.to_string())
                        .map_err(ApiError::from)?;
                    Reader::Session(guard)
                }
            };
            Ok(Self {
                body,
                reader,
                state,
            })
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
