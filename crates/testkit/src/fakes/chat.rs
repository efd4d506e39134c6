use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use futures::StreamExt;

use async_trait::async_trait;
use gptgate_ports::{ChatModel, ChatModelError, ChatRequest, ChatStream};

/// What the fake model does with the next request.
#[derive(Debug, Clone)]
pub enum FakeAnswer {
    /// Streams these pieces, then ends.
    Pieces(Vec<String>),
    /// Streams these pieces, then breaks off with the error.
    BreaksOff(Vec<String>, ChatModelError),
    /// Refuses the request outright.
    Refuses(ChatModelError),
    /// Streams these pieces, then writes nothing more, never ending (until dropped).
    Stalls(Vec<String>),
    /// Streams these pieces, each after a pause of this long (a slow model), then ends.
    Slow(Vec<String>, std::time::Duration),
}

/// A chat model that answers as scripted and remembers what it was asked. Only for tests.
#[derive(Default)]
pub struct FakeChatModel {
    script: Mutex<Vec<FakeAnswer>>,
    asked: Mutex<Vec<ChatRequest>>,
    /// Answers started and not yet dropped.
    live: Arc<AtomicUsize>,
}

/// Counts an answer as live until its stream is dropped.
struct Live(Arc<AtomicUsize>);

impl Drop for Live {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl FakeChatModel {
    /// Answers the next request with `answer` (answers are used in the order given; with none
    /// left, the model answers "ok").
    pub fn will(&self, answer: FakeAnswer) {
        self.script
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(answer);
    }

    /// How many answers are being streamed: started, and their stream not yet dropped (a
    /// client that went away must leave none behind).
    pub fn live_answers(&self) -> usize {
        self.live.load(Ordering::SeqCst)
    }

    /// Every request so far.
    pub fn requests(&self) -> Vec<ChatRequest> {
        self.asked.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

#[async_trait]
impl ChatModel for FakeChatModel {
    async fn answer(&self, request: ChatRequest) -> Result<ChatStream, ChatModelError> {
        self.asked
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(request);
        let next = {
            let mut script = self.script.lock().unwrap_or_else(|e| e.into_inner());
            if script.is_empty() {
                FakeAnswer::Pieces(vec!["ok".into()])
            } else {
                script.remove(0)
            }
        };
        let items: Vec<Result<String, ChatModelError>> = match next {
            FakeAnswer::Refuses(e) => return Err(e),
            FakeAnswer::Slow(pieces, pause) => {
                return Ok(Box::pin(futures::stream::iter(pieces).then(
                    move |piece| async move {
                        tokio::time::sleep(pause).await;
                        Ok(piece)
                    },
                )));
            }
            FakeAnswer::Stalls(pieces) => {
                self.live.fetch_add(1, Ordering::SeqCst);
                let live = Live(self.live.clone());
                let pieces = futures::stream::iter(pieces.into_iter().map(Ok));
                let never = futures::stream::pending().map(move |x| {
                    let _held = &live;
                    x
                });
                return Ok(Box::pin(pieces.chain(never)));
            }
            FakeAnswer::Pieces(pieces) => pieces.into_iter().map(Ok).collect(),
            FakeAnswer::BreaksOff(pieces, e) => pieces
                .into_iter()
                .map(Ok)
                .chain(std::iter::once(Err(e)))
                .collect(),
        };
        Ok(Box::pin(futures::stream::iter(items)))
    }
}

#[cfg(test)]
mod tests {
    use futures::StreamExt;
    use gptgate_ports::{ChatMessage, ChatRole};

    use super::*;

    fn request() -> ChatRequest {
        ChatRequest {
            model: "m".into(),
            messages: vec![ChatMessage {
                role: ChatRole::User,
                content: "Hola".into(),
            }],
            temperature: 0.5,
            max_output_tokens: 10,
        }
    }

    #[tokio::test]
    async fn it_answers_as_scripted_and_remembers_what_it_was_asked() {
        let model = FakeChatModel::default();
        model.will(FakeAnswer::Pieces(vec!["¡Ho".into(), "la!".into()]));
        model.will(FakeAnswer::BreaksOff(
            vec!["Half".into()],
            ChatModelError::Unavailable,
        ));
        model.will(FakeAnswer::Refuses(ChatModelError::RateLimited));
        let pieces: Vec<_> = model.answer(request()).await.unwrap().collect().await;
        assert_eq!(pieces, [Ok("¡Ho".to_owned()), Ok("la!".to_owned())]);
        let pieces: Vec<_> = model.answer(request()).await.unwrap().collect().await;
        assert_eq!(
            pieces,
            [Ok("Half".to_owned()), Err(ChatModelError::Unavailable)]
        );
        assert!(matches!(
            model.answer(request()).await,
            Err(ChatModelError::RateLimited)
        ));
        let pieces: Vec<_> = model.answer(request()).await.unwrap().collect().await;
        assert_eq!(pieces, [Ok("ok".to_owned())], "unscripted: ok");
        assert_eq!(model.requests().len(), 4);
        assert_eq!(model.requests()[0], request());
        assert_eq!(ChatRole::Assistant.as_str(), "assistant");
    }
}
