"""Judges behind one interface. A judge gets rendered requests and reports each reply as it lands, so the
runner can store it at once (a crash loses only the calls in flight)."""

from __future__ import annotations

import asyncio
import logging
import os
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field

from arena.errors import ArenaError
from arena.judging.budget import CHARS_PER_TOKEN, CallMeter, CostBudget, Price, RateLimiter
from arena.judging.parsing import explanation_of, parse_bracketed_choice, parse_grade, parse_pairwise, parse_scores
from arena.models.endpoints import EndpointPool
from arena.models.http import (
    CircuitOpen,
    ContextTooLong,
    NotSent,
    RequestFailed,
    RetryPolicy,
    chat_completion,
    open_session,
    run_sync,
)
from arena.models.options import DEFAULT_JUDGE_CONCURRENCY
from arena.models.spec import ModelSpec

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class JudgeRequest:
    key: str
    protocol: str
    system: str
    user: str
    # The same template rendered with "N/A" for question and answers: what a probability judge would say
    # with no content, used to cancel its prior for a position (contextual calibration).
    content_free: tuple[str, str] | None = None


@dataclass
class JudgeReply:
    raw: str
    verdict: str  # A | B | tie | error; graded (single protocol: score_a is the grade)
    score_a: float | None = None
    score_b: float | None = None
    explanation: str = ""
    probabilities: dict | None = None
    cost: float = 0.0
    tokens: dict = field(default_factory=dict)
    request_id: str = ""  # the provider's id of the reply, for matching a stored verdict with its bill


def reply_from_text(text: str, protocol: str, **extra) -> JudgeReply:
    """Parse a free-text verdict; an unreadable one is an 'error' reply that keeps the raw text."""
    if protocol == "single":
        grade = parse_grade(text)
        return JudgeReply(
            text,
            "error" if grade is None else "graded",
            score_a=grade,
            explanation=explanation_of(text, protocol),
            **extra,
        )
    if protocol == "pairwise":
        verdict = parse_pairwise(text) or parse_bracketed_choice(text)
        return JudgeReply(text, verdict or "error", explanation=explanation_of(text, protocol), **extra)
    scores = parse_scores(text)
    if scores is None or not all(1 <= s <= 10 for s in scores):
        return JudgeReply(text, "error", explanation=text.strip(), **extra)
    a, b = scores
    return JudgeReply(text, "A" if a > b else "B" if b > a else "tie", a, b, explanation_of(text, protocol), **extra)


OnReply = Callable[[JudgeRequest, JudgeReply], None]


@dataclass
class RunOutcome:
    """What a judge could not do: calls not started under the spending cap, calls that failed in transport
    (no reply to store: they are judged again on the next run), prompts too long for the judge's context
    window (a rerun cannot help them), and why the run stopped early, if a circuit breaker stopped it."""

    not_started: int = 0
    failed: int = 0
    last_failure: str = ""
    oversized: dict[str, int] = field(default_factory=dict)  # request key -> estimated prompt tokens
    breaker: str = ""
    endpoints: str = ""  # how many calls each endpoint served, when there are several


class Judge(ABC):
    name: str
    label: str = ""  # shown next to results, e.g. "demo judge"
    demo: bool = False  # a judge too small to trust: every result it makes is labelled DEMO

    @abstractmethod
    def run(self, requests: list[JudgeRequest], on_reply: OnReply, budget: CostBudget) -> RunOutcome:
        """Judge requests, calling on_reply for each reply as it lands."""

    def estimate_cost(self, requests: list[JudgeRequest]) -> float:
        return 0.0


class OpenAIJudge(Judge):
    """GPT-4 or any OpenAI-compatible endpoint (or several serving the same model), concurrent,
    rate-limited, budgeted. The first call goes alone: a wrong key, a missing permission or an unknown model
    stops the run before anything else is sent."""

    def __init__(self, spec: ModelSpec):
        self.name = spec.name
        self.model_id = spec.path or spec.name
        self.endpoints = EndpointPool.from_options(spec.options)
        self.endpoint = self.endpoints.states[0].endpoint
        self.policy = RetryPolicy(
            attempts=int(spec.option("retries", 5)) + 1,
            timeout=float(spec.option("timeout", 120)),
            base_delay=float(spec.option("retry_base_delay", 1.0)),
        )
        self.concurrency = int(spec.option("max_concurrency", DEFAULT_JUDGE_CONCURRENCY))
        self.requests_per_minute = spec.option("requests_per_minute")
        self.temperature = float(spec.option("judge_temperature", 0.2))
        self.max_tokens = int(spec.option("judge_max_tokens", 1024))
        self.context_window = spec.option("context_window")
        self.price = Price.for_model(self.model_id, spec.options)
        self.expected_completion_tokens = min(self.max_tokens, 300)

    def _estimate(self, request: JudgeRequest) -> float:
        return self.price.estimate(len(request.system) + len(request.user), self.expected_completion_tokens)

    def estimate_cost(self, requests: list[JudgeRequest]) -> float:
        return sum(self._estimate(r) for r in requests)

    @staticmethod
    def prompt_tokens(request: JudgeRequest) -> int:
        """Estimated tokens of the prompt (about four characters a token)."""
        return (len(request.system) + len(request.user)) // CHARS_PER_TOKEN + 1

    def run(self, requests, on_reply, budget) -> RunOutcome:
        return run_sync(self._run(requests, on_reply, budget))

    async def _run(self, requests, on_reply, budget) -> RunOutcome:
        outcome = RunOutcome()
        sendable = []
        for request in requests:  # what cannot fit the configured context window is named, not sent
            tokens = self.prompt_tokens(request)
            if self.context_window and tokens + self.max_tokens > self.context_window:
                outcome.oversized[request.key] = tokens
            else:
                sendable.append(request)
        limiter = RateLimiter(self.requests_per_minute, burst=self.concurrency)
        async with open_session(self.concurrency) as session:
            queue = iter(sendable[1:])

            async def worker() -> None:
                for request in queue:  # workers share one iterator: each request is taken once
                    if outcome.breaker:
                        outcome.failed += 1
                        continue
                    await self._call(session, limiter, request, on_reply, budget, outcome)

            if sendable:
                await self._call(session, limiter, sendable[0], on_reply, budget, outcome)
            await asyncio.gather(*(worker() for _ in range(min(self.concurrency, max(0, len(sendable) - 1)))))
        outcome.endpoints = self.endpoints.summary()
        return outcome

    def _warn_no_usage(self) -> None:
        logger.warning(
            f"judge '{self.name}' ({self.endpoints.base_url}) reports no token usage; arena charges each reply an "
            "estimate from the prompt and reply lengths"
        )

    async def _call(self, session, limiter, request, on_reply, budget, outcome: RunOutcome) -> None:
        meter = CallMeter(
            budget,
            self.price,
            [request.system, request.user],
            self.max_tokens,
            on_first_missing_usage=self._warn_no_usage,
        )
        await limiter.acquire()
        payload = {
            "model": self.model_id,
            "temperature": self.temperature,
            "max_tokens": self.max_tokens,
            "messages": [{"role": "system", "content": request.system}, {"role": "user", "content": request.user}],
        }
        try:
            data = await chat_completion(session, self.endpoints, payload, self.policy, meter)
        except NotSent:
            outcome.not_started += 1
            return
        except ContextTooLong:
            outcome.oversized[request.key] = self.prompt_tokens(request)
            return
        except RequestFailed as exc:
            if exc.fatal:
                raise ArenaError(
                    f"judge '{self.name}' ({self.model_id} at {self.endpoints.base_url}): {exc}; the "
                    "run stopped and stored nothing for that call: fix the cause and rerun"
                ) from None
            outcome.failed += 1
            outcome.last_failure = str(exc)
            if isinstance(exc, CircuitOpen):
                outcome.breaker = str(exc)
            return
        text = data["choices"][0]["message"].get("content") or ""
        on_reply(request, reply_from_text(text, request.protocol, cost=meter.cost, tokens=meter.tokens))


class LocalProbabilityJudge(Judge):
    """A local chat model read through its next-token probabilities over the allowed answers ("1"/"2"/"3",
    or the score tokens), so even a tiny model always yields a valid, soft verdict."""

    def __init__(self, spec: ModelSpec):
        from arena.models.hf import HFChatModel

        self.name = spec.name
        self.label = spec.option("judge_label", "local judge: verdicts read from next-token probabilities")
        self.model = HFChatModel(spec)
        tokenizer = self.model.tokenizer
        self.choice_ids = {c: self._single_token(tokenizer, c) for c in ("1", "2", "3")}
        self.threads = int(spec.option("judge_threads", os.cpu_count() or 1))
        self._content_free_cache: dict[tuple[str, str], dict] = {}
        self.score_ids = {s: self._single_token(tokenizer, str(s)) for s in range(1, 10)}

    @staticmethod
    def _single_token(tokenizer, text: str) -> int:
        ids = tokenizer.encode(text, add_special_tokens=False)
        if len(ids) != 1:
            raise ArenaError(f"judge tokenizer splits '{text}' into {len(ids)} tokens; cannot read probabilities")
        return ids[0]

    def _prefix(self, system: str, user: str, protocol: str) -> str:
        instruction = {
            "pairwise": "\n\nAnswer with a single digit: 1, 2 or 3.",
            "single": "\n\nAnswer with the grade only, one digit from 1 to 9.",
        }.get(protocol, "\n\nAnswer with the two scores only, for example: 7 9")
        chat = [{"role": "system", "content": system}, {"role": "user", "content": user + instruction}]
        tokenizer = self.model.tokenizer
        if tokenizer.chat_template:
            return tokenizer.apply_chat_template(chat, tokenize=False, add_generation_prompt=True)
        return f"{system}\n\n### Human: {user}{instruction} ### Assistant:"

    def _next_token_probabilities(self, texts: list[str], candidates: dict) -> list[dict]:
        import torch

        tokenizer = self.model.tokenizer
        encoded = tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False).to(
            self.model.model.device
        )
        with torch.inference_mode():
            logits = self.model.model(**encoded, logits_to_keep=1).logits[:, -1, :].cpu()
        ids = torch.tensor(list(candidates.values()))
        probabilities = torch.softmax(logits[:, ids].float(), dim=-1)
        return [dict(zip(candidates, row.tolist())) for row in probabilities]

    def _calibrated(self, probs: dict, content_free: dict | None) -> dict:
        if not content_free:
            return probs
        scaled = {k: probs[k] / max(content_free[k], 1e-9) for k in probs}
        total = sum(scaled.values())
        return {k: v / total for k, v in scaled.items()}

    def run(self, requests, on_reply, budget) -> RunOutcome:
        import torch

        decoding_threads = torch.get_num_threads()
        # Scoring is prefill only (large matmuls), where every core helps, unlike token-by-token decoding.
        torch.set_num_threads(self.threads)
        try:
            for start in range(0, len(requests), self.model.batch_size):
                self._run_batch(requests[start : start + self.model.batch_size], on_reply)
        finally:
            torch.set_num_threads(decoding_threads)
        return RunOutcome()

    def _content_free_probabilities(self, request: JudgeRequest) -> dict | None:
        if request.content_free is None:
            return None
        if request.content_free not in self._content_free_cache:
            text = self._prefix(*request.content_free, request.protocol)
            self._content_free_cache[request.content_free] = self._next_token_probabilities([text], self.choice_ids)[0]
        return self._content_free_cache[request.content_free]

    def _run_batch(self, chunk: list[JudgeRequest], on_reply) -> None:
        prefixes = [self._prefix(r.system, r.user, r.protocol) for r in chunk]
        if chunk[0].protocol == "pairwise":
            for request, raw in zip(chunk, self._next_token_probabilities(prefixes, self.choice_ids)):
                probs = self._calibrated(raw, self._content_free_probabilities(request))
                choice = max(probs, key=probs.__getitem__)
                on_reply(
                    request,
                    JudgeReply(
                        choice,
                        {"1": "A", "2": "B", "3": "tie"}[choice],
                        probabilities={"calibrated": probs, "raw": raw},
                        explanation="read from next-token probabilities (calibrated)",
                    ),
                )
            return
        first = self._next_token_probabilities(prefixes, self.score_ids)
        if chunk[0].protocol == "single":  # one grade: its expected value over the digit tokens
            for request, probs in zip(chunk, first):
                grade = sum(k * v for k, v in probs.items())
                on_reply(
                    request,
                    JudgeReply(
                        f"Rating: [[{grade:.2f}]]",
                        "graded",
                        grade,
                        explanation="expected grade from next-token probabilities",
                        probabilities={"grade": {str(k): v for k, v in probs.items()}},
                    ),
                )
            return
        second = self._next_token_probabilities(
            [p + f"{max(f, key=f.__getitem__)} " for p, f in zip(prefixes, first)], self.score_ids
        )
        for request, f, s in zip(chunk, first, second):
            score_a = sum(k * v for k, v in f.items())
            score_b = sum(k * v for k, v in s.items())
            verdict = "A" if score_a > score_b else "B" if score_b > score_a else "tie"
            on_reply(
                request,
                JudgeReply(
                    f"{score_a:.2f} {score_b:.2f}",
                    verdict,
                    score_a,
                    score_b,
                    "expected scores from next-token probabilities",
                    probabilities={
                        "score_a": {str(k): v for k, v in f.items()},
                        "score_b": {str(k): v for k, v in s.items()},
                    },
                ),
            )


def load_judge(spec: ModelSpec) -> Judge:
    if spec.backend not in ("openai", "hf"):
        raise ArenaError(
            f"judge '{spec.name}' uses the {spec.backend} backend; judges run on 'openai' "
            "(any OpenAI-compatible endpoint) or 'hf' (local model)"
        )
    judge = OpenAIJudge(spec) if spec.backend == "openai" else LocalProbabilityJudge(spec)
    judge.demo = bool(spec.option("demo_judge", False))
    return judge
