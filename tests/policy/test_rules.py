"""Each rule has a failing and a passing example, built by hand."""

from __future__ import annotations

import json

import pytest

from policy import rules

ACCOUNT = "111111111111"
PROVIDER_URN = "urn:pulumi:tooling::serverless-mlops::pulumi:providers:aws::aws"
PROVIDER_REF = f"{PROVIDER_URN}::provider-id"


def resource(type_: str, name: str = "r", **inputs) -> dict:
    return {
        "type": type_,
        "name": name,
        "urn": f"urn:{name}",
        "id": f"{name}-id",
        "inputs": inputs,
        "parent": None,
        "provider": PROVIDER_REF,
    }


def policy(*statements: dict) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def allow(action, resource_="arn:aws:s3:::bucket/*", **extra) -> dict:
    return {"Effect": "Allow", "Action": action, "Resource": resource_, **extra}


ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"


class TestNoWildcardActions:
    @pytest.mark.parametrize("action", ["*", "s3:*", ["s3:GetObject", "iam:*"], "s3:Get*"])
    def test_wildcard_allow_fails(self, action):
        found = rules.iam_no_wildcard_actions(resource(ROLE_POLICY, policy=policy(allow(action))))
        assert found and "wildcard action" in found[0]

    def test_not_action_fails(self):
        statement = {"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"}
        found = rules.iam_no_wildcard_actions(resource(ROLE_POLICY, policy=policy(statement)))
        assert any("NotAction" in p for p in found)

    def test_wildcard_in_inline_role_policy_fails(self):
        role = resource("aws:iam/role:Role", inlinePolicies=[{"name": "x", "policy": policy(allow("*"))}])
        assert rules.iam_no_wildcard_actions(role)

    def test_wildcard_in_trust_policy_fails(self):
        trust = policy({"Effect": "Allow", "Action": "sts:*", "Principal": {"Service": "lambda.amazonaws.com"}})
        assert rules.iam_no_wildcard_actions(resource("aws:iam/role:Role", assumeRolePolicy=trust))

    def test_named_actions_pass(self):
        document = policy(allow(["s3:GetObject", "s3:PutObject"]))
        assert rules.iam_no_wildcard_actions(resource(ROLE_POLICY, policy=document)) == []

    def test_deny_with_wildcard_passes(self):
        deny = {"Effect": "Deny", "Action": "s3:*", "Principal": "*", "Resource": "arn:aws:s3:::b/*"}
        assert rules.iam_no_wildcard_actions(resource("aws:s3/bucketPolicy:BucketPolicy", policy=policy(deny))) == []

    def test_kms_default_root_statement_passes(self):
        root = allow("kms:*", "*", Principal={"AWS": f"arn:aws:iam::{ACCOUNT}:root"})
        assert rules.iam_no_wildcard_actions(resource("aws:kms/key:Key", policy=policy(root))) == []

    def test_kms_star_for_another_principal_fails(self):
        other = allow("kms:*", "*", Principal={"AWS": f"arn:aws:iam::{ACCOUNT}:role/app"})
        assert rules.iam_no_wildcard_actions(resource("aws:kms/key:Key", policy=policy(other)))

    def test_kms_root_exception_is_only_for_key_policies(self):
        root = allow("kms:*", "*", Principal={"AWS": f"arn:aws:iam::{ACCOUNT}:root"})
        assert rules.iam_no_wildcard_actions(resource("aws:sns/topicPolicy:TopicPolicy", policy=policy(root)))


class TestResourceStar:
    def test_star_for_scopable_action_fails(self):
        found = rules.iam_resource_star_only_where_required(
            resource(ROLE_POLICY, policy=policy(allow(["ecr:GetAuthorizationToken", "s3:GetObject"], "*")))
        )
        assert found and "s3:GetObject" in found[0] and "ecr:GetAuthorizationToken" not in found[0]

    def test_not_resource_fails(self):
        statement = {"Effect": "Allow", "Action": "s3:GetObject", "NotResource": "arn:aws:s3:::secret/*"}
        assert rules.iam_resource_star_only_where_required(resource(ROLE_POLICY, policy=policy(statement)))

    def test_allow_listed_action_on_star_passes(self):
        document = policy(allow("ecr:GetAuthorizationToken", "*"), allow("s3:GetObject"))
        assert rules.iam_resource_star_only_where_required(resource(ROLE_POLICY, policy=document)) == []

    def test_every_allow_list_entry_links_the_service_authorization_reference(self):
        for action, link in rules.RESOURCE_STAR_ACTIONS.items():
            assert ":" in action and "*" not in action
            assert link.startswith("https://docs.aws.amazon.com/service-authorization/latest/reference/list_")

    def test_resource_policies_are_not_judged_by_this_rule(self):
        key_policy = policy(allow("kms:Decrypt", "*", Principal={"Service": "events.amazonaws.com"}))
        assert rules.iam_resource_star_only_where_required(resource("aws:kms/key:Key", policy=key_policy)) == []


class TestLogRetention:
    def test_log_group_without_retention_fails(self):
        assert rules.log_group_has_retention(resource("aws:cloudwatch/logGroup:LogGroup"))

    @pytest.mark.parametrize("retention", [0, None, "30", True])
    def test_bad_retention_fails(self, retention):
        assert rules.log_group_has_retention(resource("aws:cloudwatch/logGroup:LogGroup", retentionInDays=retention))

    def test_retention_passes(self):
        assert rules.log_group_has_retention(resource("aws:cloudwatch/logGroup:LogGroup", retentionInDays=30)) == []


def tls_only_policy(bucket: str) -> str:
    return policy(
        {
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:*",
            "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"],
            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
        }
    )


def protected_bucket(bucket: str = "data") -> list[dict]:
    return [
        provider(),
        resource("aws:s3/bucket:Bucket", bucket, bucket=bucket),
        resource(
            rules._PUBLIC_ACCESS_BLOCK,
            f"{bucket}-pab",
            bucket=bucket,
            blockPublicAcls=True,
            blockPublicPolicy=True,
            ignorePublicAcls=True,
            restrictPublicBuckets=True,
        ),
        resource(
            rules._ENCRYPTION_TYPES[0],
            f"{bucket}-sse",
            bucket=bucket,
            rules=[{"applyServerSideEncryptionByDefault": {"sseAlgorithm": "aws:kms"}}],
        ),
        resource(rules._BUCKET_POLICY, f"{bucket}-policy", bucket=bucket, policy=tls_only_policy(bucket)),
    ]


def provider(tags: dict | None = None) -> dict:
    tags = (
        {"project": "serverless-mlops", "stack": "tooling", "model": "m", "managed-by": "pulumi"}
        if tags is None
        else tags
    )
    return {
        "type": "pulumi:providers:aws",
        "name": "aws",
        "urn": PROVIDER_URN,
        "id": "provider-id",
        "inputs": {"defaultTags": json.dumps({"tags": tags})},
        "parent": None,
        "provider": None,
    }


def without(resources: list[dict], type_: str) -> list[dict]:
    return [r for r in resources if r["type"] != type_]


class TestBuckets:
    def test_protected_bucket_passes(self):
        assert rules.s3_buckets_are_protected(protected_bucket()) == []

    def test_missing_public_access_block_fails(self):
        found = rules.s3_buckets_are_protected(without(protected_bucket(), rules._PUBLIC_ACCESS_BLOCK))
        assert [v.rule for v in found] == ["s3-public-access-block"]

    def test_partial_public_access_block_fails(self):
        resources = protected_bucket()
        resources[2]["inputs"]["restrictPublicBuckets"] = False
        assert [v.rule for v in rules.s3_buckets_are_protected(resources)] == ["s3-public-access-block"]

    def test_missing_encryption_fails(self):
        found = rules.s3_buckets_are_protected(without(protected_bucket(), rules._ENCRYPTION_TYPES[0]))
        assert [v.rule for v in found] == ["s3-encryption"]

    def test_missing_tls_policy_fails(self):
        found = rules.s3_buckets_are_protected(without(protected_bucket(), rules._BUCKET_POLICY))
        assert [v.rule for v in found] == ["s3-tls-only"]

    def test_policy_that_only_covers_objects_fails(self):
        resources = protected_bucket()
        document = json.loads(resources[4]["inputs"]["policy"])
        document["Statement"][0]["Resource"] = "arn:aws:s3:::data/*"
        resources[4]["inputs"]["policy"] = json.dumps(document)
        assert [v.rule for v in rules.s3_buckets_are_protected(resources)] == ["s3-tls-only"]

    def test_protections_of_another_bucket_do_not_count(self):
        resources = [*protected_bucket("data"), resource("aws:s3/bucket:Bucket", "logs", bucket="logs")]
        found = rules.s3_buckets_are_protected(resources)
        assert {v.resource for v in found} == {"aws:s3/bucket:Bucket 'logs'"}
        assert len(found) == 3


class TestTags:
    def test_resources_through_tagged_provider_pass(self):
        assert rules.resources_are_tagged(protected_bucket()) == []

    def test_provider_missing_a_tag_fails(self):
        found = rules.resources_are_tagged([provider({"project": "p", "stack": "s", "managed-by": "pulumi"})])
        assert len(found) == 1 and "model" in found[0].message

    def test_provider_without_default_tags_fails(self):
        bare = provider()
        bare["inputs"] = {}
        assert rules.resources_are_tagged([bare])

    def test_resource_on_default_provider_fails(self):
        stray = resource("aws:s3/bucket:Bucket", "stray", bucket="stray")
        stray["provider"] = "urn:pulumi:tooling::serverless-mlops::pulumi:providers:aws::default_7_0_0::x"
        found = rules.resources_are_tagged([provider(), stray])
        assert len(found) == 1 and "stray" in found[0].resource


INGRESS_RULE = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"


class TestNoWorldIngress:
    @pytest.mark.parametrize(("key", "cidr"), [("cidrIpv4", "0.0.0.0/0"), ("cidrIpv6", "::/0")])
    def test_ingress_rule_from_the_internet_fails(self, key, cidr):
        found = rules.security_group_no_world_ingress(resource(INGRESS_RULE, **{key: cidr, "fromPort": 443}))
        assert found and cidr in found[0]

    def test_inline_ingress_from_the_internet_fails(self):
        group = resource(
            "aws:ec2/securityGroup:SecurityGroup",
            ingress=[{"fromPort": 22, "toPort": 22, "protocol": "tcp", "cidrBlocks": ["10.0.0.0/8", "0.0.0.0/0"]}],
        )
        assert rules.security_group_no_world_ingress(group)

    def test_legacy_ingress_rule_from_the_internet_fails(self):
        legacy = resource("aws:ec2/securityGroupRule:SecurityGroupRule", type="ingress", cidrBlocks=["0.0.0.0/0"])
        assert rules.security_group_no_world_ingress(legacy)

    def test_ingress_from_a_security_group_or_a_narrow_block_passes(self):
        assert rules.security_group_no_world_ingress(resource(INGRESS_RULE, referencedSecurityGroupId="sg-1")) == []
        assert rules.security_group_no_world_ingress(resource(INGRESS_RULE, cidrIpv4="203.0.113.0/24")) == []

    def test_egress_to_the_internet_passes(self):
        egress = resource("aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule", cidrIpv4="0.0.0.0/0")
        legacy = resource("aws:ec2/securityGroupRule:SecurityGroupRule", type="egress", cidrBlocks=["0.0.0.0/0"])
        group = resource("aws:ec2/securityGroup:SecurityGroup", egress=[{"cidrBlocks": ["0.0.0.0/0"]}])
        assert [rules.security_group_no_world_ingress(r) for r in (egress, legacy, group)] == [[], [], []]


class TestDatabases:
    def test_unencrypted_cluster_fails(self):
        assert rules.database_encrypted_and_private(resource("aws:rds/cluster:Cluster", engine="aurora-mysql"))

    def test_public_cluster_instance_fails(self):
        instance = resource("aws:rds/clusterInstance:ClusterInstance", publiclyAccessible=True)
        assert rules.database_encrypted_and_private(instance)

    def test_public_or_unencrypted_instance_fails(self):
        found = rules.database_encrypted_and_private(resource("aws:rds/instance:Instance", publiclyAccessible=True))
        assert len(found) == 2

    def test_encrypted_private_database_passes(self):
        cluster = resource("aws:rds/cluster:Cluster", storageEncrypted=True)
        instance = resource("aws:rds/clusterInstance:ClusterInstance", publiclyAccessible=False)
        assert rules.database_encrypted_and_private(cluster) == rules.database_encrypted_and_private(instance) == []


class TestCheckAll:
    def test_clean_resources_pass(self):
        assert rules.check_all(protected_bucket()) == []

    def test_reports_every_kind_of_problem(self):
        resources = [
            *protected_bucket(),
            resource("aws:cloudwatch/logGroup:LogGroup", "logs"),
            resource(ROLE_POLICY, "p", policy=policy(allow("*", "*"))),
        ]
        found = {v.rule for v in rules.check_all(resources)}
        assert {"log-group-retention", "iam-no-wildcard-actions", "iam-resource-star-only-where-required"} <= found
