//! gptgate's OAuth 2.1 authorization server, the machine-facing half: its metadata (RFC
//! 8414), the token endpoint (RFC 6749 3.2, 4.1.3, 6; errors as 5.2) and revocation (RFC
//! 7009). The rules are in `services::Authorization`; this module reads the form, the client's
//! credentials (`client_secret_basic` or `client_secret_post`, never both) and answers in
//! RFC 6749's shape, never cached.

use actix_web::http::{header, StatusCode};
use actix_web::{get, post, web, HttpRequest, HttpResponse};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use gptgate_ports::services::{
    ClientCredentials, IssuedTokens, OAuthTokenError, SelfRegisterError,
};
use secrecy::ExposeSecret;
use serde_json::{json, Value};

use crate::state::AppState;

/// The authorization server's metadata, built once at start-up.
pub fn metadata(public_url: &str) -> Value {
    let base = public_url.trim_end_matches('/');
    json!({
        "issuer": base,
        "authorization_endpoint": format!("{base}/oauth/authorize"),
        "token_endpoint": format!("{base}/oauth/token"),
        "revocation_endpoint": format!("{base}/oauth/revoke"),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "refresh_token"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "registration_endpoint": format!("{base}/oauth/register"),
        "code_challenge_methods_supported": ["S256"],
        "authorization_response_iss_parameter_supported": true,
        "scopes_supported": ["gptgate"],
        "service_documentation": format!("{base}/openapi.json"),
    })
}

/// The MCP endpoint's protected-resource metadata (RFC 9728), built once at start-up: which
/// authorization server issues its tokens, and how they are sent.
pub fn protected_resource(public_url: &str) -> Value {
    let base = public_url.trim_end_matches('/');
    json!({
        "resource": format!("{base}/mcp"),
        "authorization_servers": [base],
        "bearer_methods_supported": ["header"],
        "scopes_supported": ["gptgate"],
        "resource_name": "gptgate MCP endpoint",
        "resource_documentation": format!("{base}/openapi.json"),
    })
}

/// RFC 9728 3: at the well-known path, and with the resource's path appended.
#[get("/.well-known/oauth-protected-resource{rest:(/mcp)?}")]
pub async fn resource_metadata(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(state.documents.protected_resource.clone())
}

#[get("/.well-known/oauth-authorization-server")]
pub async fn server_metadata(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(state.documents.oauth_metadata.clone())
}

/// An error of the token or revocation endpoint, before it is answered.
struct Failure {
    status: StatusCode,
    error: &'static str,
    description: String,
}

impl Failure {
    fn invalid_request(description: impl Into<String>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            error: "invalid_request",
            description: description.into(),
        }
    }

    fn invalid_client(description: &str) -> Self {
        Self {
            status: StatusCode::UNAUTHORIZED,
            error: "invalid_client",
            description: description.to_owned(),
        }
    }

    fn answer(self) -> HttpResponse {
        oauth_error(self.status, self.error, &self.description)
    }
}

/// An error as RFC 6749 5.2 shapes it.
fn oauth_error(status: StatusCode, error: &str, description: &str) -> HttpResponse {
    let mut response = HttpResponse::build(status);
    response
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::PRAGMA, "no-cache"));
    if status == StatusCode::UNAUTHORIZED {
        response.insert_header((header::WWW_AUTHENTICATE, "Basic realm=\"gptgate\""));
    }
    response.json(json!({ "error": error, "error_description": description }))
}

fn token_error(e: OAuthTokenError) -> HttpResponse {
    match e {
        OAuthTokenError::InvalidClient => oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "Client authentication failed: check the client id and secret.",
        ),
        OAuthTokenError::InvalidGrant => oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            "The code or refresh token is invalid, expired, revoked, already used, or was issued to another client or redirect URI.",
        ),
        OAuthTokenError::InvalidTarget => oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_target",
            "The resource is not one of this server's, or not the one the grant is for.",
        ),
        OAuthTokenError::Storage(e) => {
            tracing::error!(error = %e, "the token endpoint could not reach the store");
            oauth_error(
                StatusCode::SERVICE_UNAVAILABLE,
                "temporarily_unavailable",
                "Please try again shortly.",
            )
        }
        OAuthTokenError::Internal(e) => {
            tracing::error!(error = %e, "the token endpoint failed");
            oauth_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "server_error",
                "Something went wrong.",
            )
        }
    }
}

/// The form's parameters; a parameter sent twice is refused (RFC 6749 3.2).
struct Form(Vec<(String, String)>);

impl Form {
    fn parse(req: &HttpRequest, body: &[u8]) -> Result<Self, Failure> {
        let form_type = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| {
                v.split(';').next().is_some_and(|t| {
                    t.trim()
                        .eq_ignore_ascii_case("application/x-www-form-urlencoded")
                })
            });
        if !form_type {
            return Err(Failure::invalid_request(
                "Send the parameters as application/x-www-form-urlencoded.",
            ));
        }
        let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(body)
            .map_err(|_| Failure::invalid_request("The form could not be read."))?;
        for (i, (name, _)) in pairs.iter().enumerate() {
            if pairs[..i].iter().any(|(n, _)| n == name) {
                return Err(Failure::invalid_request(format!(
                    "{name} is sent more than once."
                )));
            }
        }
        Ok(Self(pairs))
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    }

    fn require(&self, name: &str) -> Result<&str, Failure> {
        self.get(name)
            .ok_or_else(|| Failure::invalid_request(format!("{name} is required.")))
    }
}

/// The client's credentials: `client_secret_basic` (RFC 6749 2.3.1: each part form-encoded,
/// then base64) or `client_secret_post`, not both.
fn credentials(req: &HttpRequest, form: &Form) -> Result<(String, Option<String>), Failure> {
    let basic = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, rest) = v.split_once(' ')?;
            scheme.eq_ignore_ascii_case("basic").then(|| rest.trim())
        });
    let in_body = form.get("client_secret");
    match (basic, in_body) {
        (Some(_), Some(_)) => Err(Failure::invalid_request(
            "Authenticate the client one way: the Authorization header or client_secret, not both.",
        )),
        (Some(encoded), None) => {
            let decoded = STANDARD
                .decode(encoded)
                .ok()
                .and_then(|b| String::from_utf8(b).ok());
            let pair = decoded.as_deref().and_then(|d| d.split_once(':'));
            // Each part is form-encoded (RFC 6749 2.3.1): decode it as one form value, a
            // literal `&` or `=` kept as such.
            let unescape = |s: &str| {
                let escaped = s.replace('&', "%26").replace('=', "%3D");
                serde_urlencoded::from_str::<Vec<(String, String)>>(&format!("v={escaped}"))
                    .ok()
                    .filter(|v| v.len() == 1)
                    .and_then(|mut v| v.pop())
                    .map(|(_, v)| v)
            };
            match pair.and_then(|(id, secret)| Some((unescape(id)?, unescape(secret)?))) {
                Some((id, secret)) => {
                    if form.get("client_id").is_some_and(|body_id| body_id != id) {
                        return Err(Failure::invalid_request(
                            "client_id differs from the Authorization header.",
                        ));
                    }
                    Ok((id, Some(secret)))
                }
                None => Err(Failure::invalid_client(
                    "The Authorization header could not be read.",
                )),
            }
        }
        (None, Some(secret)) => match form.get("client_id") {
            Some(id) => Ok((id.to_owned(), Some(secret.to_owned()))),
            None => Err(Failure::invalid_request(
                "client_id is required with client_secret.",
            )),
        },
        // A public client (RFC 6749 2.1, registered through /oauth/register) sends its id
        // alone; whether it may is the client's to say.
        (None, None) => match form.get("client_id") {
            Some(id) => Ok((id.to_owned(), None)),
            None => Err(Failure::invalid_client(
                "Client authentication is required (client_secret_basic or client_secret_post, or client_id for a public client).",
            )),
        },
    }
}

fn tokens(issued: IssuedTokens) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::PRAGMA, "no-cache"))
        .json(json!({
            "access_token": issued.access_token.expose_secret(),
            "token_type": "Bearer",
            "expires_in": issued.expires_in,
            "refresh_token": issued.refresh_token.expose_secret(),
            "scope": "gptgate",
        }))
}

/// `POST /oauth/token`: the `authorization_code` and `refresh_token` grants.
#[post("/oauth/token")]
pub async fn token(state: web::Data<AppState>, req: HttpRequest, body: web::Bytes) -> HttpResponse {
    let form = match Form::parse(&req, &body) {
        Ok(form) => form,
        Err(failure) => return failure.answer(),
    };
    let grant_type = match form.require("grant_type") {
        Ok(g) => g.to_owned(),
        Err(failure) => return failure.answer(),
    };
    if !matches!(grant_type.as_str(), "authorization_code" | "refresh_token") {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "grant_type must be authorization_code or refresh_token.",
        );
    }
    let (id, secret) = match credentials(&req, &form) {
        Ok(pair) => pair,
        Err(failure) => return failure.answer(),
    };
    let credentials = ClientCredentials {
        id: &id,
        secret: secret.as_deref(),
    };
    // RFC 8707: a resource names the face the tokens are for; it must be the grant's.
    let resource = match form.get("resource") {
        None => None,
        Some(resource) => match gptgate_domain::Audience::of_resource(&state.issuer, resource) {
            Some(audience) => Some(audience),
            None => return token_error(OAuthTokenError::InvalidTarget),
        },
    };
    let result = if grant_type == "authorization_code" {
        let code = match form.require("code") {
            Ok(code) => code,
            Err(failure) => return failure.answer(),
        };
        state
            .authorization
            .exchange_code(
                &credentials,
                code,
                form.get("redirect_uri"),
                form.get("code_verifier"),
                resource,
            )
            .await
    } else {
        let refresh_token = match form.require("refresh_token") {
            Ok(token) => token,
            Err(failure) => return failure.answer(),
        };
        state
            .authorization
            .refresh(&credentials, refresh_token, resource)
            .await
    };
    match result {
        Ok(issued) => tokens(issued),
        Err(e) => token_error(e),
    }
}

/// `POST /oauth/revoke` (RFC 7009): 200 whether or not the token was known.
#[post("/oauth/revoke")]
pub async fn revoke(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> HttpResponse {
    let form = match Form::parse(&req, &body) {
        Ok(form) => form,
        Err(failure) => return failure.answer(),
    };
    let presented = match form.require("token") {
        Ok(presented) => presented,
        Err(failure) => return failure.answer(),
    };
    let (id, secret) = match credentials(&req, &form) {
        Ok(pair) => pair,
        Err(failure) => return failure.answer(),
    };
    match state
        .authorization
        .revoke(
            &ClientCredentials {
                id: &id,
                secret: secret.as_deref(),
            },
            presented,
        )
        .await
    {
        Ok(()) => HttpResponse::Ok()
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .finish(),
        Err(e) => token_error(e),
    }
}

/// What a client sends to register itself (RFC 7591 2); other metadata is ignored.
#[derive(serde::Deserialize)]
pub struct RegistrationRequest {
    redirect_uris: Option<Vec<String>>,
    client_name: Option<String>,
    token_endpoint_auth_method: Option<String>,
    grant_types: Option<Vec<String>>,
    response_types: Option<Vec<String>>,
}

/// `POST /oauth/register` (RFC 7591): dynamic registration of a public client, the way MCP
/// clients sign up. No secret; PKCE on every authorization request; redirect URIs https or
/// loopback, matched exactly; a cap on registrations per hour.
#[post("/oauth/register")]
pub async fn register(state: web::Data<AppState>, body: web::Bytes) -> HttpResponse {
    let Ok(request) = serde_json::from_slice::<RegistrationRequest>(&body) else {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_client_metadata",
            "Send the client metadata as a JSON object (RFC 7591).",
        );
    };
    let invalid = |description: &str| {
        oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_client_metadata",
            description,
        )
    };
    // Public clients only (RFC 7591's default method would need a secret), codes only.
    if let Err(why) = gptgate_domain::OAuthClient::check_self_registered_metadata(
        request.token_endpoint_auth_method.as_deref(),
        request.grant_types.as_deref(),
        request.response_types.as_deref(),
    ) {
        return invalid(&why.to_string());
    }
    let uris = request.redirect_uris.unwrap_or_default();
    match state
        .authorization
        .register_public_client(request.client_name.as_deref(), &uris)
        .await
    {
        Ok(client) => HttpResponse::Created()
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .json(json!({
                "client_id": client.id.to_string(),
                "client_id_issued_at": client.created_at.unix_timestamp(),
                "client_name": client.name.as_str(),
                "redirect_uris": client.redirect_uris.iter().map(|u| u.as_str()).collect::<Vec<_>>(),
                "token_endpoint_auth_method": "none",
                "grant_types": ["authorization_code", "refresh_token"],
                "response_types": ["code"],
            })),
        Err(SelfRegisterError::InvalidRedirectUri(why)) => {
            oauth_error(StatusCode::BAD_REQUEST, "invalid_redirect_uri", &why)
        }
        Err(SelfRegisterError::InvalidMetadata(why)) => invalid(&why),
        Err(SelfRegisterError::TooMany { retry_after }) => {
            let response = oauth_error(
                StatusCode::TOO_MANY_REQUESTS,
                "temporarily_unavailable",
                "Too many clients registered this hour; try again later.",
            );
            super::with_retry_after(response, retry_after)
        }
        Err(e) => {
            tracing::error!(error = %e, "a client could not register");
            oauth_error(
                StatusCode::SERVICE_UNAVAILABLE,
                "temporarily_unavailable",
                "Please try again shortly.",
            )
        }
    }
}
