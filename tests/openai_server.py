"""A real OpenAI-compatible chat-completions server on 127.0.0.1 for tests, answering with any ChatModel,
with scripted faults: 429 with Retry-After, 500, 401, slow answers, answers after the client gave up, malformed
JSON, empty content, no usage block, no choices. It keeps every usage block it sent (what a provider bills)."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from arena.models.base import GenerationParams, GenerationRequest
from arena.prompts.records import Message


class _Server(ThreadingHTTPServer):
    request_queue_size = 256  # the default 5 drops connections that arrive together (a 1 s SYN retry)


class OpenAICompatibleServer:
    def __init__(self, model=None, reply=None, faults=None, delay=0.0, completion_tokens=None, usage=True, status=None):
        """`model`: a ChatModel answering for real; `reply`: fn(messages) -> str otherwise.
        `faults`: list consumed one per request: '429', '401', any other HTTP status ('500', '502'...), 'slow',
        'late' (replies after 1.5 s), 'lag' (0.3 s), 'reset' (connection closed before a reply), 'cut' (billed,
        body cut short), 'context' (400 context_length_exceeded), 'garbage', 'empty', 'no_usage', 'no_choices',
        or None. `completion_tokens`: report replies of this many
        tokens; `usage=False`: never send a usage block; `status`: answer every request with this error."""
        self.model, self.reply, self.faults, self.delay = model, reply, list(faults or []), delay
        self.completion_tokens, self.send_usage, self.status = completion_tokens, usage, status
        self.requests: list[dict] = []
        self.billed: list[dict] = []  # every usage block sent
        self.answered_at: list[float] = []  # time.monotonic() of every complete 200 reply
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with server.lock:
                    server.requests.append({"body": body, "auth": self.headers.get("Authorization")})
                    fault = server.faults.pop(0) if server.faults else None
                if server.status:
                    return self._send(
                        server.status, json.dumps({"error": {"message": "Incorrect API key provided"}}).encode()
                    )
                if fault == "401":
                    return self._send(401, b'{"error": {"message": "Incorrect API key provided"}}')
                if fault == "429":
                    return self._send(429, b'{"error": "rate limited"}', {"Retry-After": "0.2"})
                if fault == "context":
                    return self._send(
                        400,
                        b'{"error": {"message": "This model\'s maximum context length is 8192 '
                        b'tokens", "code": "context_length_exceeded"}}',
                    )
                if fault and fault.isdigit():
                    return self._send(int(fault), b'{"error": "boom"}')
                if fault == "reset":
                    self.close_connection = True
                    self.connection.shutdown(2)
                    return None
                if fault == "garbage":
                    return self._send(200, b"<html>not json")
                if fault == "slow":
                    time.sleep(3)
                if fault == "lag":
                    time.sleep(0.3)
                time.sleep(server.delay)
                content = "" if fault == "empty" else server.answer(body)
                payload = {
                    "id": "x",
                    "object": "chat.completion",
                    "model": body.get("model"),
                    "choices": [
                        {"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}
                    ],
                }
                if fault == "no_choices":
                    payload["choices"] = []
                if server.send_usage and fault != "no_usage":
                    payload["usage"] = server.usage(body, content)
                    with server.lock:
                        server.billed.append(payload["usage"])
                if fault == "late":
                    time.sleep(1.5)
                data = json.dumps(payload).encode()
                if fault == "cut":  # the whole length announced, half of it sent
                    self._send(200, data[: len(data) // 2], {"Content-Length": str(len(data))})
                    self.close_connection = True
                    self.connection.shutdown(2)
                    return None
                self._send(200, data)
                with server.lock:
                    server.answered_at.append(time.monotonic())

            def _send(self, status, data, headers=None):
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    headers = {"Content-Length": str(len(data)), **(headers or {})}
                    for key, value in headers.items():
                        self.send_header(key, value)
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass

        self.httpd = _Server(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def usage(self, body: dict, content: str) -> dict:
        """Token counts of the size a real endpoint would report (about four characters a token)."""
        prompt = sum(len(m["content"]) for m in body["messages"]) // 4 + 1
        completion = self.completion_tokens or len(content) // 4 + 1
        return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}

    def answer(self, body: dict) -> str:
        messages = tuple(Message(m["role"], m["content"]) for m in body["messages"])
        if self.reply is not None:
            return self.reply(messages)
        params = GenerationParams(
            max_new_tokens=body.get("max_tokens", 32),
            greedy=body.get("temperature") == 0.0,
            temperature=body.get("temperature") or 0.7,
            top_p=body.get("top_p") or 0.9,
        )
        with self.lock:
            return self.model.generate([GenerationRequest("x", messages)], params)[0].text

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()
