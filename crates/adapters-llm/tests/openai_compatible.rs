//! The OpenAI-compatible adapter against wiremock answering as OpenAI does: a streamed answer
//! in server-sent events (role chunk, content chunks, finish chunk, `[DONE]`), the request it
//! sends, and the API's error shapes (401, 429, 400 with its message, 500, a stream cut off
//! or malformed).

use futures::StreamExt;
use gptgate_adapters_llm::OpenAiCompatible;
use gptgate_ports::{ChatMessage, ChatModel, ChatModelError, ChatRequest, ChatRole};
use secrecy::SecretString;
use serde_json::json;
use wiremock::matchers::{body_partial_json, header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn request() -> ChatRequest {
    ChatRequest {
        model: "gpt-4o-mini".into(),
        messages: vec![
            ChatMessage {
                role: ChatRole::System,
                content: "You are a patient Spanish tutor.".into(),
            },
            ChatMessage {
                role: ChatRole::User,
                content: "¿Cómo estás?".into(),
            },
        ],
        temperature: 0.7,
        max_output_tokens: 200,
    }
}

fn sse(body: String) -> ResponseTemplate {
    ResponseTemplate::new(200)
        .insert_header("content-type", "text/event-stream")
        .set_body_string(body)
}

async fn collect(
    model: &OpenAiCompatible,
) -> Result<Vec<Result<String, ChatModelError>>, ChatModelError> {
    Ok(model.answer(request()).await?.collect().await)
}

#[tokio::test]
async fn a_streamed_answer_arrives_piece_by_piece_with_the_request_as_openai_expects() {
    let api = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/chat/completions"))
        .and(header("authorization", "Bearer sk-test"))
        .and(body_partial_json(json!({
            "model": "gpt-4o-mini", "stream": true, "max_tokens": 200,
            "messages": [
                { "role": "system", "content": "You are a patient Spanish tutor." },
                { "role": "user", "content": "¿Cómo estás?" }
            ]
        })))
        .respond_with(sse(gptgate_testkit::openai::streamed_answer(&[
            "¡Muy ",
            "bien",
            ", gracias!",
        ])))
        .expect(1)
        .mount(&api)
        .await;
    let model = OpenAiCompatible::new(
        &format!("{}/v1/", api.uri()),
        Some(SecretString::from("sk-test".to_owned())),
    )
    .unwrap();
    let pieces = collect(&model).await.unwrap();
    assert_eq!(
        pieces,
        [
            Ok("¡Muy ".to_owned()),
            Ok("bien".to_owned()),
            Ok(", gracias!".to_owned())
        ]
    );
}

#[tokio::test]
async fn a_local_server_needs_no_key_and_events_after_done_are_ignored() {
    let api = MockServer::start().await;
    let mut body = gptgate_testkit::openai::streamed_answer(&["ok"]);
    body.push_str("data: {\"choices\":[{\"delta\":{\"content\":\"after\"}}]}\n\n");
    Mock::given(method("POST"))
        .and(path("/chat/completions"))
        .respond_with(sse(body))
        .mount(&api)
        .await;
    let model = OpenAiCompatible::new(&api.uri(), None).unwrap();
    assert_eq!(collect(&model).await.unwrap(), [Ok("ok".to_owned())]);
    let sent = &api.received_requests().await.unwrap()[0];
    assert!(sent.headers.get("authorization").is_none());
}

#[tokio::test]
async fn the_apis_refusals_keep_their_meaning() {
    for (status, body, expected) in [
        (
            401,
            json!({ "error": { "message": "Incorrect API key provided: sk-test.", "type": "invalid_request_error", "code": "invalid_api_key" } }),
            ChatModelError::Unauthorized,
        ),
        (
            429,
            json!({ "error": { "message": "Rate limit reached", "type": "requests", "code": "rate_limit_exceeded" } }),
            ChatModelError::RateLimited,
        ),
        (
            404,
            json!({ "error": { "message": "The model `gpt-5` does not exist", "type": "invalid_request_error", "code": "model_not_found" } }),
            ChatModelError::Rejected {
                status: 404,
                code: Some("model_not_found".into()),
            },
        ),
        (
            500,
            json!({ "error": { "message": "The server had an error", "type": "server_error" } }),
            ChatModelError::Unavailable,
        ),
    ] {
        let api = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(status).set_body_json(body))
            .mount(&api)
            .await;
        let model = OpenAiCompatible::new(&api.uri(), None).unwrap();
        assert_eq!(collect(&model).await.err(), Some(expected), "{status}");
    }
}

#[tokio::test]
async fn a_malformed_piece_breaks_the_answer_off_and_an_unreachable_api_is_unavailable() {
    let api = MockServer::start().await;
    let body =
        "data: {\"choices\":[{\"delta\":{\"content\":\"Hal\"}}]}\n\ndata: {oops\n\n".to_owned();
    Mock::given(method("POST"))
        .respond_with(sse(body))
        .mount(&api)
        .await;
    let model = OpenAiCompatible::new(&api.uri(), None).unwrap();
    assert_eq!(
        collect(&model).await.unwrap(),
        [Ok("Hal".to_owned()), Err(ChatModelError::Unavailable)]
    );
    let nowhere = OpenAiCompatible::new("http://127.0.0.1:9", None).unwrap();
    assert_eq!(
        collect(&nowhere).await.err(),
        Some(ChatModelError::Unavailable)
    );
}

/// A model API that sends the headers and `first` piece of a streamed answer at once, then
/// nothing more; the receiver learns when gptgate closes the connection.
async fn stalling_api(first: &str) -> (String, tokio::sync::oneshot::Receiver<()>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let event = format!("data: {{\"choices\":[{{\"delta\":{{\"content\":\"{first}\"}}}}]}}\n\n");
    let (closed, closed_rx) = tokio::sync::oneshot::channel();
    tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.unwrap();
        let mut request = vec![0u8; 64 * 1024];
        let _ = socket.read(&mut request).await.unwrap();
        let head = "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n";
        let chunk = format!("{:x}\r\n{event}\r\n", event.len());
        socket.write_all(head.as_bytes()).await.unwrap();
        socket.write_all(chunk.as_bytes()).await.unwrap();
        // Nothing more is sent; a read of 0 bytes (or an error) is the connection closed.
        let mut rest = [0u8; 1024];
        loop {
            match socket.read(&mut rest).await {
                Ok(0) | Err(_) => break,
                Ok(_) => continue,
            }
        }
        let _ = closed.send(());
    });
    (format!("http://{address}"), closed_rx)
}

#[tokio::test]
async fn an_answer_that_stalls_is_cut_off_at_the_time_limit_after_its_first_pieces() {
    let (url, closed) = stalling_api("Hal").await;
    let model = OpenAiCompatible::new(&url, None)
        .unwrap()
        .with_time_limit(std::time::Duration::from_millis(300));
    let answer = tokio::time::timeout(std::time::Duration::from_secs(10), collect(&model))
        .await
        .expect("the answer ends");
    assert_eq!(
        answer.unwrap(),
        [Ok("Hal".to_owned()), Err(ChatModelError::TimedOut)],
        "the first piece is passed on before the answer ends, then the limit cuts it off"
    );
    tokio::time::timeout(std::time::Duration::from_secs(5), closed)
        .await
        .expect("the connection to the model is closed")
        .unwrap();
}

#[tokio::test]
async fn dropping_the_answer_closes_the_connection_to_the_model() {
    let (url, closed) = stalling_api("Hal").await;
    let model = OpenAiCompatible::new(&url, None).unwrap();
    let mut answer = model.answer(request()).await.unwrap();
    assert_eq!(answer.next().await, Some(Ok("Hal".to_owned())));
    drop(answer);
    tokio::time::timeout(std::time::Duration::from_secs(5), closed)
        .await
        .expect("dropping the stream closes the connection, which stops the model")
        .unwrap();
}

#[tokio::test]
async fn a_stream_that_stops_before_done_or_reports_an_error_is_cut_off() {
    for body in [
        "data: {\"choices\":[{\"delta\":{\"content\":\"Hal\"}}]}\n\n".to_owned(),
        "data: {\"choices\":[{\"delta\":{\"content\":\"Hal\"}}]}\n\ndata: {\"error\":{\"message\":\"overloaded\"}}\n\ndata: [DONE]\n\n".to_owned(),
    ] {
        let api = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(sse(body.clone()))
            .mount(&api)
            .await;
        let model = OpenAiCompatible::new(&api.uri(), None).unwrap();
        assert_eq!(
            collect(&model).await.unwrap(),
            [Ok("Hal".to_owned()), Err(ChatModelError::Unavailable)],
            "{body}"
        );
    }
}
