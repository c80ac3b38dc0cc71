"""A plan: the changes that make AWS match a setup file, in the order they must run, and how it reads."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from service.setup.aws import call
from service.setup.document import Problem
from service.setup.model import SetupSpec

Verb = Literal["create", "update", "replace", "delete"]
_SYMBOLS: dict[Verb, str] = {"create": "+", "update": "~", "replace": "-/+", "delete": "-"}

# Creations run parents first, deletions children first; the numbers only order the phases.
PHASES = {
    "group": 10,
    "user": 11,
    "membership": 12,
    "issuer": 20,
    "application": 21,
    "application-setting": 22,
    "assignment": 23,
    "role": 30,
    "role-policy": 31,
    "instance": 40,
    "location": 41,
    "grant": 42,
    "grant-delete": 50,
    "location-delete": 51,
    "instance-delete": 52,
    "role-delete": 60,
    "assignment-delete": 70,
    "application-setting-delete": 71,
    "application-delete": 72,
    "issuer-delete": 73,
    "membership-delete": 80,
    "user-delete": 81,
    "group-delete": 82,
}


class Context:
    """Ids of the resources a plan touches: those read before applying, and those created while applying."""

    def __init__(self, account: str, region: str, instance_arn: str, store_id: str) -> None:
        self.account = account
        self.region = region
        self.instance_arn = instance_arn
        self.store_id = store_id
        self.ids: dict[str, str] = {"account": account}

    def __getitem__(self, key: str) -> str:
        return self.ids[key]

    def __setitem__(self, key: str, value: str) -> None:
        self.ids[key] = value

    def __contains__(self, key: object) -> bool:
        return key in self.ids

    def show(self, key: str) -> str:
        """Return the id for display, or a placeholder while it is not created yet."""
        return self.ids.get(key, "(known after apply)")

    @property
    def grants_instance_arn(self) -> str:
        """Return the ARN of this account's Access Grants instance in the region."""
        return f"arn:aws:s3:{self.region}:{self.account}:access-grants/default"


Action = Callable[[Context], None]


@dataclass(frozen=True)
class Ref:
    """A context id a request reads when it runs (it may be created by an earlier change)."""

    key: str


def _resolved(value: Any, ctx: Context) -> Any:
    if isinstance(value, Ref):
        return ctx[value.key]
    if isinstance(value, dict):
        return {k: _resolved(v, ctx) for k, v in value.items()}
    if isinstance(value, list):
        return [_resolved(v, ctx) for v in value]
    return value


@dataclass(frozen=True)
class Request:
    """One AWS call as an action; with ``save``, the answer's id at ``save[1]`` (dotted) is kept."""

    resource: str
    client: Any
    operation: str
    params: dict[str, Any] = field(default_factory=dict)
    save: tuple[str, str] | None = None

    def __call__(self, ctx: Context) -> None:
        """Make the call."""
        answer: Any = call(self.resource, self.client, self.operation, **_resolved(self.params, ctx))
        if self.save is not None:
            key, path = self.save
            for part in path.split("."):
                answer = answer[part]
            ctx[key] = str(answer)


def request(resource: str, client: Any, operation: str, **params: Any) -> Request:
    """Return the action making one call (``Ref`` values are read from the context when it runs)."""
    return Request(resource, client, operation, params)


def creating(key: str, path: str, resource: str, client: Any, operation: str, **params: Any) -> Request:
    """Return the action making one create call and keeping the new id under ``key``."""
    return Request(resource, client, operation, params, (key, path))


@dataclass(frozen=True)
class Steps:
    """Several actions run in order as one change."""

    actions: tuple[Action, ...]

    def __call__(self, ctx: Context) -> None:
        """Run each action."""
        for action in self.actions:
            action(ctx)


@dataclass
class Change:
    """One AWS change: what it does to which resource, when it runs, and the calls that make it."""

    verb: Verb
    resource: str
    phase: str
    run: Action
    detail: str = ""

    def render(self) -> str:
        """Return the change as one plan line."""
        detail = f" ({self.detail})" if self.detail else ""
        return f"  {_SYMBOLS[self.verb]:>3} {self.verb:<7} {self.resource}{detail}"


@dataclass
class Plan:
    """Every change a setup file needs, what is already right, and what the tool leaves alone."""

    spec: SetupSpec
    context: Context
    changes: list[Change] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)

    def add(self, verb: Verb, resource: str, phase: str, run: Action, detail: str = "") -> None:
        """Add one change."""
        self.changes.append(Change(verb, resource, phase, run, detail))

    def same(self, resource: str) -> None:
        """Record a resource that already matches the file."""
        self.unchanged.append(resource)

    def keep(self, resource: str, reason: str) -> None:
        """Record a resource this setup would remove but must leave (something it does not own needs it)."""
        self.kept.append(f"{resource}: {reason}")

    def problem(self, line: int, message: str) -> None:
        """Record a problem found while reading AWS (an unknown name, a resource someone else owns)."""
        self.problems.append(Problem(line, message))

    def ordered(self) -> list[Change]:
        """Return the changes in the order they must run."""
        return sorted(self.changes, key=lambda change: PHASES[change.phase])

    def render(self) -> str:
        """Return the plan as the text `setup plan` prints."""
        ctx = self.context
        lines = [
            f"setup {self.spec.name!r}: account {ctx.account}, region {ctx.region}, "
            f"Identity Center {ctx.instance_arn}"
        ]
        lines += [change.render() for change in self.ordered()]
        lines += [f"  {'!':>3} {'keep':<7} {entry}" for entry in self.kept]
        counts = Counter(change.verb for change in self.changes)
        if self.changes:
            lines.append(
                f"Plan: {counts['create']} to create, {counts['update']} to change, "
                f"{counts['replace']} to replace, {counts['delete']} to delete; "
                f"{len(self.unchanged)} unchanged."
            )
        else:
            lines.append(f"No changes: AWS matches the file ({len(self.unchanged)} resources checked).")
        return "\n".join(lines)
