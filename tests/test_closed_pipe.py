"""A reader that closes the pipe early (`arena ... | head`) ends the command quietly with 141, like a Unix
tool ended by SIGPIPE: no 'Broken pipe' error, no traceback, whether stdout or stderr was the closed one."""

import os
import subprocess
import sys

from conftest import shared_path

from arena.cli import EXIT_PIPE_CLOSED


def _arena_with_a_closed(stream: str, *args) -> subprocess.CompletedProcess:
    """Run arena with `stream`'s reader gone before it writes (what `| head -c 100` leaves once head is done);
    the other stream is captured."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    closed = {stream: write_end}
    try:
        return subprocess.run(
            [sys.executable, "-m", "arena", *map(str, args)],
            stdout=closed.get("stdout", subprocess.PIPE),
            stderr=closed.get("stderr", subprocess.PIPE),
            timeout=120,
        )
    finally:
        os.close(write_end)


def test_a_closed_stdout_ends_quietly(cli):
    assert (
        cli("prompts", "pull", "vicuna80", "--from", shared_path("benchmarks", "vicuna80", "questions.jsonl")).code == 0
    )
    result = _arena_with_a_closed("stdout", "prompts", "show", "vicuna80", "--format", "jsonl")
    assert result.returncode == EXIT_PIPE_CLOSED and result.stderr == b""


def test_a_closed_stderr_ends_quietly(tmp_path):
    result = _arena_with_a_closed("stderr", "import", "qlora", tmp_path / "missing", "--results", tmp_path / "r")
    assert result.returncode == EXIT_PIPE_CLOSED and result.stdout == b""
