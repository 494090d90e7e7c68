"""The ``plan`` group registers its commands lazily: the same commands, help and behaviour as registering every
module eagerly, while ``plan solve`` imports only the ``solve`` command's module."""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

import planner.cli as cli

ROOT = Path(__file__).resolve().parents[1]
runner = CliRunner()


def _eager_app() -> typer.Typer:
    """The ``plan`` app as it was assembled before: every command module registered at import."""
    app = typer.Typer(name="plan", help=cli.app.info.help, no_args_is_help=True, add_completion=False,
                      pretty_exceptions_enable=False, rich_markup_mode="rich")
    app.callback()(cli._root)  # noqa: SLF001 - the same root callback (--version)
    for name in cli._COMMAND_MODULES:  # noqa: SLF001
        importlib.import_module(f"planner.cli.{name}").register(app)
    return app


def _names(group) -> list[str]:
    return list(group.list_commands(None))


def test_lazy_group_lists_the_eager_commands_in_the_same_order():
    lazy, eager = typer.main.get_command(cli.app), typer.main.get_command(_eager_app())
    assert _names(lazy) == _names(eager)
    assert set(_names(lazy)) == set(cli._COMMAND_MODULES)  # noqa: SLF001 - every module is a command
    for name in _names(eager):
        a, b = lazy.get_command(None, name), eager.get_command(None, name)
        assert type(a) is type(b) and a.help == b.help and a.short_help == b.short_help
        assert [p.name for p in a.params] == [p.name for p in b.params], name
        assert [p.opts for p in a.params] == [p.opts for p in b.params], name
        if hasattr(b, "commands"):
            assert _names(a) == _names(b), name
    assert lazy.get_command(None, "no-such-command") is None


_HELP_ARGS = [["--help"], [], ["solve", "--help"], ["catalog", "--help"], ["catalog", "gpus", "--help"],
              ["capacity", "--help"], ["estimate", "--help"], ["slove"], ["--version"]]


@pytest.mark.parametrize("args", _HELP_ARGS, ids=lambda a: " ".join(a) or "(none)")
def test_help_and_errors_read_the_same_as_eager(args):
    lazy = runner.invoke(cli.app, args, env={"COLUMNS": "100", "TERMINAL_WIDTH": "100"})
    eager = runner.invoke(_eager_app(), args, env={"COLUMNS": "100", "TERMINAL_WIDTH": "100"})
    assert (lazy.exit_code, lazy.output) == (eager.exit_code, eager.output)
    if args == ["--help"]:
        assert all(name in lazy.output for name in cli._COMMAND_MODULES)  # noqa: SLF001


def _modules_after(args: list[str]) -> dict:
    code = ("import sys; from planner.cli import main; sys.argv[0] = 'plan'\n"
            "try:\n    main()\nexcept SystemExit as exc:\n    code = exc.code\n"
            "import json; print(json.dumps({'code': code, 'cli': sorted(m for m in sys.modules"
            " if m.startswith('planner.cli.')), 'heavy': sorted(m for m in ('scipy', 'pandas', 'matplotlib',"
            " 'planner.risk.simulate', 'rich._emoji_codes') if m in sys.modules)}), file=sys.stderr)")
    res = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, cwd=ROOT,
                         timeout=300, env={**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "100",
                                           "FLEETPLAN_PRICE_MAX_AGE_DAYS": "100000"})
    return json.loads(res.stderr.strip().splitlines()[-1])


def test_solve_imports_only_its_own_command_module():
    facts = _modules_after(["solve", str(ROOT / "scenarios" / "chatbot.yaml"), "--no-baselines", "--format", "json"])
    assert facts["code"] in (0, None)
    commands = {m.rsplit(".", 1)[1] for m in facts["cli"]} & set(cli._COMMAND_MODULES)  # noqa: SLF001
    assert commands == {"solve"}


def test_solve_of_an_on_demand_scenario_imports_neither_scipy_nor_pandas(tmp_path):
    """scipy (~0.15 s to import) is for spot tails and the other backends, pandas for CSV/Markdown output: the
    table of a plan without spot offers needs neither (the constraint matrix is ``planner.csr``). Nor does it
    need the spot simulation (``planner.risk.simulate``) or rich's emoji table (names print as given)."""
    import yaml  # noqa: PLC0415

    from bench.frozen import melange_instance  # noqa: PLC0415 - one workload, four on-demand GPU offers

    path = tmp_path / "melange-0.yaml"
    path.write_text(yaml.safe_dump(melange_instance(0), sort_keys=False), encoding="utf-8")
    facts = _modules_after(["solve", str(path), "--no-baselines"])
    assert facts["code"] in (0, None)
    assert facts["heavy"] == []


def test_help_imports_every_command_module():
    facts = _modules_after(["--help"])
    assert facts["code"] in (0, None)
    assert {f"planner.cli.{n}" for n in cli._COMMAND_MODULES} <= set(facts["cli"])  # noqa: SLF001


def _blas_var_after(extra_env: dict) -> str | None:
    code = ("import os, sys; from planner.cli import main; sys.argv[:] = ['plan', '--version']\n"
            "try:\n    main()\nexcept SystemExit:\n    pass\n"
            "import json; print(json.dumps(os.environ.get('OPENBLAS_NUM_THREADS')), file=sys.stderr)")
    env = {k: v for k, v in os.environ.items() if k not in cli._BLAS_THREAD_VARS}  # noqa: SLF001
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120,
                         env={**env, "PYTHONPATH": str(ROOT), **extra_env})
    return json.loads(res.stderr.strip().splitlines()[-1])


def test_console_script_asks_for_one_blas_thread_unless_the_user_chose():
    assert _blas_var_after({}) == "1"
    assert _blas_var_after({"OPENBLAS_NUM_THREADS": "4"}) == "4"
    assert _blas_var_after({"OMP_NUM_THREADS": "2"}) is None  # the user's choice stands
