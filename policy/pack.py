"""The CrossGuard adapter: every rule in policy/rules.py as a ``pulumi_policy`` policy. No rule logic lives here.

A resource rule becomes a ``ResourceValidationPolicy``, a stack rule a ``StackValidationPolicy``; each converts
``pulumi_policy``'s arguments to the resource dict the rules take and reports what the rule returns.

What the engine hands a policy, and how it is converted:

- ``props`` are the resource's properties in wire form, camelCase keys as the SDK registered them (the same keys
  the mocks capture): a resource validation gets the inputs, a stack validation the outputs (which repeat the
  inputs under the same keys). They become ``inputs`` unchanged and unread: ``pulumi_policy`` wraps them in
  proxies that raise ``UnknownValueError`` when a value unknown during preview is read, and reports that as an
  advisory "can't run policy during preview". Copying them eagerly would read every value, so one unknown ARN
  anywhere would stop every rule; passed through, a rule stops only if it reads an unknown value itself.
- Secrets arrive decrypted and unmarked (pulumi/pulumi-policy#241). The properties the resource declares secret
  (``opts.additional_secret_outputs``) are handed to the rules as Pulumi secrets; see rules.py's docstring.
- ``parent`` is a URN (resource validation) or a ``PolicyResource`` (stack validation); rules take the URN.
- Policies never see resource or provider IDs: ``id`` is "" and the provider reference is ``<provider URN>::``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    Policy,
    PolicyProviderResource,
    PolicyResource,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)

from policy import rules

PACK_NAME = "serverless-mlops"

_LEVELS: Mapping[rules.Enforcement, EnforcementLevel] = {
    "mandatory": EnforcementLevel.MANDATORY,
    "advisory": EnforcementLevel.ADVISORY,
}


class _DeclaredSecrets(Mapping[str, Any]):
    """Read-only view of ``props`` in which the properties named in ``names`` read as Pulumi secrets."""

    def __init__(self, props: Mapping[str, Any], names: frozenset[str]) -> None:
        self._props = props
        self._names = names

    def __getitem__(self, key: str) -> Any:
        value = self._props[key]
        return rules.as_secret(value) if key in self._names else value

    def __iter__(self) -> Iterator[str]:
        return iter(self._props)

    def __len__(self) -> int:
        return len(self._props)


def _inputs(props: Mapping[str, Any], secret_names: list[str] | None) -> Mapping[str, Any]:
    names = frozenset(secret_names or ())
    return _DeclaredSecrets(props, names) if names else props


def _provider_reference(provider: PolicyProviderResource | None) -> str | None:
    return f"{provider.urn}::" if provider is not None else None


def resource_from_args(args: ResourceValidationArgs) -> dict[str, Any]:
    """The rules' resource dict for a resource validation."""
    return {
        "type": args.resource_type,
        "name": args.name,
        "urn": args.urn,
        "id": "",
        "inputs": _inputs(args.props, args.opts.additional_secret_outputs),
        "parent": args.opts.parent,
        "provider": _provider_reference(args.provider),
    }


def resource_from_stack(resource: PolicyResource) -> dict[str, Any]:
    """The rules' resource dict for one resource of a stack validation (its outputs stand for its inputs)."""
    return {
        "type": resource.resource_type,
        "name": resource.name,
        "urn": resource.urn,
        "id": "",
        "inputs": _inputs(resource.props, resource.opts.additional_secret_outputs),
        "parent": resource.parent.urn if resource.parent is not None else None,
        "provider": _provider_reference(resource.provider),
    }


def resource_policy(rule: rules.ResourceRule) -> ResourceValidationPolicy:
    def validate(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
        for message in rule.check(resource_from_args(args)):
            report_violation(message, None)

    return ResourceValidationPolicy(
        name=rule.name,
        description=rule.description,
        validate=validate,
        enforcement_level=_LEVELS[rule.enforcement],
        tags=[rule.category],
    )


def stack_policy(rule: rules.StackRule) -> StackValidationPolicy:
    def validate(args: StackValidationArgs, report_violation: ReportViolation) -> None:
        for violation in rule.check([resource_from_stack(r) for r in args.resources]):
            report_violation(f"[{violation.rule}] {violation.resource}: {violation.message}", violation.urn or None)

    return StackValidationPolicy(
        name=rule.name,
        description=rule.description,
        validate=validate,
        enforcement_level=_LEVELS[rule.enforcement],
        tags=[rule.category],
    )


def policies() -> list[Policy]:
    """One policy per rule in ``rules.RULES``, in the same order."""
    return [resource_policy(r) if isinstance(r, rules.ResourceRule) else stack_policy(r) for r in rules.RULES]
