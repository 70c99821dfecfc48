"""The third-party actions the workflows may use: each pinned to one commit, with the inputs that commit's
action.yml declares.

A tag can be moved to other code; a commit cannot, and these actions run with AWS credentials and the Pulumi
token. actionlint checks the inputs of actions used by tag but not of actions pinned by commit, so the tests
check them against this table. To bump an action: take the new release's commit (`git rev-list -n1 <tag>`),
copy the input names from its action.yml, and update the `uses:` lines and their `# vX.Y.Z` comments.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Pin:
    commit: str
    version: str
    inputs: frozenset[str]


def pin(commit: str, version: str, inputs: str) -> Pin:
    return Pin(commit, version, frozenset(inputs.split()))


PINNED_ACTIONS: dict[str, Pin] = {
    "actions/checkout": pin(
        "3d3c42e5aac5ba805825da76410c181273ba90b1",
        "v7.0.1",
        """allow-unsafe-pr-checkout clean fetch-depth fetch-tags filter github-server-url lfs path
        persist-credentials ref repository set-safe-directory show-progress sparse-checkout
        sparse-checkout-cone-mode ssh-key ssh-known-hosts ssh-strict ssh-user submodules token""",
    ),
    "actions/setup-python": pin(
        "5fda3b95a4ea91299a34e894583c3862153e4b97",
        "v7.0.0",
        """allow-prereleases architecture cache cache-dependency-path check-latest freethreaded pip-version
        python-version python-version-file token update-environment""",
    ),
    "astral-sh/setup-uv": pin(
        "20cfd1bf945f4377ade1205e4dbc17946fc9a30d",
        "v10.0.1",
        """activate-environment add-problem-matchers cache-dependency-glob cache-local-path cache-python
        cache-suffix checksum download-from-astral-mirror enable-cache github-token ignore-empty-workdir
        ignore-nothing-to-cache manifest-file no-project prune-cache python-version quiet resolution-strategy
        restore-cache save-cache tool-bin-dir tool-dir venv-path version version-file working-directory""",
    ),
    "aws-actions/configure-aws-credentials": pin(
        "e6de054238d6b7531b4efff3b6587d9aade6a06c",
        "v6.2.3",
        """action-timeout-s allowed-account-ids audience aws-access-key-id aws-profile aws-region
        aws-secret-access-key aws-session-token custom-tags disable-retry force-skip-oidc http-proxy
        inline-session-policy managed-session-policies mask-aws-account-id no-proxy output-credentials
        output-env-credentials overwrite-aws-profile retry-max-attempts role-chaining role-duration-seconds
        role-external-id role-session-name role-skip-session-tagging role-to-assume
        special-characters-workaround sts-endpoint transitive-tag-keys unset-current-credentials
        use-existing-credentials web-identity-token-file""",
    ),
    "docker/setup-qemu-action": pin(
        "96fe6ef7f33517b61c61be40b68a1882f3264fb8",
        "v4.2.0",
        "cache-image image platforms reset",
    ),
    "pulumi/actions": pin(
        "8e5e406f4007fca908480587cb9893c07090f58d",
        "v7.0.0",
        """always-include-summary cloud-url color command comment-on-pr comment-on-pr-number comment-on-summary
        config-map continue-on-error debug diff edit-pr-comment exclude exclude-dependents exclude-protected
        expect-no-changes github-token log-flow log-verbosity message parallel plan policyPackConfigs
        policyPacks pulumi-version pulumi-version-file refresh remove replace secrets-provider stack-name
        suppress-outputs suppress-progress target target-dependents upsert work-dir""",
    ),
}
