"""Build the plan for a setup file: read AWS (reads only), compare, and list the changes in order.

Every problem found while reading (a name that resolves to nothing, a resource someone else owns) is
gathered and raised before anything is written.
"""

from __future__ import annotations

from service.setup.access_grants import plan_access_grants
from service.setup.application import owned_applications, pick, plan_application
from service.setup.aws import AwsCallError, Clients, call, pages
from service.setup.directory import plan_directory
from service.setup.document import SetupFileError
from service.setup.issuer import plan_issuer
from service.setup.model import SetupSpec
from service.setup.plan import Context, Plan
from service.setup.roles import plan_roles


def identity_center(clients: Clients, spec: SetupSpec) -> tuple[str, str]:
    """Return (instance ARN, identity store id): the file's instance, else the only one in the account.

    Raises:
        AwsCallError: Identity Center is not enabled, or there are several instances and the file names none.
    """
    label = "IAM Identity Center instance"
    instances = list(pages(label, clients.sso_admin, "ListInstances", "Instances"))
    if spec.instance_arn is not None:
        instances = [i for i in instances if i.get("InstanceArn") == spec.instance_arn]
    if len(instances) != 1:
        found = "none" if not instances else ", ".join(str(i.get("InstanceArn")) for i in instances)
        hint = (
            "enable IAM Identity Center in this region first"
            if not instances
            else "name one in identity_center.instance_arn"
        )
        raise AwsCallError(label, "sso-admin", "ListInstances", "InstanceNotFound", f"found {found}: {hint}")
    return str(instances[0]["InstanceArn"]), str(instances[0]["IdentityStoreId"])


def build_plan(clients: Clients, spec: SetupSpec, source: str) -> Plan:
    """Read AWS and return the plan that makes it match ``spec``.

    Raises:
        SetupFileError: the file names something AWS does not have, or something another owner has.
        AwsCallError: a read failed.
    """
    account = str(call("account", clients.sts, "GetCallerIdentity")["Account"])
    instance_arn, store_id = identity_center(clients, spec)
    plan = Plan(spec, Context(account, clients.region, instance_arn, store_id))
    if spec.application is not None and spec.issuer is None:
        plan.problem(spec.application.line, "an application needs a trusted_token_issuer section")
    directory = plan_directory(clients, spec, plan)
    applications = owned_applications(clients, spec, plan)
    plan_issuer(clients, spec, plan, pick(applications, spec))
    plan_application(clients, spec, plan, directory, applications)
    kept_roles = plan_access_grants(clients, spec, plan, directory)
    plan_roles(clients, spec, plan, kept_roles)
    if plan.problems:
        raise SetupFileError(source, plan.problems)
    return plan


def build_destroy_plan(clients: Clients, spec: SetupSpec, source: str) -> Plan:
    """Return the plan that deletes everything this setup owns, and only that."""
    return build_plan(clients, spec.emptied(), source)
