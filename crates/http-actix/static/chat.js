// The hosted assistant's chat page. The conversation lives in this page's memory only: it is
// sent whole with each question (the server keeps none of it) and a reload erases it. Answers
// arrive as server-sent events over fetch and are shown as they are written.
"use strict";
(function () {
  var form = document.getElementById("ask");
  var input = document.getElementById("question");
  var send = document.getElementById("send");
  var log = document.getElementById("log");
  var starters = document.getElementById("starters");
  var csrf = form.getAttribute("data-csrf");
  var conversation = [];
  var busy = false;
  // What the server takes (docs/api.md): the newest messages that fit are sent.
  var MAX_MESSAGES = 100;
  var MAX_MESSAGE_CHARS = 16000;
  var MAX_TOTAL_CHARS = 100000;

  function bubble(kind, text) {
    var item = document.createElement("li");
    item.className = kind;
    item.textContent = text;
    log.appendChild(item);
    item.scrollIntoView({ block: "end" });
    return item;
  }

  function failed(message) {
    bubble("failed", message);
  }

  function errorMessage(body, status) {
    if (body && body.error && body.error.message) {
      return body.error.message;
    }
    return "The chat failed (" + status + "). Please try again.";
  }

  // The conversation to send: the newest messages within the limits, each cut to the longest
  // a message may be, starting with the user's.
  function history() {
    var sent = [];
    var total = 0;
    for (var i = conversation.length - 1; i >= 0; i--) {
      var text = conversation[i].content.slice(0, MAX_MESSAGE_CHARS);
      if (sent.length === MAX_MESSAGES || total + text.length > MAX_TOTAL_CHARS) {
        break;
      }
      total += text.length;
      sent.unshift({ role: conversation[i].role, content: text });
    }
    while (sent.length > 1 && sent[0].role !== "user") {
      sent.shift();
    }
    return sent;
  }

  // Reads `data:` events from the answer's body, calling `onEvent(name, data)` for each; the
  // reader is cancelled if that throws (the answer is dropped, and the server stops the model).
  async function readEvents(response, onEvent) {
    var reader = response.body.getReader();
    try {
      await readAll(reader, onEvent);
    } catch (e) {
      reader.cancel().catch(function () {});
      throw e;
    }
  }

  async function readAll(reader, onEvent) {
    var decoder = new TextDecoder();
    var buffer = "";
    for (;;) {
      var chunk = await reader.read();
      if (chunk.done) {
        return;
      }
      buffer += decoder.decode(chunk.value, { stream: true });
      var end;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        var block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        var name = "message";
        var data = null;
        block.split("\n").forEach(function (line) {
          if (line.indexOf("event: ") === 0) {
            name = line.slice(7);
          } else if (line.indexOf("data: ") === 0) {
            data = (data || "") + line.slice(6);
          }
        });
        // A block without data is a comment (": waiting" while the model is silent).
        if (data !== null) {
          onEvent(name, JSON.parse(data));
        }
      }
    }
  }

  async function ask(text) {
    if (busy || !text.trim()) {
      return;
    }
    busy = true;
    send.disabled = true;
    if (starters) {
      starters.hidden = true;
    }
    conversation.push({ role: "user", content: text });
    bubble("user", text);
    input.value = "";
    var answer = bubble("assistant", "");
    var written = "";
    var ended = false;
    try {
      var response = await fetch("/api/chat", {
        method: "POST",
        headers: { "content-type": "application/json", "x-csrf-token": csrf },
        body: JSON.stringify({ messages: history() }),
        credentials: "same-origin",
      });
      if (!response.ok) {
        var body = null;
        try { body = await response.json(); } catch (e) { body = null; }
        throw new Error(errorMessage(body, response.status));
      }
      await readEvents(response, function (name, data) {
        if (name === "error") {
          ended = true;
          throw new Error(errorMessage(data, "stream"));
        }
        if (name === "done") {
          ended = true;
          return;
        }
        written += data.delta;
        answer.textContent = written;
        answer.scrollIntoView({ block: "end" });
      });
      if (!ended) {
        throw new Error("The answer was cut off. Please try again.");
      }
      if (written.trim()) {
        conversation.push({ role: "assistant", content: written });
      } else {
        // An empty answer stays out of the history (the server takes no empty message).
        conversation.pop();
        answer.remove();
        failed("The assistant gave an empty answer. Please ask again.");
      }
    } catch (e) {
      if (!written) {
        answer.remove();
      }
      // The question stays out of the history when it got no whole answer.
      conversation.pop();
      if (written) {
        conversation.push({ role: "user", content: text });
        conversation.push({ role: "assistant", content: written });
      }
      failed(e.message || "The chat failed. Please try again.");
    } finally {
      busy = false;
      send.disabled = false;
      input.focus();
    }
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    ask(input.value);
  });
  input.addEventListener("keydown", function (event) {
    if (event.key === "Enter" && !event.shiftKey) {
      event.preventDefault();
      ask(input.value);
    }
  });
  if (starters) {
    Array.prototype.forEach.call(starters.querySelectorAll("button.starter"), function (button) {
      button.addEventListener("click", function () {
        ask(button.textContent);
      });
    });
  }
})();
