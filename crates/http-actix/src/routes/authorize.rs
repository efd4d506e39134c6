//! gptgate's OAuth authorization endpoint, the browser half (RFC 6749 4.1 as tightened by RFC
//! 9700): the request's client and redirect URI are checked before anything else, and until
//! they pass every error is a page, never a redirect. Then the user signs in with an emailed
//! code (the same sign-in service, codes and limits as the API), unless this browser already
//! has a session, and allows or denies on a consent page. Every form is a checked POST
//! (CSRF token bound to this browser, `Origin`); the consent's token is bound to the browser
//! session too. The answer goes back to the redirect URI with `code`, `state` and `iss`
//! (RFC 9207), or `error=access_denied`.

use actix_web::http::{header, StatusCode};
use actix_web::{get, post, web, HttpRequest, HttpResponse};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use gptgate_domain::{CodeChallenge, Email, OAuthClient, VerificationCode};
use gptgate_ports::services::{AuthorizeError, LinkOwner, SendCodeError, VerifyError};
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};

use super::connect::{error_page, forbidden_page};
use crate::browser::Forbidden;
use crate::pages::FORM_PAGE_CSP;
use crate::state::AppState;

/// What the sign-in forms' CSRF tokens are bound to, besides the browser.
const SIGN_IN_PURPOSE: &str = "oauth-sign-in";

/// What the consent form's CSRF token is bound to, besides the browser: the session.
fn consent_purpose(session_token: &str) -> String {
    format!("oauth-consent\0{session_token}")
}

/// The authorization request's parameters, carried through every form of the flow.
#[derive(Deserialize, Default, Clone)]
pub struct AuthorizeParams {
    response_type: Option<String>,
    client_id: Option<String>,
    redirect_uri: Option<String>,
    state: Option<String>,
    code_challenge: Option<String>,
    code_challenge_method: Option<String>,
    scope: Option<String>,
    /// RFC 8707: which face the tokens are for (the API by default, or `/mcp`).
    resource: Option<String>,
}

#[derive(Serialize)]
struct Hidden {
    name: &'static str,
    value: String,
}

impl AuthorizeParams {
    fn hidden(&self) -> Vec<Hidden> {
        [
            ("response_type", &self.response_type),
            ("client_id", &self.client_id),
            ("redirect_uri", &self.redirect_uri),
            ("state", &self.state),
            ("code_challenge", &self.code_challenge),
            ("code_challenge_method", &self.code_challenge_method),
            ("scope", &self.scope),
            ("resource", &self.resource),
        ]
        .into_iter()
        .filter_map(|(name, value)| value.clone().map(|value| Hidden { name, value }))
        .collect()
    }

    fn query(&self) -> String {
        let pairs: Vec<(&str, String)> = self
            .hidden()
            .into_iter()
            .map(|h| (h.name, h.value))
            .collect();
        serde_urlencoded::to_string(pairs).unwrap_or_default()
    }
}

/// A checked request: its client, and the redirect URI it may be answered at.
struct Checked {
    client: OAuthClient,
    redirect_uri: String,
    challenge: Option<CodeChallenge>,
    audience: gptgate_domain::Audience,
}

/// Where the consent page's answer goes, for people: the redirect URI's host, or "an app on
/// this computer" for a loopback one.
fn return_to(redirect_uri: &str) -> String {
    match url::Url::parse(redirect_uri)
        .ok()
        .and_then(|u| u.host_str().map(str::to_owned))
    {
        Some(host) if matches!(host.as_str(), "localhost" | "127.0.0.1" | "[::1]") => {
            "an app on this computer".to_owned()
        }
        Some(host) => host,
        None => "the app".to_owned(),
    }
}

/// The answer at the client's redirect URI: its query kept, ours added, with `state` and
/// `iss` (RFC 9207, so a client talking to several servers knows which one answered).
fn back_to_client(
    state: &AppState,
    redirect_uri: &str,
    params: &AuthorizeParams,
    outcome: &[(&str, &str)],
) -> HttpResponse {
    let Ok(mut url) = url::Url::parse(redirect_uri) else {
        return invalid_request_page(state, "The app's return address is not a valid URL.");
    };
    {
        let mut query = url.query_pairs_mut();
        for (k, v) in outcome {
            query.append_pair(k, v);
        }
        if let Some(s) = &params.state {
            query.append_pair("state", s);
        }
        query.append_pair("iss", &state.issuer);
    }
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, url.as_str()))
        .insert_header((header::REFERRER_POLICY, "no-referrer"))
        .finish()
}

fn invalid_request_page(state: &AppState, why: &str) -> HttpResponse {
    state.documents.pages.result(
        StatusCode::BAD_REQUEST,
        false,
        "This sign-in request is not valid",
        &format!("{why} Nothing was shared. Go back to the app and try again; if this keeps happening, tell the app's maker."),
    )
}

/// Checks the request: client and redirect URI first (errors are pages), then the rest
/// (errors go back to the client).
async fn check(state: &AppState, params: &AuthorizeParams) -> Result<Checked, HttpResponse> {
    let (Some(client_id), Some(redirect_uri)) = (&params.client_id, &params.redirect_uri) else {
        return Err(invalid_request_page(
            state,
            "The request does not name the app (client_id) or where to return (redirect_uri).",
        ));
    };
    let client = match state
        .authorization
        .check_request(client_id, redirect_uri)
        .await
    {
        Ok(client) => client,
        Err(AuthorizeError::UnknownClient) => {
            return Err(invalid_request_page(
                state,
                "No such app is registered here.",
            ))
        }
        Err(AuthorizeError::UnregisteredRedirectUri) => {
            return Err(invalid_request_page(
                state,
                "The app asked to return to an address it did not register.",
            ))
        }
        Err(e) => {
            tracing::error!(error = %e, "authorization request could not be checked");
            return Err(state.documents.pages.result(
                StatusCode::SERVICE_UNAVAILABLE,
                false,
                "Something went wrong",
                "Please try again in a minute.",
            ));
        }
    };
    let refuse = |error: &str, description: &str| {
        back_to_client(
            state,
            redirect_uri,
            params,
            &[("error", error), ("error_description", description)],
        )
    };
    if params.response_type.as_deref() != Some("code") {
        return Err(refuse(
            "unsupported_response_type",
            "response_type must be code",
        ));
    }
    let challenge = match (
        params.code_challenge.as_deref(),
        params.code_challenge_method.as_deref(),
    ) {
        // PKCE is required of every client but ChatGPT's Actions, which do not send it.
        (None, None) if !client.requires_pkce() => None,
        (None, None) => {
            return Err(refuse(
                "invalid_request",
                "PKCE is required: send code_challenge with code_challenge_method S256",
            ))
        }
        (Some(challenge), Some("S256")) => match URL_SAFE_NO_PAD
            .decode(challenge)
            .ok()
            .and_then(|b| <[u8; 32]>::try_from(b).ok())
        {
            Some(bytes) if challenge.len() == 43 => Some(CodeChallenge::from_bytes(bytes)),
            _ => {
                return Err(refuse(
                    "invalid_request",
                    "code_challenge must be the base64url SHA-256 of the verifier",
                ))
            }
        },
        _ => {
            return Err(refuse(
                "invalid_request",
                "PKCE needs code_challenge with code_challenge_method S256",
            ))
        }
    };
    let named = match params.resource.as_deref() {
        None => None,
        Some(resource) => match gptgate_domain::Audience::of_resource(&state.issuer, resource) {
            Some(audience) => Some(audience),
            None => {
                return Err(refuse(
                    "invalid_target",
                    "resource must be this server or its /mcp endpoint",
                ))
            }
        },
    };
    let Some(audience) = client.audience_for(named) else {
        return Err(refuse(
            "invalid_target",
            "an app that registered itself may have access to the /mcp endpoint only",
        ));
    };
    Ok(Checked {
        client,
        redirect_uri: redirect_uri.clone(),
        challenge,
        audience,
    })
}

/// The browser's signed-in user, with the session value, if its session is valid AND was
/// opened by signing in with an emailed code here: a session from a management link (a link
/// that travels through chats and screenshots) never grants an app access.
async fn signed_in(
    state: &AppState,
    req: &HttpRequest,
) -> Option<(gptgate_domain::UserId, String)> {
    let token = state.browser.session(req)?;
    let session = state.connections.management_session(&token).await.ok()?;
    session.signed_in.then_some((session.user, token))
}

fn sign_in_page(
    state: &AppState,
    req: &HttpRequest,
    client: &OAuthClient,
    params: &AuthorizeParams,
    email: Option<&Email>,
    error: Option<&str>,
) -> HttpResponse {
    let mut context = tera::Context::new();
    context.insert("client", client.name.as_str());
    context.insert("params", &params.hidden());
    context.insert("step", if email.is_some() { "code" } else { "email" });
    context.insert(
        "email",
        &email.map(|e| e.as_str().to_owned()).unwrap_or_default(),
    );
    context.insert("masked", &email.map(Email::masked).unwrap_or_default());
    context.insert("error", &error);
    super::form_page(
        state,
        req,
        "oauth_signin.html",
        context,
        SIGN_IN_PURPOSE,
        FORM_PAGE_CSP,
    )
}

/// `GET /oauth/authorize`: the sign-in page, or the consent page when this browser has a
/// session.
#[get("/oauth/authorize")]
pub async fn authorize(
    state: web::Data<AppState>,
    req: HttpRequest,
    params: web::Query<AuthorizeParams>,
) -> HttpResponse {
    let params = params.into_inner();
    let checked = match check(&state, &params).await {
        Ok(checked) => checked,
        Err(answer) => return answer,
    };
    let Some((user, session_token)) = signed_in(&state, &req).await else {
        return sign_in_page(&state, &req, &checked.client, &params, None, None);
    };
    let owner = match state.connections.owner(user).await {
        Ok(LinkOwner::Email(masked)) => masked,
        Ok(LinkOwner::ChatGpt) => "a gptgate account without an email address".to_owned(),
        Err(e) => return error_page(&state, e),
    };
    let mut context = tera::Context::new();
    context.insert("client", checked.client.name.as_str());
    context.insert("owner", &owner);
    context.insert("params", &params.hidden());
    // A self-registered app chose its own name: the page says so, where the answer goes,
    // and what the access allows, so a look-alike "Claude" is not allowed blindly.
    context.insert(
        "self_registered",
        &(checked.client.kind == gptgate_domain::ClientKind::Public),
    );
    context.insert("return_to", &return_to(&checked.redirect_uri));
    context.insert(
        "access",
        match checked.audience {
            gptgate_domain::Audience::Api => {
                "your saved conversations and connected accounts, acting with them as you, and your gptgate account itself (exporting or deleting it)"
            }
            gptgate_domain::Audience::Mcp => {
                "your saved conversations, and your connected accounts as you: reading and sending email, posting messages, creating issues, reading bank transactions, and links to your integrations page"
            }
        },
    );
    super::form_page(
        &state,
        &req,
        "oauth_consent.html",
        context,
        &consent_purpose(&session_token),
        FORM_PAGE_CSP,
    )
}

#[derive(Deserialize)]
struct SignInForm {
    #[serde(flatten)]
    params: AuthorizeParams,
    csrf: Option<String>,
    email: Option<String>,
    code: Option<String>,
    decision: Option<String>,
}

/// The form, or the refusal page for one that cannot be read.
fn read_form(state: &AppState, body: &[u8]) -> Result<SignInForm, Box<HttpResponse>> {
    serde_urlencoded::from_bytes(body)
        .map_err(|_| Box::new(forbidden_page(state, Forbidden::BadToken)))
}

/// A sign-in step's form: read, its CSRF token and origin checked, its request checked.
async fn sign_in_form(
    state: &AppState,
    req: &HttpRequest,
    body: &[u8],
) -> Result<(SignInForm, Checked), HttpResponse> {
    let form = read_form(state, body).map_err(|answer| *answer)?;
    state
        .browser
        .check_form(req, form.csrf.as_deref(), SIGN_IN_PURPOSE)
        .map_err(|why| forbidden_page(state, why))?;
    let checked = check(state, &form.params).await?;
    Ok((form, checked))
}

/// `POST /oauth/authorize/email`: sends the code.
#[post("/oauth/authorize/email")]
pub async fn send_code(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> HttpResponse {
    let (form, checked) = match sign_in_form(&state, &req, &body).await {
        Ok(checked) => checked,
        Err(answer) => return answer,
    };
    let Ok(email) = Email::parse(form.email.as_deref().unwrap_or_default()) else {
        return sign_in_page(
            &state,
            &req,
            &checked.client,
            &form.params,
            None,
            Some("That is not an email address."),
        );
    };
    // The mail budget is the client's own: one app's sign-ins cannot spend another's.
    let sender = format!("oauth-authorize:{}", checked.client.id);
    let error = match state.sign_in.send_code(&email, &sender).await {
        Ok(()) => None,
        Err(SendCodeError::CoolingDown { .. }) => {
            Some("A code was sent moments ago: use that one, or wait a minute.".to_owned())
        }
        Err(
            SendCodeError::TooManyCodes { retry_after }
            | SendCodeError::BudgetExhausted { retry_after },
        ) => Some(format!(
            "Too many codes were sent. Try again in {} minutes.",
            (retry_after.whole_seconds() + 59) / 60
        )),
        Err(e) => {
            tracing::error!(error = %e, "a sign-in code could not be sent");
            Some("The code could not be sent. Try again in a minute.".to_owned())
        }
    };
    sign_in_page(
        &state,
        &req,
        &checked.client,
        &form.params,
        Some(&email),
        error.as_deref(),
    )
}

/// `POST /oauth/authorize/code`: checks the code, opens this browser's session and goes on
/// to the consent page.
#[post("/oauth/authorize/code")]
pub async fn verify_code(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> HttpResponse {
    let (form, checked) = match sign_in_form(&state, &req, &body).await {
        Ok(checked) => checked,
        Err(answer) => return answer,
    };
    let Ok(email) = Email::parse(form.email.as_deref().unwrap_or_default()) else {
        return sign_in_page(&state, &req, &checked.client, &form.params, None, None);
    };
    let wrong = |message: &str| {
        sign_in_page(
            &state,
            &req,
            &checked.client,
            &form.params,
            Some(&email),
            Some(message),
        )
    };
    let Ok(code) = VerificationCode::parse(form.code.as_deref().unwrap_or_default()) else {
        return wrong("The code is the 6 digits in the email.");
    };
    let user = match state.sign_in.verify_user(&email, &code).await {
        Ok(user) => user,
        Err(VerifyError::InvalidCode) => {
            return wrong("That code is not right, or it has expired.")
        }
        Err(VerifyError::TooManyAttempts { .. }) => {
            return wrong("Too many tries with this code. Go back and ask for a new one.")
        }
        Err(e) => {
            tracing::error!(error = %e, "a sign-in code could not be checked");
            return wrong("The code could not be checked. Try again in a minute.");
        }
    };
    let (token, lifetime) = match state.connections.open_browser_session(user).await {
        Ok(session) => session,
        Err(e) => return error_page(&state, e),
    };
    let mut response = HttpResponse::SeeOther()
        .insert_header((
            header::LOCATION,
            format!("/oauth/authorize?{}", form.params.query()),
        ))
        .finish();
    let cookie = state.browser.session_cookie(
        token.expose_secret(),
        actix_web::cookie::time::Duration::seconds(lifetime.whole_seconds()),
    );
    let _ = response.add_cookie(&cookie);
    response
}

/// `POST /oauth/authorize`: Allow or Deny.
#[post("/oauth/authorize")]
pub async fn decide(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> HttpResponse {
    let form = match read_form(&state, &body) {
        Ok(form) => form,
        Err(answer) => return *answer,
    };
    let Some((user, session_token)) = signed_in(&state, &req).await else {
        return forbidden_page(&state, Forbidden::BadToken);
    };
    if let Err(why) =
        state
            .browser
            .check_form(&req, form.csrf.as_deref(), &consent_purpose(&session_token))
    {
        return forbidden_page(&state, why);
    }
    let checked = match check(&state, &form.params).await {
        Ok(checked) => checked,
        Err(answer) => return answer,
    };
    match form.decision.as_deref() {
        Some("allow") => match state
            .authorization
            .issue_code(
                &checked.client,
                user,
                &checked.redirect_uri,
                checked.challenge,
                checked.audience,
            )
            .await
        {
            Ok(code) => back_to_client(
                &state,
                &checked.redirect_uri,
                &form.params,
                &[("code", code.expose_secret())],
            ),
            Err(e) => {
                tracing::error!(error = %e, "an authorization code could not be issued");
                state.documents.pages.result(
                    StatusCode::SERVICE_UNAVAILABLE,
                    false,
                    "Something went wrong",
                    "Nothing was shared. Please try again in a minute.",
                )
            }
        },
        _ => back_to_client(
            &state,
            &checked.redirect_uri,
            &form.params,
            &[
                ("error", "access_denied"),
                ("error_description", "The user did not allow access."),
            ],
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::return_to;

    #[test]
    fn the_consent_page_names_where_the_answer_goes() {
        assert_eq!(
            return_to("https://claude.ai/api/mcp/auth_callback"),
            "claude.ai"
        );
        for loopback in [
            "http://localhost:33418/cb",
            "http://127.0.0.1/cb",
            "http://[::1]:8080/cb",
        ] {
            assert_eq!(return_to(loopback), "an app on this computer", "{loopback}");
        }
        assert_eq!(return_to("not a url"), "the app");
    }
}
