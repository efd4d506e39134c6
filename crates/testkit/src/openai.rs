//! What an OpenAI-compatible chat completions API sends, for stand-ins of it in tests.

use serde_json::{json, Value};

/// OpenAI's streamed answer of `pieces` in server-sent events, as it sends it: a role chunk,
/// a chunk per piece, a finish chunk, then `[DONE]`.
pub fn streamed_answer(pieces: &[&str]) -> String {
    let chunk = |delta: Value, finish: Option<&str>| {
        json!({
            "id": "chatcmpl-123", "object": "chat.completion.chunk", "created": 1_764_000_000,
            "model": "gpt-4o-mini-2024-07-18", "system_fingerprint": "fp_0ba0d124f1",
            "choices": [{ "index": 0, "delta": delta, "logprobs": null, "finish_reason": finish }]
        })
    };
    let mut events = vec![chunk(json!({ "role": "assistant", "content": "" }), None)];
    events.extend(pieces.iter().map(|p| chunk(json!({ "content": p }), None)));
    events.push(chunk(json!({}), Some("stop")));
    let mut body: String = events.iter().map(|e| format!("data: {e}\n\n")).collect();
    body.push_str("data: [DONE]\n\n");
    body
}
