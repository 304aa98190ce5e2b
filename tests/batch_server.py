"""A real OpenAI-compatible Batch API on 127.0.0.1 for tests, run as its own process (so arena can be killed
and restarted against it): files (upload, content), batches (create, get, list with pagination, cancel).

    python tests/batch_server.py     # prints the port, then serves until killed

Each batch behaves as the config says for its creation index (`POST /_admin/config` {"batches": [...]}, the
last entry applying to every later batch; default: completes after one poll):
  polls               GET /batches/{id} calls before it ends (until then: in_progress with growing counts)
  status              completed | expired | cancelled | failed (validation errors)
  answered            expired/cancelled: how many lines got a reply (the partial output), default half
  error_lines         the first N lines end in the error file (status 500)
  vague_lines         the first N answered lines carry an unreadable verdict
  unknown_line        the output also has a line with a custom_id arena never sent
  malformed_downloads the first N downloads of the output file are not JSONL
  hold_create         seconds to wait after creating the batch before answering the create call
  lose_create_answer  create the batch, then answer the create call with 502 (as a proxy losing the answer)
`release` makes batches in progress take the config's last behaviour; `preexisting` adds that many unrelated batches first (so a search must page through the list).
`GET /_admin/state` tells a test what the server saw; every usage block it sent is in `billed`."""

from __future__ import annotations

import email.parser
import email.policy
import json
import re
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

STATE = {"config": {"batches": [{}]}, "files": {}, "batches": [], "requests": [], "billed": [], "downloads": {}}
LOCK = threading.Lock()


def longer_wins(user: str) -> str:
    """The judge: the longer answer wins; both protocols, in arena's template format. A single-answer grading
    prompt (arena's own, one <reply>) gets a grade that grows with the reply's length."""
    graded = re.findall(r"<reply>\n(.*?)\n</reply>", user, re.S)
    if graded and "Rating: [[" in user:
        return f"Graded by length.\nRating: [[{min(10, 1 + len(graded[-1]) // 10)}]]"
    replies = re.findall(r'<reply id="(\d)">\n(.*?)\n</reply>', user, re.S)
    one, two = len(replies[0][1]), len(replies[1][1])
    if "scores" in user.split("</reply>")[-1]:
        return f"{min(10, one // 10)} {min(10, two // 10)}\nlonger is better"
    return f"I compared them carefully.\n{1 if one > two else 2 if two > one else 3}"


def behaviour(index: int) -> dict:
    plans = STATE["config"].get("batches") or [{}]
    return plans[min(index, len(plans) - 1)]


def completion(body: dict, vague: bool) -> tuple[dict, dict]:
    user = body["messages"][-1]["content"]
    content = "Both are fine, I cannot choose." if vague else longer_wins(user)
    prompt = sum(len(m["content"]) for m in body["messages"]) // 4 + 1
    usage = {
        "prompt_tokens": prompt,
        "completion_tokens": len(content) // 4 + 1,
        "total_tokens": prompt + len(content) // 4 + 1,
    }
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex[:12]}",
        "object": "chat.completion",
        "model": body.get("model"),
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
        "usage": usage,
    }, usage


def finish(batch: dict) -> None:
    """Write the output and error files of a batch that has ended."""
    plan, lines = batch["_plan"], batch["_lines"]
    status = plan.get("status", "completed")
    if status == "failed":
        batch.update(
            status="failed",
            errors={
                "object": "list",
                "data": [
                    {"code": "model_not_found", "line": 1, "message": "The model 'gpt-4' does not exist for batch use"}
                ],
            },
        )
        return
    answered = len(lines) if status == "completed" else plan.get("answered", len(lines) // 2)
    errors, output = [], []
    for number, line in enumerate(lines[:answered]):
        request_id = f"req_{uuid.uuid4().hex[:12]}"
        if number < plan.get("error_lines", 0):
            errors.append(
                {
                    "id": f"batch_req_{number}",
                    "custom_id": line["custom_id"],
                    "response": {
                        "status_code": 500,
                        "request_id": request_id,
                        "body": {"error": {"message": "internal error"}},
                    },
                    "error": None,
                }
            )
            continue
        body, usage = completion(line["body"], number - plan.get("error_lines", 0) < plan.get("vague_lines", 0))
        STATE["billed"].append(usage)
        output.append(
            {
                "id": f"batch_req_{number}",
                "custom_id": line["custom_id"],
                "response": {"status_code": 200, "request_id": request_id, "body": body},
                "error": None,
            }
        )
    if plan.get("unknown_line"):
        body, _ = completion(lines[0]["body"], False)
        output.append(
            {
                "id": "batch_req_x",
                "custom_id": "not-sent-by-arena",
                "response": {"status_code": 200, "request_id": "req_x", "body": body},
                "error": None,
            }
        )
    for kind, rows in (("output_file_id", output), ("error_file_id", errors)):
        if rows:
            file_id = f"file-{uuid.uuid4().hex[:12]}"
            STATE["files"][file_id] = {"data": "".join(json.dumps(r) + "\n" for r in rows).encode(), "kind": kind}
            batch[kind] = file_id
    batch["status"] = status
    batch["request_counts"] = {
        "total": len(lines),
        "completed": len(output) - bool(plan.get("unknown_line")),
        "failed": len(errors),
    }


def public(batch: dict) -> dict:
    return {k: v for k, v in batch.items() if not k.startswith("_")}


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def _send(self, status: int, data, content_type: str = "application/json") -> None:
        raw = data if isinstance(data, bytes) else json.dumps(data).encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def _body(self) -> bytes:
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def do_GET(self):
        url = urlparse(self.path)
        with LOCK:
            STATE["requests"].append(f"GET {url.path}")
            if url.path == "/_admin/state":
                return self._send(
                    200,
                    {
                        "batches": [
                            {**public(b), "custom_ids": [x["custom_id"] for x in b["_lines"]]} for b in STATE["batches"]
                        ],
                        "requests": STATE["requests"],
                        "billed": STATE["billed"],
                        "uploads": [f["purpose"] for f in STATE["files"].values() if "purpose" in f],
                    },
                )
            if match := re.fullmatch(r"/v1/files/([\w-]+)/content", url.path):
                stored = STATE["files"].get(match.group(1))
                if stored is None:
                    return self._send(404, {"error": {"message": "no such file"}})
                batch = (
                    next(
                        b
                        for b in STATE["batches"]
                        if b.get("output_file_id") == match.group(1) or b.get("error_file_id") == match.group(1)
                    )
                    if "kind" in stored
                    else None
                )
                if batch and stored["kind"] == "output_file_id":
                    count = STATE["downloads"][batch["id"]] = STATE["downloads"].get(batch["id"], 0) + 1
                    if count <= batch["_plan"].get("malformed_downloads", 0):
                        return self._send(200, b'{"custom_id": "x", "response": {"status_co', "application/jsonl")
                return self._send(200, stored["data"], "application/jsonl")
            if match := re.fullmatch(r"/v1/batches/([\w-]+)", url.path):
                batch = next((b for b in STATE["batches"] if b["id"] == match.group(1)), None)
                if batch is None:
                    return self._send(404, {"error": {"message": "no such batch"}})
                if batch["status"] == "in_progress":
                    batch["_polls"] += 1
                    total = len(batch["_lines"])
                    if batch["_polls"] >= batch["_plan"].get("polls", 1):
                        finish(batch)
                    else:
                        batch["request_counts"] = {
                            "total": total,
                            "completed": min(total, batch["_polls"]),
                            "failed": 0,
                        }
                return self._send(200, public(batch))
            if url.path == "/v1/batches":
                query = parse_qs(url.query)
                limit, after = int(query.get("limit", ["20"])[0]), query.get("after", [None])[0]
                newest_first = [public(b) for b in reversed(STATE["batches"])]
                start = next((i + 1 for i, b in enumerate(newest_first) if b["id"] == after), 0) if after else 0
                page = newest_first[start : start + limit]
                return self._send(200, {"object": "list", "data": page, "has_more": start + limit < len(newest_first)})
        self._send(404, {"error": {"message": f"no route {url.path}"}})

    def do_POST(self):
        url = urlparse(self.path)
        body = self._body()
        with LOCK:
            STATE["requests"].append(f"POST {url.path}")
        if url.path == "/_admin/config":
            with LOCK:
                STATE["config"] = json.loads(body)
                if STATE["config"].get("release"):  # batches in progress take the config's last behaviour
                    for batch in STATE["batches"]:
                        if batch["status"] == "in_progress":
                            batch["_plan"] = (STATE["config"].get("batches") or [{}])[-1]
                for number in range(STATE["config"].get("preexisting", 0)):
                    STATE["batches"].append(
                        {
                            "id": f"batch_other_{number}",
                            "status": "completed",
                            "metadata": {},
                            "_lines": [],
                            "_plan": {},
                            "_polls": 0,
                        }
                    )
            return self._send(200, {})
        if url.path == "/v1/files":
            message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
                b"Content-Type: " + self.headers["Content-Type"].encode() + b"\r\n\r\n" + body
            )
            parts = {part.get_param("name", header="content-disposition"): part for part in message.iter_parts()}
            if "file" not in parts or parts.get("purpose") is None:
                return self._send(400, {"error": {"message": "file and purpose are required"}})
            purpose = parts["purpose"].get_content().strip()
            data = parts["file"].get_payload(decode=True)
            file_id = f"file-{uuid.uuid4().hex[:12]}"
            with LOCK:
                STATE["files"][file_id] = {"data": data, "purpose": purpose}
            return self._send(200, {"id": file_id, "object": "file", "purpose": purpose, "bytes": len(data)})
        if url.path == "/v1/batches":
            request = json.loads(body)
            with LOCK:
                stored = STATE["files"].get(request.get("input_file_id"))
                if stored is None or stored.get("purpose") != "batch":
                    return self._send(400, {"error": {"message": "input_file_id is not a batch file"}})
                if request.get("endpoint") != "/v1/chat/completions" or request.get("completion_window") != "24h":
                    return self._send(400, {"error": {"message": "unsupported endpoint or completion_window"}})
                lines = [json.loads(x) for x in stored["data"].decode().splitlines() if x.strip()]
                if not all(x.get("method") == "POST" and x.get("url") == "/v1/chat/completions" for x in lines):
                    return self._send(400, {"error": {"message": "every line must POST /v1/chat/completions"}})
                plan = behaviour(sum(1 for b in STATE["batches"] if not b["id"].startswith("batch_other_")))
                batch = {
                    "id": f"batch_{uuid.uuid4().hex[:12]}",
                    "object": "batch",
                    "endpoint": request["endpoint"],
                    "input_file_id": request["input_file_id"],
                    "completion_window": "24h",
                    "status": "in_progress",
                    "created_at": int(time.time()),
                    "metadata": request.get("metadata") or {},
                    "request_counts": {"total": len(lines), "completed": 0, "failed": 0},
                    "_lines": lines,
                    "_plan": plan,
                    "_polls": 0,
                }
                STATE["batches"].append(batch)
            time.sleep(plan.get("hold_create", 0))
            if plan.get("lose_create_answer"):
                return self._send(502, {"error": {"message": "bad gateway"}})
            return self._send(200, public(batch))
        if match := re.fullmatch(r"/v1/batches/([\w-]+)/cancel", url.path):
            with LOCK:
                batch = next((b for b in STATE["batches"] if b["id"] == match.group(1)), None)
                if batch is None:
                    return self._send(404, {"error": {"message": "no such batch"}})
                batch["_plan"] = {**batch["_plan"], "status": "cancelled"}
                finish(batch)
                return self._send(200, public(batch))
        self._send(404, {"error": {"message": f"no route {url.path}"}})


def main() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    sys.stdout.write(f"{server.server_address[1]}\n")
    sys.stdout.flush()
    server.serve_forever()


if __name__ == "__main__":
    main()
