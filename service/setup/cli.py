"""`tip-broker setup plan|apply|destroy --file F`: the command line over the planner and the executor.

Exit codes: 0 nothing to change (plan) or done (apply, destroy); 2 the plan has changes; 1 an error (a bad
file, an AWS refusal, or a destroy that had to keep something).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from service.setup.aws import AwsCallError, Clients
from service.setup.document import SetupFileError
from service.setup.env_out import EnvOutError, broker_environment, render, require_broker_sections, write_env
from service.setup.plan import Plan
from service.setup.planner import build_destroy_plan, build_plan
from service.setup.validation import load_spec

CHANGES_PENDING = 2


def _fail(message: str) -> int:
    print(f"tip-broker setup: {message}", file=sys.stderr)
    return 1


def execute(plan: Plan, verb: str) -> int:
    """Run the plan's changes in order, printing each; stop at the first failure, naming it."""
    changes = plan.ordered()
    if not changes:
        print(f"Nothing to {verb}: AWS already matches.")
        return 0
    print(f"Applying {len(changes)} changes:")
    for done, change in enumerate(changes):
        try:
            change.run(plan.context)
        except AwsCallError as exc:
            _fail(str(exc))
            return _fail(
                f"stopped after {done} of {len(changes)} changes; fix the cause and run "
                f"`tip-broker setup {verb}` again: it continues from what AWS now holds"
            )
        print(change.render())
    print(f"Done: {len(changes)} changes.")
    return 0


def cmd_setup(args: argparse.Namespace) -> int:
    """Run `setup plan`, `setup apply` or `setup destroy`; print problems and failures, never a traceback."""
    source = str(args.file)
    try:
        return _run(args, source)
    except SetupFileError as exc:
        for problem in exc.problems:
            print(problem.render(exc.source), file=sys.stderr)
        return _fail(f"{len(exc.problems)} problems in {source}; nothing was changed")
    except (AwsCallError, EnvOutError) as exc:
        return _fail(str(exc))
    except OSError as exc:  # the file, or --env-out's directory, cannot be read or written
        return _fail(f"{exc.strerror or type(exc).__name__}: {exc.filename or source}")


def _run(args: argparse.Namespace, source: str) -> int:
    spec = load_spec(Path(args.file))
    env_out = Path(args.env_out) if getattr(args, "env_out", None) else None
    if env_out is not None:
        require_broker_sections(spec)
    clients = Clients.build(spec.region, args.profile)
    destroy = args.setup_command == "destroy"
    plan = build_destroy_plan(clients, spec, source) if destroy else build_plan(clients, spec, source)
    print(plan.render())
    if args.setup_command == "plan":
        return CHANGES_PENDING if plan.changes else 0
    status = execute(plan, args.setup_command)
    if status == 0 and env_out is not None:
        write_env(env_out, render(broker_environment(spec, plan.context), source, spec.name))
        print(f"Wrote the broker's settings to {env_out} (mode 0600).")
    if status == 0 and plan.kept:
        return _fail(f"{len(plan.kept)} resources kept (see '! keep' above): they are still in use")
    return status


def add_setup_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `setup plan|apply|destroy` to the CLI."""
    setup = sub.add_parser(
        "setup", help="make Identity Center, IAM and S3 Access Grants match a setup file (plan|apply|destroy)"
    )
    commands = setup.add_subparsers(dest="setup_command", required=True)
    for name, text in (
        ("plan", "print what apply would create, change or delete; exit 0 if nothing, 2 if something"),
        ("apply", "make AWS match the file (a second apply changes nothing)"),
        ("destroy", "delete what this setup created, and nothing else"),
    ):
        command = commands.add_parser(name, help=text, description=text)
        command.add_argument("--file", required=True, help="the setup YAML file")
        command.add_argument("--profile", default=None, help="AWS profile (default: the standard chain)")
        if name == "apply":
            command.add_argument("--env-out", default=None, help="write the broker's BROKER_* settings here")
        command.set_defaults(func=cmd_setup)
