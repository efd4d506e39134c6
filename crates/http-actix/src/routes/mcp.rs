//! The MCP endpoint's door: a bearer token for the `/mcp` audience (RFC 8707) is checked here,
//! and its user handed to the MCP face (`gptgate-mcp`) in the request's extensions; without
//! one, 401 with `WWW-Authenticate` pointing at the protected-resource metadata (RFC 9728),
//! which is how an MCP client discovers where to sign in.

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header;
use actix_web::middleware::Next;
use actix_web::{web, HttpMessage, ResponseError};
use gptgate_domain::Audience;
use gptgate_mcp::McpUser;
use gptgate_ports::services::{AuthenticateError, Limit};

use crate::caller::bearer_token;
use crate::error::ApiError;
use crate::state::AppState;

/// Checks the bearer, then lets the MCP face answer.
pub async fn bearer(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    let Some(state) = req.app_data::<web::Data<AppState>>().cloned() else {
        return Err(actix_web::error::ErrorInternalServerError("no state"));
    };
    let token = bearer_token(req.request()).map(str::to_owned);
    let user = match token {
        Some(token) => match state.sign_in.authenticate_for(&token, Audience::Mcp).await {
            Ok(who) => Some(who),
            Err(AuthenticateError::InvalidToken) => None,
            // The store is down: 503, not a sign-in the client would start for nothing.
            Err(e @ AuthenticateError::Storage(_)) => {
                let response = ApiError::from(e).error_response();
                return Ok(req.into_response(response).map_into_right_body());
            }
        },
        None => None,
    };
    match user {
        Some(who) => {
            // The GPT API's rate limits: the token's client stands for the API key, and is
            // spent from after the user's (a user over their own limit spends nothing of what
            // the client's other users share).
            for (limit, subject) in [
                (Limit::User, who.user_id.to_string()),
                (Limit::ApiKey, crate::caller::oauth_client_id(who.client)),
            ] {
                if let Err(e) = state.admit(limit, &subject).await {
                    let response = ApiError::from(e).error_response();
                    return Ok(req.into_response(response).map_into_right_body());
                }
            }
            req.extensions_mut().insert(McpUser(who.user_id));
            next.call(req)
                .await
                .map(ServiceResponse::map_into_left_body)
        }
        None => {
            let challenge = format!(
                "Bearer resource_metadata=\"{}/.well-known/oauth-protected-resource\"",
                state.issuer
            );
            let mut response = ApiError::unauthorized(
                "invalid_token",
                "Sign in: this endpoint takes an access token from gptgate's OAuth server issued for it (resource .../mcp).",
            )
            .error_response();
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                header::HeaderValue::from_str(&challenge)
                    .map_err(actix_web::error::ErrorInternalServerError)?,
            );
            Ok(req.into_response(response).map_into_right_body())
        }
    }
}
