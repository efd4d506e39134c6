//! Gmail's actions against wiremock, with Google's real answers and error bodies.

mod support;

use base64::Engine;
use gptgate_adapters_oauth::actions::gmail;
use gptgate_domain::ProviderId;
use gptgate_ports::{ActionError, ProviderActions};
use serde_json::{json, Map, Value};
use time::Duration;
use wiremock::matchers::{header, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn actions(server: &MockServer) -> gmail::GmailActions {
    gmail::actions(&support::config(ProviderId::Gmail, server, "")).unwrap()
}

async fn run(server: &MockServer, action: &str, params: Value) -> Result<Value, ActionError> {
    let mut metadata = Map::new();
    metadata.insert("email".into(), json!("ana@example.com"));
    support::run_with(
        &actions(server),
        "ya29.gmail-access",
        &metadata,
        action,
        params,
    )
    .await
}

fn b64(text: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(text)
}

fn google_error(code: u16, status: &str, reason: &str, message: &str) -> Value {
    json!({ "error": {
        "code": code, "message": message,
        "errors": [{ "message": message, "domain": "global", "reason": reason }],
        "status": status
    } })
}

/// The RFC 5322 message of the one send request the server received.
async fn sent_message(server: &MockServer) -> String {
    let requests = server.received_requests().await.unwrap();
    assert_eq!(requests.len(), 1);
    let body: Value = serde_json::from_slice(&requests[0].body).unwrap();
    let raw = body["raw"].as_str().unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE
        .decode(raw)
        .unwrap();
    String::from_utf8(bytes).unwrap()
}

#[tokio::test]
async fn send_email_sends_an_rfc5322_message_as_base64url_raw() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/gmail/v1/users/me/messages/send"))
        .and(header("authorization", "Bearer ya29.gmail-access"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "id": "18c2f1a0b3d4e5f6", "threadId": "18c2f1a0b3d4e5f6", "labelIds": ["SENT"]
        })))
        .expect(1)
        .mount(&server)
        .await;
    let sent = run(
        &server,
        "send-email",
        json!({
            "to": "Bo <bo@example.com>, cy@example.com",
            "cc": "dee@example.com",
            "bcc": "eve@example.com",
            "replyTo": "team@example.com",
            "subject": "Señor, ¿café mañana?",
            "body": "Hola Bo,\n\nNos vemos a las 9.\n— Ana"
        }),
    )
    .await
    .unwrap();
    assert_eq!(
        sent,
        json!({ "id": "18c2f1a0b3d4e5f6", "threadId": "18c2f1a0b3d4e5f6" })
    );
    let message = sent_message(&server).await;
    let head = message.split("\r\n\r\n").next().unwrap();
    assert!(head.contains("From: ana@example.com"), "{head}");
    assert!(
        head.contains("To: \"Bo\" <bo@example.com>, cy@example.com")
            || head.contains("To: Bo <bo@example.com>, cy@example.com"),
        "{head}"
    );
    assert!(head.contains("Cc: dee@example.com"), "{head}");
    assert!(
        head.contains("Bcc: eve@example.com"),
        "Gmail reads bcc from the headers: {head}"
    );
    assert!(head.contains("Reply-To: team@example.com"), "{head}");
    assert!(
        head.contains("Subject: =?utf-8?b?"),
        "a non-ASCII subject is encoded: {head}"
    );
    assert!(head.is_ascii(), "{head}");
    assert!(
        head.contains("Content-Type: text/plain; charset=utf-8"),
        "{head}"
    );
}

#[tokio::test]
async fn no_header_can_be_smuggled_in() {
    let server = MockServer::start().await;
    let gmail = actions(&server);
    for (field, params) in [
        (
            "to",
            json!({ "to": "bo@example.com\r\nBcc: spy@evil.example", "subject": "s", "body": "b" }),
        ),
        (
            "subject",
            json!({ "to": "bo@example.com", "subject": "hi\r\nBcc: spy@evil.example", "body": "b" }),
        ),
        (
            "replyTo",
            json!({ "to": "bo@example.com", "subject": "s", "body": "b", "replyTo": "a@x.example\nBcc: spy@evil.example" }),
        ),
    ] {
        match gmail.check("send-email", &params) {
            Err(ActionError::InvalidParams { field: f, .. }) => assert_eq!(f, field),
            other => panic!("{field}: {other:?}"),
        }
    }
    assert!(server.received_requests().await.unwrap().is_empty());
}

#[tokio::test]
async fn search_messages_lists_sender_subject_date_and_snippet() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/gmail/v1/users/me/messages"))
        .and(query_param("q", "from:bo@example.com newer_than:7d"))
        .and(query_param("maxResults", "2"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "messages": [
                { "id": "18c1", "threadId": "18c0" },
                { "id": "18c2", "threadId": "18c2" }
            ],
            "nextPageToken": "09876543210987654321",
            "resultSizeEstimate": 3
        })))
        .expect(1)
        .mount(&server)
        .await;
    for (id, subject) in [("18c1", "Invoice 42"), ("18c2", "Lunch?")] {
        Mock::given(method("GET"))
            .and(path(format!("/gmail/v1/users/me/messages/{id}")))
            .and(query_param("format", "metadata"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "id": id, "threadId": "18c0", "labelIds": ["INBOX", "UNREAD"],
                "snippet": format!("About {subject}"),
                "sizeEstimate": 4242, "historyId": "1234567", "internalDate": "1764230400000",
                "payload": { "mimeType": "multipart/alternative", "headers": [
                    { "name": "From", "value": "Bo <bo@example.com>" },
                    { "name": "Date", "value": "Thu, 26 Nov 2026 09:00:00 +0000" },
                    { "name": "Subject", "value": subject }
                ] }
            })))
            .expect(1)
            .mount(&server)
            .await;
    }
    let found = run(
        &server,
        "search-messages",
        json!({ "query": "from:bo@example.com newer_than:7d", "maxResults": 2 }),
    )
    .await
    .unwrap();
    assert_eq!(
        found["messages"][0],
        json!({ "id": "18c1", "threadId": "18c0", "from": "Bo <bo@example.com>",
                "subject": "Invoice 42", "date": "Thu, 26 Nov 2026 09:00:00 +0000",
                "snippet": "About Invoice 42" })
    );
    assert_eq!(found["messages"][1]["subject"], "Lunch?");
    assert_eq!(found["more"], true);
}

#[tokio::test]
async fn a_search_that_finds_nothing_is_an_empty_list() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/gmail/v1/users/me/messages"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({ "resultSizeEstimate": 0 })))
        .mount(&server)
        .await;
    let found = run(&server, "search-messages", json!({ "query": "zzzz" }))
        .await
        .unwrap();
    assert_eq!(found, json!({ "messages": [], "more": false }));
}

async fn message_answers(server: &MockServer, payload: Value) {
    Mock::given(method("GET"))
        .and(path("/gmail/v1/users/me/messages/18c1"))
        .and(query_param("format", "full"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "id": "18c1", "threadId": "18c0", "labelIds": ["INBOX"], "snippet": "Hi",
            "payload": payload
        })))
        .mount(server)
        .await;
}

#[tokio::test]
async fn read_message_prefers_the_plain_text_part_and_names_attachments() {
    let server = MockServer::start().await;
    message_answers(
        &server,
        json!({
            "mimeType": "multipart/mixed", "filename": "",
            "headers": [
                { "name": "From", "value": "Bo <bo@example.com>" },
                { "name": "To", "value": "ana@example.com" },
                { "name": "Subject", "value": "Invoice 42" },
                { "name": "Date", "value": "Thu, 26 Nov 2026 09:00:00 +0000" }
            ],
            "body": { "size": 0 },
            "parts": [
                { "partId": "0", "mimeType": "multipart/alternative", "filename": "", "body": { "size": 0 },
                  "parts": [
                    { "partId": "0.0", "mimeType": "text/plain", "filename": "",
                      "body": { "size": 24, "data": b64("Here is the invoice. 💶\r\n") } },
                    { "partId": "0.1", "mimeType": "text/html", "filename": "",
                      "body": { "size": 40, "data": b64("<p>Here is the <b>invoice</b>.</p>") } }
                  ] },
                { "partId": "1", "mimeType": "application/pdf", "filename": "invoice-42.pdf",
                  "body": { "attachmentId": "ANGjdJ8", "size": 48213 } }
            ]
        }),
    )
    .await;
    let read = run(&server, "read-message", json!({ "id": "18c1" }))
        .await
        .unwrap();
    assert_eq!(read["text"], "Here is the invoice. 💶\r\n");
    assert_eq!(read["textCut"], false);
    assert_eq!(read["subject"], "Invoice 42");
    assert_eq!(read["to"], "ana@example.com");
    assert_eq!(read["attachments"], json!(["invoice-42.pdf"]));
}

#[tokio::test]
async fn read_message_reads_html_only_mail_as_text_and_cuts_a_long_one() {
    let server = MockServer::start().await;
    let long = "<p>Hello Ana,</p><script>track()</script>".to_owned() + &"a".repeat(60_000);
    message_answers(
        &server,
        json!({ "mimeType": "text/html", "headers": [], "body": { "size": long.len(), "data": b64(&long) } }),
    )
    .await;
    let read = run(&server, "read-message", json!({ "id": "18c1" }))
        .await
        .unwrap();
    let text = read["text"].as_str().unwrap();
    assert!(text.starts_with("Hello Ana,\n"), "{}", &text[..40]);
    assert!(!text.contains("track"));
    assert_eq!(text.chars().count(), 50_000);
    assert_eq!(read["textCut"], true);
    assert!(read.to_string().len() < 100_000);
}

async fn list_answers(status: u16, body: Value) -> Result<Value, ActionError> {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/gmail/v1/users/me/messages"))
        .respond_with(
            ResponseTemplate::new(status)
                .insert_header("retry-after", "5")
                .set_body_json(body),
        )
        .mount(&server)
        .await;
    run(&server, "search-messages", json!({ "query": "x" })).await
}

#[tokio::test]
async fn googles_errors_keep_their_meaning() {
    assert!(matches!(
        list_answers(401, google_error(401, "UNAUTHENTICATED", "authError",
            "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential.")).await,
        Err(ActionError::Unauthorized)
    ));
    assert!(matches!(
        list_answers(429, google_error(429, "RESOURCE_EXHAUSTED", "rateLimitExceeded", "Resource has been exhausted (e.g. check quota).")).await,
        Err(ActionError::RateLimited { retry_after: Some(d) }) if d == Duration::seconds(5)
    ));
    assert!(matches!(
        list_answers(
            403,
            google_error(
                403,
                "PERMISSION_DENIED",
                "userRateLimitExceeded",
                "User-rate limit exceeded."
            )
        )
        .await,
        Err(ActionError::RateLimited { .. })
    ));
    assert!(matches!(
        list_answers(403, google_error(403, "PERMISSION_DENIED", "insufficientPermissions", "Request had insufficient authentication scopes.")).await,
        Err(ActionError::Rejected { ref code, message: Some(ref m) }) if code == "insufficientPermissions" && m.contains("connect it again")
    ));
    assert!(matches!(
        list_answers(404, google_error(404, "NOT_FOUND", "notFound", "Requested entity was not found.")).await,
        Err(ActionError::Rejected { ref code, message: Some(ref m) }) if code == "notFound" && m == "Requested entity was not found."
    ));
    assert!(matches!(
        list_answers(
            503,
            google_error(
                503,
                "UNAVAILABLE",
                "backendError",
                "The service is currently unavailable."
            )
        )
        .await,
        Err(ActionError::Unavailable(_))
    ));
}

#[tokio::test]
async fn bad_params_are_refused_before_gmail_is_called() {
    let server = MockServer::start().await;
    let gmail = actions(&server);
    let field = |action: &str, params: Value| match gmail.check(action, &params) {
        Err(ActionError::InvalidParams { field, .. }) => field,
        other => panic!("{action} {params}: {other:?}"),
    };
    let email = |extra: Value| {
        let mut p = json!({ "to": "bo@example.com", "subject": "s", "body": "b" });
        p.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        p
    };
    assert_eq!(
        field("send-email", json!({ "subject": "s", "body": "b" })),
        "to"
    );
    assert_eq!(
        field("send-email", email(json!({ "to": "not an address" }))),
        "to"
    );
    assert_eq!(field("send-email", email(json!({ "body": "" }))), "body");
    assert!(gmail
        .check("send-email", &email(json!({ "body": "x".repeat(50_000) })))
        .is_ok());
    assert_eq!(
        field("send-email", email(json!({ "body": "x".repeat(50_001) }))),
        "body"
    );
    assert!(gmail
        .check("send-email", &email(json!({ "subject": "s".repeat(250) })))
        .is_ok());
    assert_eq!(
        field("send-email", email(json!({ "subject": "s".repeat(251) }))),
        "subject"
    );
    let many = |n: usize| {
        (0..n)
            .map(|i| format!("r{i}@example.com"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    assert!(gmail
        .check(
            "send-email",
            &email(json!({ "to": many(40), "cc": many(5), "bcc": many(5) }))
        )
        .is_ok());
    assert_eq!(
        field(
            "send-email",
            email(json!({ "to": many(40), "cc": many(5), "bcc": many(6) }))
        ),
        "to"
    );
    assert_eq!(field("send-email", email(json!({ "cc": "x" }))), "cc");
    assert!(gmail
        .check(
            "search-messages",
            &json!({ "query": "a", "maxResults": 25 })
        )
        .is_ok());
    assert_eq!(
        field("search-messages", json!({ "query": "a", "maxResults": 26 })),
        "maxResults"
    );
    assert_eq!(
        field("search-messages", json!({ "query": "a", "maxResults": 0 })),
        "maxResults"
    );
    assert_eq!(field("search-messages", json!({ "query": "" })), "query");
    assert_eq!(field("read-message", json!({ "id": "../drafts" })), "id");
    assert_eq!(field("read-message", json!({ "id": "" })), "id");
    assert!(gmail
        .check("read-message", &json!({ "id": "18c1f0a9_-Z" }))
        .is_ok());
    assert!(server.received_requests().await.unwrap().is_empty());
}

#[tokio::test]
async fn read_message_fits_chatgpt_even_when_escapes_and_headers_weigh_more() {
    let server = MockServer::start().await;
    let controls = "\u{1}".repeat(60_000);
    message_answers(
        &server,
        json!({
            "mimeType": "text/plain",
            "headers": [
                { "name": "Subject", "value": "s".repeat(100_000) },
                { "name": "To", "value": "\u{1}".repeat(100_000) },
                { "name": "From", "value": "\"".repeat(100_000) },
                { "name": "Cc", "value": "\\".repeat(100_000) },
                { "name": "Date", "value": "\u{2}".repeat(100_000) }
            ],
            "parts": (0..60).map(|i| json!({
                "mimeType": "application/pdf", "filename": format!("{i}{}", "\"".repeat(1_000)),
                "body": { "attachmentId": "a", "size": 1 }
            })).collect::<Vec<_>>(),
            "body": { "size": controls.len(), "data": b64(&controls) }
        }),
    )
    .await;
    let read = run(&server, "read-message", json!({ "id": "18c1" }))
        .await
        .unwrap();
    assert!(read.to_string().chars().count() <= 100_000);
    assert_eq!(read["textCut"], true);
    assert_eq!(read["subject"].as_str().unwrap().chars().count(), 2_000);
    assert!(
        !read["text"].as_str().unwrap().is_empty(),
        "as much text as fits is kept"
    );
}
