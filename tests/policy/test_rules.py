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


def lambda_function(name: str = "fn", **variables) -> dict:
    return resource("aws:lambda/function:Function", name, environment={"variables": variables})


SECRET_ARN = "arn:aws:secretsmanager:eu-west-1:111111111111:secret:app/slack-AbCdEf"
# Built from parts so the repository holds nothing a secret scanner would flag.
SLACK_TOKEN = "xoxb-" + "1234567890-abcdefghij"


class TestNoPlaintextSecrets:
    @pytest.mark.parametrize("name", ["SLACK_TOKEN", "dbPassword", "API_KEY", "apiKey", "client-secret", "PASSWD"])
    def test_variable_named_like_a_secret_holding_a_value_fails(self, name):
        found = rules.no_plaintext_secrets(lambda_function(**{name: "hunter2-but-longer"}))
        assert found and name in found[0] and "not an ARN" in found[0]
        assert not any("hunter2" in p for p in found), "a message must never repeat the value"

    def test_value_that_looks_like_a_token_fails_whatever_its_name(self):
        found = rules.no_plaintext_secrets(lambda_function(CHANNEL_CONFIG=SLACK_TOKEN))
        assert found and "a Slack token" in found[0]
        assert not any(SLACK_TOKEN in p for p in found)

    @pytest.mark.parametrize(
        ("value", "kind"),
        [
            ("mysql://mlflow:s3cr3t@db.internal:3306/mlflow", "a password inside a URL"),
            ("AKIA" + "ABCDEFGHIJKLMNOP", "an AWS access key ID"),
            ("-----BEGIN RSA PRIVATE KEY-----\nMII...", "a private key"),
            ("https://hooks.slack.com/services/T000/B000/XXXX", "a Slack webhook URL"),
        ],
    )
    def test_other_secret_shapes_fail(self, value, kind):
        found = rules.no_plaintext_secrets(lambda_function(SETTING=value))
        assert found and kind in found[0]

    def test_a_pulumi_secret_in_an_environment_variable_still_fails(self):
        # AWS shows the environment in plain text to anyone who can read the function's configuration.
        found = rules.no_plaintext_secrets(lambda_function(SLACK_TOKEN=rules.as_secret(SLACK_TOKEN)))
        assert found and "Slack token" in found[0]

    def test_references_and_ordinary_values_pass(self):
        function = lambda_function(
            SLACK_BOT_TOKEN_SECRET_ARN=SECRET_ARN,
            SLACK_SIGNING_SECRET_ARN=rules.as_secret(SECRET_ARN),
            APPROVALS_TABLE="approvals",
            TOKEN_TABLE="tokens",
            MLFLOW_UI_URL="https://abc.execute-api.eu-west-1.amazonaws.com",
            APPROVAL_TIMEOUT_SECONDS="86400",
        )
        assert rules.no_plaintext_secrets(function) == []

    def test_codebuild_plaintext_password_fails_and_a_secrets_manager_reference_passes(self):
        def project(type_: str, value: str) -> dict:
            variable = {"name": "MLFLOW_TRACKING_PASSWORD", "type": type_, "value": value}
            return resource("aws:codebuild/project:Project", environment={"environmentVariables": [variable]})

        assert rules.no_plaintext_secrets(project("PLAINTEXT", "hunter2"))
        assert rules.no_plaintext_secrets(project("SECRETS_MANAGER", f"{SECRET_ARN}:password")) == []

    def test_ecs_environment_password_fails_and_injected_secret_passes(self):
        def task(environment: list[dict], secrets: list[dict]) -> dict:
            containers = [{"name": "app", "environment": environment, "secrets": secrets}]
            return resource("aws:ecs/taskDefinition:TaskDefinition", containerDefinitions=json.dumps(containers))

        assert rules.no_plaintext_secrets(task([{"name": "DB_PASSWORD", "value": "hunter2"}], []))
        injected = task([{"name": "DB_HOST", "value": "db"}], [{"name": "DB_PASSWORD", "valueFrom": SECRET_ARN}])
        assert rules.no_plaintext_secrets(injected) == []

    def test_secret_parameter_must_be_a_secure_string_holding_a_pulumi_secret(self):
        def parameter(**inputs) -> dict:
            found = resource("aws:ssm/parameter:Parameter", "p")
            found["inputs"].update(inputs)  # the input "name" would clash with resource()'s own
            return found

        plain_type = rules.no_plaintext_secrets(parameter(name="/app/db-password", type="String", value="x"))
        assert any("SecureString" in p for p in plain_type)
        not_secret = rules.no_plaintext_secrets(parameter(name="/app/setting", type="SecureString", value="x"))
        assert not_secret and "not a Pulumi secret" in not_secret[0]
        insecure = rules.no_plaintext_secrets(parameter(name="/app/x", type="SecureString", insecureValue=SLACK_TOKEN))
        assert any("insecureValue" in p for p in insecure)
        good = parameter(name="/app/db-password", type="SecureString", value=rules.as_secret("x"))
        ordinary = parameter(name="/app/log-level", type="String", value="INFO")
        assert rules.no_plaintext_secrets(good) == rules.no_plaintext_secrets(ordinary) == []

    def test_secret_version_must_hold_a_pulumi_secret(self):
        version = "aws:secretsmanager/secretVersion:SecretVersion"
        found = rules.no_plaintext_secrets(resource(version, secretId="s", secretString='{"password": "x"}'))
        assert found and found[0].startswith("secretString is not a Pulumi secret")
        binary = rules.no_plaintext_secrets(resource(version, secretId="s", secretBinary="eA=="))
        assert binary and binary[0].startswith("secretBinary")
        assert rules.no_plaintext_secrets(resource(version, secretString=rules.as_secret("x"))) == []

    def test_secret_helpers_round_trip(self):
        assert rules.is_secret(rules.as_secret("x")) and rules.reveal(rules.as_secret("x")) == "x"
        assert not rules.is_secret("x") and rules.reveal("x") == "x"


REPOSITORY = "aws:ecr/repository:Repository"


class TestEcr:
    def test_mutable_or_unscanned_repository_fails(self):
        assert len(rules.ecr_immutable_and_scanned(resource(REPOSITORY))) == 2
        mutable = resource(REPOSITORY, imageTagMutability="MUTABLE", imageScanningConfiguration={"scanOnPush": True})
        assert ["IMMUTABLE" in p for p in rules.ecr_immutable_and_scanned(mutable)] == [True]
        unscanned = resource(
            REPOSITORY, imageTagMutability="IMMUTABLE", imageScanningConfiguration={"scanOnPush": False}
        )
        assert ["scanOnPush" in p for p in rules.ecr_immutable_and_scanned(unscanned)] == [True]

    def test_immutable_scanned_repository_passes(self):
        good = resource(REPOSITORY, imageTagMutability="IMMUTABLE", imageScanningConfiguration={"scanOnPush": True})
        assert rules.ecr_immutable_and_scanned(good) == []


STATE_MACHINE = "aws:sfn/stateMachine:StateMachine"
LAMBDA_SERVICE_RETRY = {
    "ErrorEquals": ["Lambda.ServiceException", "Lambda.AWSLambdaException", "Lambda.SdkClientException"],
    "IntervalSeconds": 2,
    "BackoffRate": 2,
    "MaxAttempts": 5,
}
FUNCTION_ARN = "arn:aws:lambda:eu-west-1:111111111111:function:notify"


def lambda_state(retry: list | None = None, **extra) -> dict:
    state = {
        "Type": "Task",
        "Resource": "arn:aws:states:::lambda:invoke",
        "Parameters": {"FunctionName": FUNCTION_ARN, "Payload.$": "$"},
        "TimeoutSeconds": 60,
        "End": True,
        **extra,
    }
    if retry is not None:
        state["Retry"] = retry
    return state


def approval_state(**extra) -> dict:
    return lambda_state(
        [LAMBDA_SERVICE_RETRY],
        Resource="arn:aws:states:::lambda:invoke.waitForTaskToken",
        Parameters={"FunctionName": FUNCTION_ARN, "Payload": {"token.$": "$$.Task.Token"}},
        **extra,
    )


def state_machine(states: dict, **inputs) -> dict:
    inputs.setdefault(
        "loggingConfiguration",
        {"level": "ALL", "includeExecutionData": False, "logDestination": "arn:aws:logs:eu-west-1:1:log-group:x:*"},
    )
    inputs.setdefault("tracingConfiguration", {"enabled": True})
    definition = json.dumps({"StartAt": next(iter(states)), "States": states})
    return resource(STATE_MACHINE, definition=definition, **inputs)


class TestStateMachineLoggingAndTracing:
    @pytest.mark.parametrize(
        "logging_", [None, {"level": "OFF", "logDestination": "arn:x"}, {"level": "ALL", "logDestination": ""}]
    )
    def test_without_logs_fails(self, logging_):
        machine = state_machine({"A": lambda_state([LAMBDA_SERVICE_RETRY])}, loggingConfiguration=logging_)
        found = rules.state_machine_logs_and_traces(machine)
        assert found and "loggingConfiguration" in found[0]

    def test_without_tracing_fails(self):
        machine = state_machine({"A": lambda_state([LAMBDA_SERVICE_RETRY])}, tracingConfiguration={"enabled": False})
        assert ["X-Ray" in p for p in rules.state_machine_logs_and_traces(machine)] == [True]

    def test_logged_and_traced_passes(self):
        assert rules.state_machine_logs_and_traces(state_machine({"A": lambda_state([LAMBDA_SERVICE_RETRY])})) == []


class TestStateMachineLambdaRetries:
    def test_lambda_task_without_retry_fails(self):
        found = rules.state_machine_lambda_tasks_retry(state_machine({"Notify": lambda_state()}))
        assert found == [
            "Lambda task 'Notify' does not retry Lambda.ServiceException, Lambda.AWSLambdaException, "
            "Lambda.SdkClientException"
        ]

    def test_partial_or_disabled_retry_fails(self):
        partial = lambda_state([{"ErrorEquals": ["Lambda.ServiceException"], "MaxAttempts": 3}])
        found = rules.state_machine_lambda_tasks_retry(state_machine({"A": partial}))
        assert found and "Lambda.ServiceException" not in found[0] and "Lambda.SdkClientException" in found[0]
        disabled = lambda_state([{**LAMBDA_SERVICE_RETRY, "MaxAttempts": 0}])
        assert rules.state_machine_lambda_tasks_retry(state_machine({"A": disabled}))

    def test_function_arn_task_and_nested_branches_are_checked(self):
        legacy = {"Type": "Task", "Resource": FUNCTION_ARN, "TimeoutSeconds": 30, "End": True}
        parallel = {"Type": "Parallel", "Branches": [{"StartAt": "Inner", "States": {"Inner": legacy}}], "End": True}
        found = rules.state_machine_lambda_tasks_retry(state_machine({"Fan": parallel}))
        assert found and "'Inner'" in found[0]

    def test_retrying_lambda_errors_or_a_wildcard_passes(self):
        first = lambda_state([LAMBDA_SERVICE_RETRY])
        first.pop("End")
        states = {"A": {**first, "Next": "B"}, "B": lambda_state([{"ErrorEquals": ["States.ALL"], "MaxAttempts": 2}])}
        assert rules.state_machine_lambda_tasks_retry(state_machine(states)) == []

    def test_other_tasks_need_no_lambda_retry(self):
        build = {"Type": "Task", "Resource": "arn:aws:states:::codebuild:startBuild.sync", "End": True}
        assert rules.state_machine_lambda_tasks_retry(state_machine({"Build": build})) == []

    def test_unreadable_definition_fails(self):
        machine = resource(STATE_MACHINE, definition="{not json")
        assert rules.state_machine_lambda_tasks_retry(machine) == [
            "definition is not a JSON object (Amazon States Language): it cannot be checked"
        ]


class TestApprovalTimeout:
    def test_callback_task_without_timeout_fails(self):
        approval = approval_state()
        del approval["TimeoutSeconds"]
        found = rules.state_machine_approval_times_out(state_machine({"Approval": approval}))
        assert found == ["callback task 'Approval' has no TimeoutSeconds: a run would wait a year for an answer"]

    def test_callback_task_with_zero_timeout_fails(self):
        assert rules.state_machine_approval_times_out(state_machine({"Approval": approval_state(TimeoutSeconds=0)}))

    def test_callback_task_with_a_timeout_passes(self):
        assert rules.state_machine_approval_times_out(state_machine({"Approval": approval_state()})) == []
        by_path = approval_state(TimeoutSecondsPath="$.approvalTimeout")
        del by_path["TimeoutSeconds"]
        assert rules.state_machine_approval_times_out(state_machine({"Approval": by_path})) == []

    def test_plain_tasks_are_not_judged_by_this_rule(self):
        plain = lambda_state([LAMBDA_SERVICE_RETRY])
        del plain["TimeoutSeconds"]
        assert rules.state_machine_approval_times_out(state_machine({"A": plain})) == []


class TestNoNatGateway:
    def test_nat_gateway_fails(self):
        found = rules.no_nat_gateway(resource("aws:ec2/natGateway:NatGateway", subnetId="subnet-1"))
        assert found and "VPC endpoints" in found[0]

    def test_awsx_vpc_with_default_nat_gateways_fails(self):
        assert rules.no_nat_gateway(resource("awsx:ec2:Vpc"))
        assert rules.no_nat_gateway(resource("awsx:ec2:Vpc", natGateways={"strategy": "Single"}))

    def test_awsx_vpc_without_nat_gateways_and_endpoints_pass(self):
        assert rules.no_nat_gateway(resource("awsx:ec2:Vpc", natGateways={"strategy": "None"})) == []
        assert rules.no_nat_gateway(resource("aws:ec2/vpcEndpoint:VpcEndpoint", vpcEndpointType="Gateway")) == []


class TestRuleSet:
    def test_names_are_unique_and_every_rule_is_described(self):
        names = [rule.name for rule in rules.RULES]
        assert len(names) == len(set(names))
        assert all(rule.description.endswith(".") for rule in rules.RULES)

    def test_cost_rules_advise_and_every_other_rule_blocks(self):
        levels = {rule.name: rule.enforcement for rule in rules.RULES}
        assert {name for name, level in levels.items() if level == "advisory"} == {
            "no-nat-gateway",
            "log-group-retention",
        }
        assert all(rule.enforcement == "mandatory" for rule in rules.RULES if rule.category == "security")

    def test_check_all_names_the_resource_urn(self):
        found = rules.check_all([provider(), resource("aws:ec2/natGateway:NatGateway", "nat")])
        assert [(v.rule, v.urn) for v in found] == [("no-nat-gateway", "urn:nat")]

    def test_provider_reference_without_an_id_matches_its_provider(self):
        # The policy pack never sees provider IDs: it passes "<URN>::".
        bucket = resource("aws:s3/bucket:Bucket", "b", bucket="b")
        bucket["provider"] = f"{PROVIDER_URN}::"
        assert rules.resources_are_tagged([provider(), bucket]) == []
