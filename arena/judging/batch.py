"""Judging through an OpenAI-compatible Batch API (`--batch`): the same requests as direct calls, at the
provider's batch discount, answered within the completion window instead of at once.

One batch goes like this: the judge calls become a JSONL file (`POST /files`, purpose `batch`), a batch is
created for it (`POST /batches`, endpoint `/v1/chat/completions`, window `24h`, metadata naming the arena run),
polled (`GET /batches/{id}`) until it ends, and its output and error files are read.

Never paying twice rests on a ledger in the results folder (`<set>/batches/<judge>.json`, rewritten
atomically): before a batch is created, a submission token and the batch's custom_ids (the judgments' cache
keys) are recorded; the token travels in the batch's metadata; the batch id is recorded as soon as the server
returns it. A rerun first finishes what the ledger holds: it resumes polling a recorded batch, and finds a
batch whose id was never recorded (the process died between create and record) by listing the server's
batches (`GET /batches`) and matching the token. Only when the server has no batch with that token is the
entry dropped and its requests sent again.

Every outcome ends somewhere: a reply is parsed by the direct judge's parser into the same stored record
(with the reply's request id); error lines and lines an expired or cancelled batch never answered go into a
follow-up batch (up to the judge's `retries`, then they count as failed calls: exit 4, judged again by a
rerun); a `failed` batch stops the command with the server's messages (exit 4); an output line with a
custom_id arena did not send is ignored with one warning; an output file that cannot be read stores nothing
and keeps the batch in the ledger, so a rerun downloads it again.

Money: each line costs the judge's price times `batch_discount`. Before a batch is submitted every line's
worst case is reserved in the command's one `CostBudget`; only the lines that fit are sent, and when a batch
has settled (real usage frees the rest of each reservation) the lines left out are tried again."""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode

from arena.errors import EXIT_CALLS_FAILED, ArenaError
from arena.judging.budget import CallMeter, CostBudget, Price
from arena.judging.judges import (
    Judge,
    JudgeRequest,
    OnReply,
    OpenAIJudge,
    RunOutcome,
    reply_from_text,
)
from arena.models.endpoints import EndpointPool
from arena.models.http import (
    RequestFailed,
    RetryPolicy,
    Unconfirmed,
    open_session,
    request,
    run_sync,
)
from arena.models.options import DEFAULT_JUDGE_CONCURRENCY
from arena.models.spec import ModelSpec
from arena.store.atomic import write_atomically

logger = logging.getLogger(__name__)

BATCH_URL = "/v1/chat/completions"
COMPLETION_WINDOW = "24h"
TERMINAL = frozenset({"completed", "expired", "cancelled", "failed"})
DEFAULT_DISCOUNT = 0.5  # OpenAI's Batch API price: half the synchronous one
BATCH_ROUNDS = 10  # adaptive --batch without --round-size: the budget in about this many batches


class CreationUnconfirmed(Exception):
    """A create call whose answer was lost (a dropped connection, a timeout, a 5xx): the batch may exist, so it
    is looked up by its submission token instead of being created again."""


class BatchFailed(ArenaError):
    """The server refused or lost a batch: the command stops with its messages (exit 4), nothing is stored for
    that batch, and what the ledger still holds is resumed by the next run."""

    exit_code = EXIT_CALLS_FAILED


def batch_round_size(budget: int) -> int:
    """Round size of `--schedule adaptive --batch` when none is given: every round waits for a whole batch
    (up to the 24 h window), so a budget is spent in about BATCH_ROUNDS batches rather than rounds of a judge's
    usual concurrency (never fewer calls than that)."""
    return max(DEFAULT_JUDGE_CONCURRENCY, -(-budget // BATCH_ROUNDS))


@dataclass(frozen=True)
class BatchOptions:
    poll_seconds: float
    discount: float
    follow_ups: int  # follow-up batches for lines that errored or were never answered

    @classmethod
    def from_spec(cls, spec: ModelSpec) -> BatchOptions:
        return cls(
            float(spec.option("batch_poll_seconds", 30.0)),
            float(spec.option("batch_discount", DEFAULT_DISCOUNT)),
            int(spec.option("retries", 5)),
        )


@dataclass(frozen=True)
class BatchLine:
    """One line of an output or error file."""

    custom_id: str
    status_code: int | None
    body: dict | None
    request_id: str
    error: str

    @property
    def text(self) -> str | None:
        """The reply's text, or None when the line carries no usable chat completion."""
        try:
            message = self.body["choices"][0]["message"]  # type: ignore[index]
        except (KeyError, IndexError, TypeError):
            return None
        return (message.get("content") or "") if isinstance(message, dict) and self.status_code == 200 else None


def parse_batch_file(data: bytes, what: str) -> list[BatchLine]:
    """Every line of an output or error file, or BatchFailed naming the first one that cannot be read (then
    nothing of the file is used)."""
    lines = []
    for number, raw in enumerate(data.decode("utf-8", errors="replace").splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            row = json.loads(raw)
            custom_id = row["custom_id"]
            response = row.get("response") or {}
            if not isinstance(custom_id, str) or not isinstance(response, dict):
                raise TypeError("custom_id must be a string and response an object")
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise BatchFailed(
                f"{what}, line {number}, cannot be read ({type(exc).__name__}: {exc}): nothing from "
                "it was stored and the batch is kept: rerun to download it again"
            ) from None
        body = response.get("body") if isinstance(response.get("body"), dict) else None
        error = row.get("error") or (body or {}).get("error") or ""
        lines.append(
            BatchLine(
                custom_id,
                response.get("status_code"),
                body,
                str(response.get("request_id") or (body or {}).get("id") or row.get("id") or ""),
                json.dumps(error) if isinstance(error, dict) else str(error),
            )
        )
    return lines


class BatchLedger:
    """The results folder's record of this judge's batches not yet collected: a JSON list of entries
    {submission, batch_id, custom_ids}, each change written atomically (a kill leaves the old or the new
    list, never half of one). The runner's judgments lock makes one run at a time its only writer."""

    def __init__(self, path: Path):
        self.path = path

    def entries(self) -> list[dict]:
        if not self.path.exists():
            return []
        try:
            entries = json.loads(self.path.read_text())["batches"]
            assert isinstance(entries, list) and all(isinstance(e["custom_ids"], list) for e in entries)
        except (ValueError, KeyError, TypeError, AssertionError):
            raise ArenaError(
                f"{self.path}: not a batch ledger arena wrote (it records batches in flight; move it "
                "away only if no batch of this judge is running on the server)"
            ) from None
        return entries

    def _write(self, entries: list[dict]) -> None:
        write_atomically(self.path, json.dumps({"batches": entries}, indent=1))

    def add(self, submission: str, custom_ids: list[str]) -> None:
        self._write([*self.entries(), {"submission": submission, "batch_id": None, "custom_ids": custom_ids}])

    def set_batch_id(self, submission: str, batch_id: str) -> None:
        self._write([{**e, "batch_id": batch_id} if e["submission"] == submission else e for e in self.entries()])

    def remove(self, submission: str) -> None:
        self._write([e for e in self.entries() if e["submission"] != submission])


class BatchAPI:
    """Plain HTTP to the files and batches endpoints under the judge's base_url, through the judge's transport
    (`arena.models.http.request`): transient trouble (429, 5xx, a dropped connection) is retried with the judge's
    policy; anything else stops the command (BatchFailed)."""

    def __init__(self, session, judge: OpenAIJudge, policy: RetryPolicy):
        self.session, self.base_url, self.policy = session, judge.endpoint.base_url, policy
        # The batches live on this one server: every call goes there, and is never refused by a circuit breaker.
        self.endpoint = EndpointPool([judge.endpoint], rest_seconds=0)

    async def _call(
        self, method: str, path: str, body: bytes | None = None, content_type: str | None = None, creates: bool = False
    ) -> bytes:
        """`creates`: the call makes something billable, so an answer that may have been lost after the server
        acted on it is never retried (CreationUnconfirmed instead)."""
        try:
            return await request(
                self.session,
                self.endpoint,
                method,
                path,
                self.policy,
                _whole,
                body=body,
                content_type=content_type,
                once=creates,
                per_read_timeout=True,
            )
        except Unconfirmed as exc:
            raise CreationUnconfirmed(str(exc)) from None
        except RequestFailed as exc:
            raise BatchFailed(f"Batch API {method} {self.base_url}{path}: {exc}") from None

    async def _json(
        self, method: str, path: str, body: dict | None = None, files: dict | None = None, creates: bool = False
    ) -> dict:
        """A call whose answer is a JSON object; its request a JSON `body`, or a multipart form of `files`."""
        content_type = None
        data = None
        if body is not None:
            data, content_type = json.dumps(body).encode(), "application/json"
        elif files is not None:
            data, content_type = _multipart(files)
        content = await self._call(method, path, data, content_type, creates)
        try:
            answer = json.loads(content)
        except ValueError:
            answer = None
        if not isinstance(answer, dict):
            text = content.decode(errors="replace")[:200]
            raise BatchFailed(f"Batch API {method} {self.base_url}{path}: not a JSON object: {text!r}")
        return answer

    async def upload(self, data: bytes) -> str:
        uploaded = await self._json(
            "POST", "/files", files={"purpose": "batch", "file": ("arena-batch.jsonl", data, "application/jsonl")}
        )
        return str(uploaded["id"])

    async def create(self, file_id: str, metadata: dict) -> dict:
        return await self._json(
            "POST",
            "/batches",
            {
                "input_file_id": file_id,
                "endpoint": BATCH_URL,
                "completion_window": COMPLETION_WINDOW,
                "metadata": metadata,
            },
            creates=True,
        )

    async def get(self, batch_id: str) -> dict:
        return await self._json("GET", f"/batches/{batch_id}")

    async def find(self, submission: str) -> dict | None:
        """The batch whose metadata carries this submission token, from the server's list (newest first)."""
        after = None
        while True:
            query = urlencode({"limit": 100, **({"after": after} if after else {})})
            page = await self._json("GET", f"/batches?{query}")
            for batch in page.get("data") or []:
                if (batch.get("metadata") or {}).get("arena_submission") == submission:
                    return batch
            if not page.get("has_more") or not page.get("data"):
                return None
            after = page["data"][-1]["id"]

    async def content(self, file_id: str) -> bytes:
        return await self._call("GET", f"/files/{file_id}/content")


def _whole(content: bytes) -> bytes:
    return content


def _multipart(fields: dict[str, str | tuple[str, bytes, str]]) -> tuple[bytes, str]:
    """A multipart/form-data body (RFC 7578) and its content type: a string field is a value, a tuple a file
    (name, data, content type)."""
    boundary = uuid.uuid4().hex
    parts = []
    for name, value in fields.items():
        if isinstance(value, str):
            head, data = f'name="{name}"\r\n', value.encode()
        else:
            filename, data, content_type = value
            head = f'name="{name}"; filename="{filename}"\r\nContent-Type: {content_type}\r\n'
        parts.append(f"--{boundary}\r\nContent-Disposition: form-data; {head}\r\n".encode() + data + b"\r\n")
    return b"".join(parts) + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


@dataclass
class _Submitted:
    """A batch on the server and the meters holding its lines' reservations."""

    submission: str
    batch_id: str
    custom_ids: frozenset[str]
    meters: dict[str, CallMeter] = field(default_factory=dict)


class BatchJudge(Judge):
    """`judge`'s requests sent through the Batch API; the runner sees an ordinary judge (replies reported one
    by one to `on_reply`, a RunOutcome at the end)."""

    def __init__(self, judge: OpenAIJudge, spec: ModelSpec, ledger: BatchLedger, run_name: str):
        self.direct, self.options, self.ledger, self.run_name = judge, BatchOptions.from_spec(spec), ledger, run_name
        self.name, self.label, self.demo = judge.name, judge.label, judge.demo
        price = judge.price
        self.price = Price(
            price.input_per_million * self.options.discount, price.output_per_million * self.options.discount
        )

    def estimate_cost(self, requests: list[JudgeRequest]) -> float:
        return self.direct.estimate_cost(requests) * self.options.discount

    def _meter(self, budget: CostBudget, request: JudgeRequest) -> CallMeter:
        return CallMeter(budget, self.price, [request.system, request.user], self.direct.max_tokens)

    def _line(self, request: JudgeRequest) -> dict:
        body = {
            "model": self.direct.model_id,
            "temperature": self.direct.temperature,
            "max_tokens": self.direct.max_tokens,
            "messages": [{"role": "system", "content": request.system}, {"role": "user", "content": request.user}],
        }
        return {"custom_id": request.key, "method": "POST", "url": BATCH_URL, "body": body}

    def run(self, requests: list[JudgeRequest], on_reply: OnReply, budget: CostBudget) -> RunOutcome:
        return run_sync(self._run({r.key: r for r in requests}, on_reply, budget))

    async def _run(self, wanted: dict[str, JudgeRequest], on_reply: OnReply, budget: CostBudget) -> RunOutcome:
        async with open_session(1) as session:  # one call at a time
            return await self._run_batches(BatchAPI(session, self.direct, self.direct.policy), wanted, on_reply, budget)

    async def _run_batches(
        self, api: BatchAPI, wanted: dict[str, JudgeRequest], on_reply: OnReply, budget: CostBudget
    ) -> RunOutcome:
        outcome = RunOutcome()
        sent_count: dict[str, int] = {}
        retry: set[str] = set()
        for entry in self.ledger.entries():  # what earlier runs submitted comes first: it is paid for
            submitted = await self._resume(api, entry, wanted, budget)
            if submitted is not None:
                retry |= await self._collect(api, submitted, wanted, on_reply, outcome)
                for key in entry["custom_ids"]:
                    sent_count[key] = sent_count.get(key, 0) + 1
        resumed = set(sent_count)
        todo = [k for k in wanted if k not in resumed] + sorted(retry)
        while todo:
            exhausted = [k for k in todo if sent_count.get(k, 0) > self.options.follow_ups]
            if exhausted:
                outcome.failed += len(exhausted)
                todo = [k for k in todo if sent_count.get(k, 0) <= self.options.follow_ups]
                if not todo:
                    break
            meters = {}
            for key in todo:  # only the lines whose worst case fits under the cap go out
                meter = self._meter(budget, wanted[key])
                if meter.before_attempt():
                    meters[key] = meter
            if not meters:
                outcome.not_started += len(todo)
                break
            submitted = await self._submit(api, [wanted[k] for k in meters], meters)
            for key in meters:
                sent_count[key] = sent_count.get(key, 0) + 1
            again = await self._collect(api, submitted, wanted, on_reply, outcome)
            todo = [k for k in todo if k not in meters] + sorted(again)
        return outcome

    async def _resume(
        self, api: BatchAPI, entry: dict, wanted: dict[str, JudgeRequest], budget: CostBudget
    ) -> _Submitted | None:
        batch_id = entry["batch_id"]
        if batch_id is None:
            found = await api.find(entry["submission"])
            if found is None:  # the process died before the server created it: nothing to pay for
                logger.info(
                    f"batch submission {entry['submission']} never reached the server; its requests are sent again"
                )
                self.ledger.remove(entry["submission"])
                return None
            batch_id = str(found["id"])
            self.ledger.set_batch_id(entry["submission"], batch_id)
            logger.info(f"found batch {batch_id} (created by a run that stopped before recording it): resuming it")
        else:
            logger.info(f"resuming batch {batch_id} submitted by an earlier run ({len(entry['custom_ids'])} requests)")
        submitted = _Submitted(entry["submission"], batch_id, frozenset(entry["custom_ids"]))
        for key in entry["custom_ids"]:
            if key in wanted:
                meter = self._meter(budget, wanted[key])
                if not meter.before_attempt():
                    # Already submitted: owed whatever the cap says now, so it is held without asking.
                    budget.hold(meter.worst_case)
                submitted.meters[key] = meter
        return submitted

    async def _submit(self, api: BatchAPI, requests: list[JudgeRequest], meters: dict[str, CallMeter]) -> _Submitted:
        submission = uuid.uuid4().hex
        self.ledger.add(submission, [r.key for r in requests])  # first, so a batch is never created unrecorded
        data = "".join(json.dumps(self._line(r), ensure_ascii=False) + "\n" for r in requests).encode()
        try:
            file_id = await api.upload(data)
            created = await api.create(file_id, {"arena_run": self.run_name[-500:], "arena_submission": submission})
        except BatchFailed:
            # Refused outright (no batch exists): forget it so a rerun sends these requests again.
            self.ledger.remove(submission)
            for meter in meters.values():
                meter.unbilled()
            raise
        except CreationUnconfirmed as exc:
            found = await api.find(submission)
            if found is None:  # kept in the ledger: the rerun looks for it again before sending anything
                for meter in meters.values():
                    meter.unbilled()
                raise BatchFailed(
                    f"the Batch API did not confirm creating a batch ({exc}) and lists none for this "
                    "submission yet; rerun to check again (nothing is submitted twice)"
                ) from None
            created = found
        self.ledger.set_batch_id(submission, str(created["id"]))
        logger.info(
            f"batch {created['id']} submitted: {len(requests)} judge calls at {self.options.discount:g}x the price "
            f"(results within {COMPLETION_WINDOW}; a rerun resumes it if this command stops)"
        )
        return _Submitted(submission, str(created["id"]), frozenset(meters), meters)

    async def _wait(self, api: BatchAPI, batch_id: str) -> dict:
        shown = None
        try:
            while True:
                batch = await api.get(batch_id)  # `request` re-raises a cancellation a library swallowed
                counts = batch.get("request_counts") or {}
                line = (
                    f"batch {batch_id}: {batch.get('status')}, {counts.get('completed', 0)}/{counts.get('total', '?')} "
                    f"completed, {counts.get('failed', 0)} failed"
                )
                if line != shown:
                    logger.info(line)
                    shown = line
                if batch.get("status") in TERMINAL:
                    return batch
                await asyncio.sleep(self.options.poll_seconds)
        except (KeyboardInterrupt, asyncio.CancelledError):  # Ctrl-C: asyncio.run cancels the run
            logger.info(
                f"batch {batch_id} keeps running on the server; rerun the same command to collect it (nothing is "
                "submitted twice)"
            )
            raise

    async def _collect(
        self,
        api: BatchAPI,
        submitted: _Submitted,
        wanted: dict[str, JudgeRequest],
        on_reply: OnReply,
        outcome: RunOutcome,
    ) -> set[str]:
        """Wait for the batch, store its replies, and return the keys to send again."""
        batch = await self._wait(api, submitted.batch_id)
        status = batch.get("status")
        if status == "failed":
            self.ledger.remove(submitted.submission)
            for meter in submitted.meters.values():
                meter.unbilled()
            errors = [
                f"{e.get('line', '?')}: {e.get('message', e)}" if isinstance(e, dict) else str(e)
                for e in ((batch.get("errors") or {}).get("data") or [])
            ]
            raise BatchFailed(
                f"batch {submitted.batch_id} failed on the server"
                + (": " + "; ".join(errors[:10]) if errors else "")
                + "; nothing of it was stored or billed"
            )
        try:
            lines = [
                line
                for file_key in ("output_file_id", "error_file_id")
                if batch.get(file_key)
                for line in parse_batch_file(
                    await api.content(batch[file_key]), f"{file_key.split('_')[0]} file of batch {submitted.batch_id}"
                )
            ]
        except BatchFailed:
            for meter in submitted.meters.values():  # released, not spent: the rerun reserves again
                meter.unbilled()
            raise
        unknown = [line.custom_id for line in lines if line.custom_id not in submitted.custom_ids]
        if unknown:
            logger.warning(
                f"batch {submitted.batch_id}: {len(unknown)} output lines carry a custom_id arena did not send "
                f"(first: {unknown[0]!r}); ignored"
            )
        answered = set()
        for line in lines:
            line_meter = submitted.meters.get(line.custom_id)
            if line_meter is None or line.custom_id in answered:  # not sent, or judged already by an earlier run
                continue
            answered.add(line.custom_id)
            text = line.text
            if text is None:
                line_meter.unbilled()
                outcome.last_failure = line.error or f"status {line.status_code}"
                continue
            line_meter.billed((line.body or {}).get("usage"), len(text))
            on_reply(
                wanted[line.custom_id],
                reply_from_text(
                    text,
                    wanted[line.custom_id].protocol,
                    cost=line_meter.cost,
                    tokens=line_meter.tokens,
                    request_id=line.request_id,
                ),
            )
        again = {key for key in submitted.meters if key not in answered or key in _failed(lines)}
        for key in submitted.meters.keys() - answered:
            submitted.meters[key].unbilled()
        if status in ("expired", "cancelled") and again:
            outcome.last_failure = f"batch {submitted.batch_id} {status} with {len(again)} requests unanswered"
        self.ledger.remove(submitted.submission)
        if again:
            logger.info(
                f"batch {submitted.batch_id} ({status}): {len(again)} requests errored or went unanswered; they go "
                "into a follow-up batch"
            )
        return again


def _failed(lines: list[BatchLine]) -> set[str]:
    return {line.custom_id for line in lines if line.text is None}


def batch_judge(judge: Judge, spec: ModelSpec, results_root: Path, benchmark: str) -> BatchJudge:
    """`judge` behind the Batch API, its ledger in `<results>/<set>/batches/<judge>.json`."""
    from arena.store.results import file_safe

    assert isinstance(judge, OpenAIJudge), "the caller checks that the judge is an API judge"
    ledger = BatchLedger(results_root / file_safe(benchmark) / "batches" / f"{file_safe(judge.name)}.json")
    return BatchJudge(judge, spec, ledger, f"{results_root.resolve()}/{benchmark}/{judge.name}")
