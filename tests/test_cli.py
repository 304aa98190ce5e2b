import json
import sys

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
    # What makes start-up fast is what it imports: `arena --help` loads only the standard library, arena and
    # rich (the console), in a fresh interpreter. A wall-clock limit here would fail on a busy machine.
    code = (
        "import json, sys; before = set(sys.modules); from arena.cli import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "print(json.dumps(sorted({m.split('.')[0] for m in set(sys.modules) - before})))"
    )
    import subprocess

    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    imported = json.loads(out.stdout.strip().splitlines()[-1])
    outside = [m for m in imported if m not in sys.stdlib_module_names and m not in ("arena", "rich")]
    assert "arena" in imported and outside == [], outside


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
