import sys
import time

from conftest import REPO, run_arena_process

GROUPS = ["prompts", "models", "generate", "evaluate", "tournament", "ratings", "import", "report", "rate", "finetune"]


def test_help_lists_every_command_group(cli):
    result = cli("--help")
    assert result.code == 0
    for group in GROUPS:
        assert f"    {group}" in result.out


def test_every_command_has_help_with_a_description(cli):
    for group in GROUPS + ["export"]:
        result = cli(group, "--help")
        assert result.code == 0, group
        assert "usage: arena" in result.out


def test_version(cli):
    from arena import __version__

    result = cli("--version")
    assert result.code == 0 and __version__ in result.out


def test_help_starts_fast_without_heavy_imports():
    code = ("import sys, time; t = time.perf_counter(); from arena.cli import main\n"
            "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
            "heavy = [m for m in ('torch', 'transformers', 'numba', 'scipy') if m in sys.modules]\n"
            "print('HEAVY', heavy)")
    import subprocess

    started = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    elapsed = time.perf_counter() - started
    assert "HEAVY []" in out.stdout
    assert elapsed < 1.5


def test_prompts_list_imports_no_torch():
    out = run_arena_process("prompts", "list", env={"PYTHONPROFILEIMPORTTIME": ""})
    assert out.returncode == 0
    code = "import sys; from arena.cli import main; main(['prompts', 'list']); print('torch' in sys.modules)"
    import subprocess

    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.stdout.strip().endswith("False")


def test_unknown_command_is_a_usage_error(cli):
    result = cli("frobnicate")
    assert result.code == 2
    assert "invalid choice" in result.err
