"""Identity and access end to end (issue 3): the seed's least-privilege flow with the unmodified AWS CLI and boto3
against a real coffer server — IAM roles, policies and users over the Query protocol, STS temporary credentials,
and Secrets Manager refusing what the policies do not allow.

Expiry is tested on a second server started with COFFER_TEST_SESSION_LIFETIME_SECONDS=3 (a test-only setting:
every session lasts 3 s whatever DurationSeconds asked), since STS's minimum of 900 s is too long for a test.
"""

import json
import os
import shutil
import subprocess
import tempfile
import time
import unittest

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

import coffer_harness

NO_RETRY = Config(retries={"max_attempts": 1, "mode": "standard"})
REGION = coffer_harness.DEFAULT_REGION
SEEN_SECRETS: list[str] = []   # access-key secrets and session tokens handed out; none may reach the log


def setUpModule():
    coffer_harness.start_module_server(__name__)


def tearDownModule():
    coffer_harness.stop_module_server(__name__)


def server():
    return coffer_harness.module_server(__name__)


def client(service, creds=None, srv=None):
    srv = srv or server()
    creds = creds or {"AccessKeyId": "test", "SecretAccessKey": "test"}
    return boto3.client(service, endpoint_url=srv.endpoint, region_name=REGION, config=NO_RETRY,
                        aws_access_key_id=creds["AccessKeyId"], aws_secret_access_key=creds["SecretAccessKey"],
                        aws_session_token=creds.get("SessionToken"))


def doc(*statements, version="2012-10-17"):
    return json.dumps({"Version": version, "Statement": list(statements)})


def account():
    return client("sts").get_caller_identity()["Account"]


def trust_account():
    return doc({"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{account()}:root"}, "Action": "sts:AssumeRole"})


def assume(role_arn, srv=None, **kwargs):
    creds = client("sts", srv=srv).assume_role(RoleArn=role_arn, RoleSessionName="tester", **kwargs)["Credentials"]
    SEEN_SECRETS.extend([creds["SecretAccessKey"], creds["SessionToken"]])
    return creds


def error_code(call):
    try:
        call()
    except ClientError as e:
        return e.response["Error"]["Code"], e.response["Error"]["Message"]
    raise AssertionError("the call succeeded")


class AwsCliSeedFlow(unittest.TestCase):
    """The seed scenario, step by step with `aws iam` / `aws sts` / `aws secretsmanager`."""

    def aws(self, *args, creds=None, check=True):
        env = dict(os.environ)
        env.update({"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_DEFAULT_REGION": REGION,
                    "AWS_CONFIG_FILE": os.devnull, "AWS_SHARED_CREDENTIALS_FILE": os.devnull, "AWS_MAX_ATTEMPTS": "1"})
        env.pop("AWS_SESSION_TOKEN", None)
        env.pop("AWS_PROFILE", None)
        if creds:
            env.update({"AWS_ACCESS_KEY_ID": creds["AccessKeyId"], "AWS_SECRET_ACCESS_KEY": creds["SecretAccessKey"],
                        "AWS_SESSION_TOKEN": creds["SessionToken"]})
        proc = subprocess.run([shutil.which("aws"), "--endpoint-url", server().endpoint, "--output", "json", *args],
                              env=env, capture_output=True, text=True, timeout=60)
        if check:
            self.assertEqual(proc.returncode, 0, proc.stderr)
        return proc

    def test_seed_least_privilege_flow(self):
        if shutil.which("aws") is None:
            self.skipTest("aws CLI not installed")
        name = coffer_harness.unique("cli")
        app = json.loads(self.aws("secretsmanager", "create-secret", "--name", f"{name}/app", "--secret-string", "app-value").stdout)
        self.aws("secretsmanager", "create-secret", "--name", f"{name}/other", "--secret-string", "other-value")
        role = json.loads(self.aws("iam", "create-role", "--role-name", f"{name}-role",
                                   "--assume-role-policy-document", trust_account()).stdout)["Role"]
        self.assertEqual(role["AssumeRolePolicyDocument"]["Statement"][0]["Action"], "sts:AssumeRole")
        policy = json.loads(self.aws("iam", "create-policy", "--policy-name", f"{name}-read",
                                     "--policy-document", doc({"Effect": "Allow", "Action": "secretsmanager:GetSecretValue",
                                                               "Resource": app["ARN"]})).stdout)["Policy"]
        self.aws("iam", "attach-role-policy", "--role-name", f"{name}-role", "--policy-arn", policy["Arn"])
        attached = json.loads(self.aws("iam", "list-attached-role-policies", "--role-name", f"{name}-role").stdout)
        self.assertEqual([p["PolicyArn"] for p in attached["AttachedPolicies"]], [policy["Arn"]])

        creds = json.loads(self.aws("sts", "assume-role", "--role-arn", role["Arn"], "--role-session-name", "seed",
                                    "--duration-seconds", "900").stdout)["Credentials"]
        self.assertTrue(creds["AccessKeyId"].startswith("ASIA"))
        SEEN_SECRETS.extend([creds["SecretAccessKey"], creds["SessionToken"]])

        value = json.loads(self.aws("secretsmanager", "get-secret-value", "--secret-id", f"{name}/app", creds=creds).stdout)
        self.assertEqual(value["SecretString"], "app-value")
        denied = self.aws("secretsmanager", "get-secret-value", "--secret-id", f"{name}/other", creds=creds, check=False)
        self.assertNotEqual(denied.returncode, 0)
        self.assertIn("AccessDeniedException", denied.stderr)
        self.assertIn(f"assumed-role/{name}-role/seed is not authorized to perform: secretsmanager:GetSecretValue on resource: ", denied.stderr)
        self.assertIn("because no identity-based policy allows the secretsmanager:GetSecretValue action", denied.stderr)
        self.assertNotIn("other-value", denied.stderr)
        who = json.loads(self.aws("sts", "get-caller-identity", creds=creds).stdout)
        self.assertTrue(who["Arn"].endswith(f":assumed-role/{name}-role/seed"))


class Boto3Flows(unittest.TestCase):

    def setUp(self):
        self.sm = client("secretsmanager")
        self.iam = client("iam")
        self.name = coffer_harness.unique("b3")

    def role(self, *statements, trust=None):
        role = self.iam.create_role(RoleName=self.name + "-" + coffer_harness.unique("r")[-6:],
                                    AssumeRolePolicyDocument=trust or trust_account())["Role"]
        if statements:
            self.iam.put_role_policy(RoleName=role["RoleName"], PolicyName="inline", PolicyDocument=doc(*statements))
        return role

    def test_assume_role_and_read_only_the_granted_secret(self):
        app = self.sm.create_secret(Name=f"{self.name}/app", SecretString="v1")
        self.sm.create_secret(Name=f"{self.name}/other", SecretString="v2")
        role = self.role({"Effect": "Allow", "Action": "secretsmanager:GetSecretValue", "Resource": app["ARN"]})
        creds = assume(role["Arn"], DurationSeconds=900)
        session = boto3.Session(aws_access_key_id=creds["AccessKeyId"], aws_secret_access_key=creds["SecretAccessKey"],
                                aws_session_token=creds["SessionToken"], region_name=REGION)
        sm = session.client("secretsmanager", endpoint_url=server().endpoint, config=NO_RETRY)
        self.assertEqual(sm.get_secret_value(SecretId=f"{self.name}/app")["SecretString"], "v1")
        code, message = error_code(lambda: sm.get_secret_value(SecretId=f"{self.name}/other"))
        self.assertEqual(code, "AccessDeniedException")
        self.assertNotIn("v2", message.split("because")[1])
        # A missing secret is AccessDenied too (names do not leak), for the ARN it would have.
        code, message = error_code(lambda: sm.get_secret_value(SecretId=f"{self.name}/missing"))
        self.assertEqual(code, "AccessDeniedException")
        self.assertIn(f":secret:{self.name}/missing because", message)
        # BatchGetSecretValue reports the denied one in Errors and returns the other.
        batch = sm.batch_get_secret_value(SecretIdList=[f"{self.name}/app", f"{self.name}/other"]) \
            if self._allow_batch(role) else None
        if batch is not None:
            self.assertEqual([v["Name"] for v in batch["SecretValues"]], [f"{self.name}/app"])
            self.assertEqual([(e["SecretId"], e["ErrorCode"]) for e in batch["Errors"]], [(f"{self.name}/other", "AccessDeniedException")])
        # Session policies only narrow: with a policy allowing only DescribeSecret, even the granted read fails.
        narrow = assume(role["Arn"], Policy=doc({"Effect": "Allow", "Action": "secretsmanager:DescribeSecret", "Resource": "*"}))
        code, message = error_code(lambda: client("secretsmanager", narrow).get_secret_value(SecretId=f"{self.name}/app"))
        self.assertEqual(code, "AccessDeniedException")
        self.assertIn("no session policy allows", message)

    def _allow_batch(self, role):
        self.iam.put_role_policy(RoleName=role["RoleName"], PolicyName="batch",
                                 PolicyDocument=doc({"Effect": "Allow", "Action": "secretsmanager:BatchGetSecretValue", "Resource": "*"}))
        return True

    def test_rotation_principal_limited_to_a_prefix(self):
        own = self.sm.create_secret(Name=f"rds/mydb/appuser-{self.name}", SecretString="old")
        elsewhere = self.sm.create_secret(Name=f"rds/mydb/admin-{self.name}", SecretString="admin")
        role = self.role({"Effect": "Allow", "Action": ["secretsmanager:DescribeSecret", "secretsmanager:GetSecretValue",
                                                        "secretsmanager:PutSecretValue", "secretsmanager:UpdateSecretVersionStage"],
                          "Resource": f"arn:aws:secretsmanager:*:{account()}:secret:rds/mydb/appuser-*"})
        sm = client("secretsmanager", assume(role["Arn"]))
        current = sm.describe_secret(SecretId=own["ARN"])
        old_version = [v for v, s in current["VersionIdsToStages"].items() if "AWSCURRENT" in s][0]
        put = sm.put_secret_value(SecretId=own["ARN"], SecretString="new", VersionStages=["AWSPENDING"],
                                  ClientRequestToken="11111111-2222-3333-4444-555555555555")
        sm.update_secret_version_stage(SecretId=own["ARN"], VersionStage="AWSCURRENT", MoveToVersionId=put["VersionId"],
                                       RemoveFromVersionId=old_version)
        self.assertEqual(sm.get_secret_value(SecretId=own["ARN"])["SecretString"], "new")
        for call in (lambda: sm.put_secret_value(SecretId=elsewhere["ARN"], SecretString="x"),
                     lambda: sm.update_secret_version_stage(SecretId=elsewhere["ARN"], VersionStage="X", MoveToVersionId=put["VersionId"]),
                     lambda: sm.get_secret_value(SecretId=elsewhere["ARN"]),
                     lambda: sm.delete_secret(SecretId=own["ARN"]),
                     lambda: sm.list_secrets()):
            self.assertEqual(error_code(call)[0], "AccessDeniedException")
        self.assertEqual(self.sm.get_secret_value(SecretId=elsewhere["ARN"])["SecretString"], "admin")

    def test_resource_policy_deny_beats_identity_allow(self):
        secret = self.sm.create_secret(Name=f"{self.name}/guarded", SecretString="g")
        role = self.role({"Effect": "Allow", "Action": "secretsmanager:*", "Resource": "*"})
        sm = client("secretsmanager", assume(role["Arn"]))
        self.assertEqual(sm.get_secret_value(SecretId=secret["ARN"])["SecretString"], "g")
        self.sm.put_resource_policy(SecretId=secret["ARN"], ResourcePolicy=doc(
            {"Effect": "Deny", "Principal": {"AWS": role["Arn"]}, "Action": "secretsmanager:GetSecretValue", "Resource": "*"}))
        code, message = error_code(lambda: sm.get_secret_value(SecretId=secret["ARN"]))
        self.assertEqual(code, "AccessDeniedException")
        self.assertIn("with an explicit deny in a resource-based policy", message)
        self.assertEqual(sm.describe_secret(SecretId=secret["ARN"])["Name"], f"{self.name}/guarded")

    def test_resource_policy_alone_grants_a_same_account_user(self):
        user = self.iam.create_user(UserName=self.name)["User"]
        key = self.iam.create_access_key(UserName=self.name)["AccessKey"]
        SEEN_SECRETS.append(key["SecretAccessKey"])
        shared = self.sm.create_secret(Name=f"{self.name}/shared", SecretString="shared")
        private = self.sm.create_secret(Name=f"{self.name}/private", SecretString="private")
        self.sm.put_resource_policy(SecretId=shared["ARN"], BlockPublicPolicy=True, ResourcePolicy=doc(
            {"Effect": "Allow", "Principal": {"AWS": user["Arn"]}, "Action": "secretsmanager:GetSecretValue", "Resource": "*"}))
        sm = client("secretsmanager", key)
        self.assertEqual(sm.get_secret_value(SecretId=shared["ARN"])["SecretString"], "shared")
        self.assertEqual(error_code(lambda: sm.get_secret_value(SecretId=private["ARN"]))[0], "AccessDeniedException")
        who = client("sts", key).get_caller_identity()
        self.assertEqual((who["Arn"], who["UserId"]), (user["Arn"], user["UserId"]))

    def test_public_policies_are_blocked_and_validated(self):
        secret = self.sm.create_secret(Name=f"{self.name}/pub", SecretString="p")
        public = doc({"Effect": "Allow", "Principal": "*", "Action": "secretsmanager:GetSecretValue", "Resource": "*"})
        self.assertEqual(error_code(lambda: self.sm.put_resource_policy(SecretId=secret["ARN"], ResourcePolicy=public,
                                                                         BlockPublicPolicy=True))[0], "PublicPolicyException")
        result = self.sm.validate_resource_policy(SecretId=secret["ARN"], ResourcePolicy=public)
        self.assertFalse(result["PolicyValidationPassed"])
        self.assertIn("PUBLIC_ACCESS_CHECK", [e["CheckName"] for e in result["ValidationErrors"]])
        ghost = doc({"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{account()}:role/no-such-role"},
                     "Action": "secretsmanager:GetSecretValue", "Resource": "*"})
        result = self.sm.validate_resource_policy(SecretId=secret["ARN"], ResourcePolicy=ghost)
        self.assertIn("PRINCIPAL_CHECK", [e["CheckName"] for e in result["ValidationErrors"]])
        self.assertEqual(error_code(lambda: self.sm.put_resource_policy(SecretId=secret["ARN"], ResourcePolicy='{"Statement":1}'))[0],
                         "MalformedPolicyDocumentException")

    def test_user_access_keys_lifecycle(self):
        self.iam.create_user(UserName=self.name)
        self.iam.put_user_policy(UserName=self.name, PolicyName="list", PolicyDocument=doc(
            {"Effect": "Allow", "Action": "secretsmanager:ListSecrets", "Resource": "*"}))
        k1 = self.iam.create_access_key(UserName=self.name)["AccessKey"]
        k2 = self.iam.create_access_key(UserName=self.name)["AccessKey"]
        SEEN_SECRETS.extend([k1["SecretAccessKey"], k2["SecretAccessKey"]])
        self.assertEqual(error_code(lambda: self.iam.create_access_key(UserName=self.name))[0], "LimitExceeded")
        listed = self.iam.list_access_keys(UserName=self.name)["AccessKeyMetadata"]
        self.assertEqual(sorted(k["AccessKeyId"] for k in listed), sorted([k1["AccessKeyId"], k2["AccessKeyId"]]))
        self.assertNotIn("SecretAccessKey", listed[0])
        client("secretsmanager", k1).list_secrets()
        self.iam.update_access_key(UserName=self.name, AccessKeyId=k1["AccessKeyId"], Status="Inactive")
        self.assertEqual(error_code(lambda: client("secretsmanager", k1).list_secrets())[0], "UnrecognizedClientException")
        self.iam.delete_access_key(UserName=self.name, AccessKeyId=k2["AccessKeyId"])
        self.assertEqual(error_code(lambda: client("secretsmanager", k2).list_secrets())[0], "UnrecognizedClientException")
        self.assertEqual(error_code(lambda: self.iam.delete_user(UserName=self.name))[0], "DeleteConflict")
        # The user itself cannot administer IAM.
        self.iam.update_access_key(UserName=self.name, AccessKeyId=k1["AccessKeyId"], Status="Active")
        code, message = error_code(lambda: client("iam", k1).create_user(UserName=self.name + "x"))
        self.assertEqual(code, "AccessDenied")
        self.assertIn("is not authorized to perform: iam:CreateUser", message)

    def test_session_token_credentials_cannot_call_iam(self):
        # AWS: GetSessionToken credentials without MFA cannot call IAM (InvalidClientTokenId); they can still
        # call Secrets Manager, GetCallerIdentity and AssumeRole.
        self.iam.create_user(UserName=self.name)
        self.iam.put_user_policy(UserName=self.name, PolicyName="all", PolicyDocument=doc(
            {"Effect": "Allow", "Action": "*", "Resource": "*"}))
        key = self.iam.create_access_key(UserName=self.name)["AccessKey"]
        SEEN_SECRETS.append(key["SecretAccessKey"])
        client("iam", key).list_users()
        creds = client("sts", key).get_session_token(DurationSeconds=900)["Credentials"]
        SEEN_SECRETS.extend([creds["SecretAccessKey"], creds["SessionToken"]])
        for call in (lambda: client("iam", creds).list_users(),
                     lambda: client("iam", creds).create_user(UserName=self.name + "x")):
            self.assertEqual(error_code(call)[0], "InvalidClientTokenId")
        self.assertEqual(error_code(lambda: self.iam.get_user(UserName=self.name + "x"))[0], "NoSuchEntity")
        client("secretsmanager", creds).list_secrets()
        self.assertTrue(client("sts", creds).get_caller_identity()["Arn"].endswith(f":user/{self.name}"))

    def test_policy_arns_on_assume_role_are_refused_not_ignored(self):
        role = self.role({"Effect": "Allow", "Action": "secretsmanager:*", "Resource": "*"})
        narrow = self.iam.create_policy(PolicyName=self.name, PolicyDocument=doc(
            {"Effect": "Allow", "Action": "secretsmanager:ListSecrets", "Resource": "*"}))["Policy"]["Arn"]
        code, message = error_code(lambda: client("sts").assume_role(RoleArn=role["Arn"], RoleSessionName="narrow",
                                                                      PolicyArns=[{"arn": narrow}]))
        self.assertEqual(code, "ValidationError")
        self.assertIn("PolicyArns", message)

    def test_control_characters_are_a_validation_error_not_a_crash(self):
        # Answers and error messages echo parameters in XML, which cannot carry them: 400, never an empty 500.
        self.iam.create_user(UserName=self.name)
        user_arn = f"arn:aws:iam::{account()}:user/{self.name}"
        for call in (lambda: self.iam.get_user(UserName=self.name + "\x01"),
                     lambda: self.iam.simulate_principal_policy(PolicySourceArn=user_arn, ActionNames=["secretsmanager:Get\x01"]),
                     lambda: self.iam.create_role(RoleName=self.name, AssumeRolePolicyDocument=trust_account(), Description="d\x02"),
                     lambda: client("sts").assume_role(RoleArn=user_arn, RoleSessionName="s\x03s")):
            self.assertEqual(error_code(call)[0], "ValidationError")
        self.assertEqual(self.iam.list_roles(PathPrefix="/")["IsTruncated"], False)
        self.assertEqual(error_code(lambda: self.iam.get_role(RoleName=self.name))[0], "NoSuchEntity")

    def test_lists_page_with_max_items_and_marker(self):
        # IAM pages: MaxItems (1-1000, default 100), IsTruncated and an opaque Marker; boto3's paginator follows it.
        path = f"/{self.name}/"
        names = sorted(f"{self.name}-{i:02d}" for i in range(7))
        for n in names:
            self.iam.create_user(UserName=n, Path=path)
        try:
            first = self.iam.list_users(PathPrefix=path, MaxItems=3)
            self.assertEqual([u["UserName"] for u in first["Users"]], names[:3])
            self.assertTrue(first["IsTruncated"])
            second = self.iam.list_users(PathPrefix=path, MaxItems=3, Marker=first["Marker"])
            self.assertEqual([u["UserName"] for u in second["Users"]], names[3:6])
            paged = [u["UserName"] for page in self.iam.get_paginator("list_users").paginate(
                PathPrefix=path, PaginationConfig={"PageSize": 2}) for u in page["Users"]]
            self.assertEqual(paged, names)
            whole = self.iam.list_users(PathPrefix=path)
            self.assertEqual((len(whole["Users"]), whole["IsTruncated"], "Marker" in whole), (7, False, False))
            # (MaxItems=0 never leaves botocore, which checks the minimum itself.)
            for bad in (lambda: self.iam.list_users(MaxItems=1001),
                        lambda: self.iam.list_users(Marker="not-a-marker")):
                self.assertEqual(error_code(bad)[0], "ValidationError")
        finally:
            for n in names:
                self.iam.delete_user(UserName=n)

    def test_permissions_boundary_bounds_a_delegated_administrators_roles(self):
        # The delegated-administration pattern: a team admin may create roles only with the boundary, and the
        # roles it makes can never do more than the boundary allows, whatever policies it gives them.
        team = self.sm.create_secret(Name=f"{self.name}/team/db", SecretString="team-pw")
        other = self.sm.create_secret(Name=f"{self.name}/other", SecretString="other-pw")
        boundary = self.iam.create_policy(PolicyName=f"{self.name}-boundary", PolicyDocument=doc(
            {"Effect": "Allow", "Action": "secretsmanager:GetSecretValue",
             "Resource": f"arn:aws:secretsmanager:*:*:secret:{self.name}/team/*"}))["Policy"]["Arn"]
        self.iam.create_user(UserName=self.name)
        with_boundary = {"StringEquals": {"iam:PermissionsBoundary": boundary}}
        self.iam.put_user_policy(UserName=self.name, PolicyName="delegated", PolicyDocument=doc(
            {"Effect": "Allow", "Action": ["iam:CreateRole", "iam:PutRolePolicy"], "Resource": "*", "Condition": with_boundary},
            {"Effect": "Allow", "Action": ["iam:GetRole", "sts:AssumeRole"], "Resource": "*"},
            {"Effect": "Deny", "Action": "iam:DeleteRolePermissionsBoundary", "Resource": "*"}))
        key = self.iam.create_access_key(UserName=self.name)["AccessKey"]
        SEEN_SECRETS.append(key["SecretAccessKey"])
        dev = {"AccessKeyId": key["AccessKeyId"], "SecretAccessKey": key["SecretAccessKey"]}
        dev_iam = client("iam", dev)

        role_name = f"{self.name}-app"
        code, message = error_code(lambda: dev_iam.create_role(RoleName=role_name, AssumeRolePolicyDocument=trust_account()))
        self.assertEqual(code, "AccessDenied")
        self.assertIn("iam:CreateRole", message)
        role = dev_iam.create_role(RoleName=role_name, AssumeRolePolicyDocument=trust_account(), PermissionsBoundary=boundary)["Role"]
        self.assertEqual(role["PermissionsBoundary"], {"PermissionsBoundaryType": "Policy", "PermissionsBoundaryArn": boundary})
        self.assertEqual(dev_iam.get_role(RoleName=role_name)["Role"]["PermissionsBoundary"]["PermissionsBoundaryArn"], boundary)
        self.assertNotIn("PermissionsBoundary", [r for r in self.iam.list_roles()["Roles"] if r["RoleName"] == role_name][0])
        dev_iam.put_role_policy(RoleName=role_name, PolicyName="all", PolicyDocument=doc(
            {"Effect": "Allow", "Action": "secretsmanager:*", "Resource": "*"}))

        creds = client("sts", dev).assume_role(RoleArn=role["Arn"], RoleSessionName="app")["Credentials"]
        SEEN_SECRETS.extend([creds["SecretAccessKey"], creds["SessionToken"]])
        app = client("secretsmanager", creds)
        self.assertEqual(app.get_secret_value(SecretId=team["ARN"])["SecretString"], "team-pw")
        code, message = error_code(lambda: app.get_secret_value(SecretId=other["ARN"]))
        self.assertEqual(code, "AccessDeniedException")
        self.assertIn("because no permissions boundary allows the secretsmanager:GetSecretValue action", message)
        self.assertEqual(error_code(lambda: app.delete_secret(SecretId=team["ARN"]))[0], "AccessDeniedException")

        # The boundary stays: the team admin may not remove it, and its policy cannot be deleted while in use.
        self.assertEqual(error_code(lambda: dev_iam.delete_role_permissions_boundary(RoleName=role_name))[0], "AccessDenied")
        self.assertEqual(self.iam.get_policy(PolicyArn=boundary)["Policy"]["PermissionsBoundaryUsageCount"], 1)
        listed = lambda usage: [p["Arn"] for p in self.iam.list_policies(OnlyAttached=True, PolicyUsageFilter=usage)["Policies"]]
        self.assertIn(boundary, listed("PermissionsBoundary"))
        self.assertNotIn(boundary, listed("PermissionsPolicy"))
        self.assertEqual(error_code(lambda: self.iam.delete_policy(PolicyArn=boundary))[0], "DeleteConflict")
        missing = boundary.replace("-boundary", "-nope")
        code, message = error_code(lambda: self.iam.put_user_permissions_boundary(UserName=self.name, PermissionsBoundary=missing))
        self.assertEqual((code, message), ("NoSuchEntity", f"Scope ARN: {missing} does not exist or is not attachable."))
        # A user's boundary bounds the user: the team admin itself can no longer read roles.
        self.iam.put_user_permissions_boundary(UserName=self.name, PermissionsBoundary=boundary)
        self.assertEqual(self.iam.get_user(UserName=self.name)["User"]["PermissionsBoundary"]["PermissionsBoundaryArn"], boundary)
        code, message = error_code(lambda: dev_iam.get_role(RoleName=role_name))
        self.assertEqual(code, "AccessDenied")
        self.assertIn("because no permissions boundary allows the iam:GetRole action", message)
        sim = self.iam.simulate_principal_policy(PolicySourceArn=f"arn:aws:iam::{account()}:user/{self.name}",
                                                 ActionNames=["iam:GetRole"])["EvaluationResults"][0]
        self.assertEqual((sim["EvalDecision"], sim["PermissionsBoundaryDecisionDetail"]), ("implicitDeny", {"AllowedByPermissionsBoundary": False}))
        self.iam.delete_user_permissions_boundary(UserName=self.name)
        self.assertEqual(dev_iam.get_role(RoleName=role_name)["Role"]["RoleName"], role_name)

        # Removed by the account's administrator, the role's own policies apply in full to new sessions.
        self.iam.delete_role_permissions_boundary(RoleName=role_name)
        self.assertNotIn("PermissionsBoundary", self.iam.get_role(RoleName=role_name)["Role"])
        creds = client("sts", dev).assume_role(RoleArn=role["Arn"], RoleSessionName="app2")["Credentials"]
        SEEN_SECRETS.extend([creds["SecretAccessKey"], creds["SessionToken"]])
        self.assertEqual(client("secretsmanager", creds).get_secret_value(SecretId=other["ARN"])["SecretString"], "other-pw")

    def test_boundaries_replaced_removed_and_deleted_with_their_entity(self):
        # A replaced boundary, or one whose user or role is deleted, no longer counts in GetPolicy's
        # PermissionsBoundaryUsageCount; removing a boundary an entity does not have succeeds, as in IAM.
        first, second = (self.iam.create_policy(PolicyName=f"{self.name}-{n}", PolicyDocument=doc(
            {"Effect": "Allow", "Action": "secretsmanager:ListSecrets", "Resource": "*"}))["Policy"]["Arn"] for n in ("first", "second"))
        path, role_name = f"/{self.name}/", f"{self.name}-app"
        tags = [{"Key": "team", "Value": "blue"}]
        user = self.iam.create_user(UserName=self.name, Path=path, PermissionsBoundary=first, Tags=tags)["User"]
        self.assertEqual(user["PermissionsBoundary"], {"PermissionsBoundaryType": "Policy", "PermissionsBoundaryArn": first})
        got = self.iam.get_user(UserName=self.name)["User"]
        self.assertEqual((got["PermissionsBoundary"]["PermissionsBoundaryType"], got["Tags"]), ("Policy", tags))
        # ListUsers/ListRoles return neither the boundary nor the tags (API Reference).
        listed = self.iam.list_users(PathPrefix=path)["Users"][0]
        self.assertEqual((listed["UserName"], "PermissionsBoundary" in listed, "Tags" in listed), (self.name, False, False))
        self.iam.create_role(RoleName=role_name, Path=path, AssumeRolePolicyDocument=trust_account(), PermissionsBoundary=first, Tags=tags)
        self.assertEqual(self.iam.get_role(RoleName=role_name)["Role"]["Tags"], tags)
        listed = self.iam.list_roles(PathPrefix=path)["Roles"][0]
        self.assertEqual((listed["RoleName"], "PermissionsBoundary" in listed, "Tags" in listed), (role_name, False, False))

        def counts():
            return tuple(self.iam.get_policy(PolicyArn=arn)["Policy"]["PermissionsBoundaryUsageCount"] for arn in (first, second))

        self.assertEqual(counts(), (2, 0))
        self.iam.put_user_permissions_boundary(UserName=self.name, PermissionsBoundary=second)
        self.assertEqual(counts(), (1, 1))
        self.iam.delete_role(RoleName=role_name)
        self.assertEqual(counts(), (0, 1))
        self.iam.delete_user_permissions_boundary(UserName=self.name)
        self.iam.delete_user_permissions_boundary(UserName=self.name)
        self.assertNotIn("PermissionsBoundary", self.iam.get_user(UserName=self.name)["User"])
        self.assertEqual(counts(), (0, 0))
        self.iam.delete_role_permissions_boundary(RoleName=self.role()["RoleName"])
        self.assertEqual(error_code(lambda: self.iam.delete_role_permissions_boundary(RoleName=role_name))[0], "NoSuchEntity")
        self.iam.put_user_permissions_boundary(UserName=self.name, PermissionsBoundary=second)
        self.iam.delete_user(UserName=self.name)
        self.assertEqual(counts(), (0, 0))
        for arn in (first, second):
            self.iam.delete_policy(PolicyArn=arn)

    def test_a_resource_policy_naming_the_session_is_not_limited_by_its_session_policy_or_boundary(self):
        # AWS: a resource policy naming the session ARN grants in addition to the session policy (and past the role's
        # boundary); one naming the role ARN is limited by both.
        secret = self.sm.create_secret(Name=f"{self.name}/shared", SecretString="shared-pw")
        boundary = self.iam.create_policy(PolicyName=f"{self.name}-list-only", PolicyDocument=doc(
            {"Effect": "Allow", "Action": "secretsmanager:ListSecrets", "Resource": "*"}))["Policy"]["Arn"]
        role = self.iam.create_role(RoleName=f"{self.name}-reader", AssumeRolePolicyDocument=trust_account())["Role"]
        session_policy = doc({"Effect": "Allow", "Action": "secretsmanager:ListSecrets", "Resource": "*"})
        creds = assume(role["Arn"], Policy=session_policy)
        session_arn = client("sts", creds).get_caller_identity()["Arn"]
        app = client("secretsmanager", creds)

        def grant(principal):
            self.sm.put_resource_policy(SecretId=secret["ARN"], ResourcePolicy=doc(
                {"Effect": "Allow", "Principal": {"AWS": principal}, "Action": "secretsmanager:GetSecretValue", "Resource": "*"}))

        grant(role["Arn"])
        code, message = error_code(lambda: app.get_secret_value(SecretId=secret["ARN"]))
        self.assertEqual(code, "AccessDeniedException")
        self.assertIn("because no session policy allows the secretsmanager:GetSecretValue action", message)
        grant(session_arn)
        self.assertEqual(app.get_secret_value(SecretId=secret["ARN"])["SecretString"], "shared-pw")
        self.iam.put_role_permissions_boundary(RoleName=role["RoleName"], PermissionsBoundary=boundary)
        self.assertEqual(app.get_secret_value(SecretId=secret["ARN"])["SecretString"], "shared-pw")
        self.iam.delete_role_permissions_boundary(RoleName=role["RoleName"])

    def test_groups_managed_policy_versions_and_simulation(self):
        user = self.iam.create_user(UserName=self.name)["User"]
        self.iam.create_group(GroupName=self.name)
        self.iam.add_user_to_group(GroupName=self.name, UserName=self.name)
        arn = self.iam.create_policy(PolicyName=self.name, PolicyDocument=doc(
            {"Sid": "Describe", "Effect": "Allow", "Action": "secretsmanager:DescribeSecret", "Resource": "*"}))["Policy"]["Arn"]
        self.iam.attach_group_policy(GroupName=self.name, PolicyArn=arn)
        group_arn = f"arn:aws:iam::{account()}:group/{self.name}"
        for source in (user["Arn"], group_arn):   # a group's own policies can be simulated too
            sim = self.iam.simulate_principal_policy(PolicySourceArn=source,
                                                     ActionNames=["secretsmanager:DescribeSecret", "secretsmanager:GetSecretValue"])
            decisions = {r["EvalActionName"]: r["EvalDecision"] for r in sim["EvaluationResults"]}
            self.assertEqual(decisions, {"secretsmanager:DescribeSecret": "allowed", "secretsmanager:GetSecretValue": "implicitDeny"})
        matched = sim["EvaluationResults"][0]["MatchedStatements"][0]["SourcePolicyId"]
        self.assertIn(arn, matched)
        self.assertIn("Describe", matched)
        v2 = self.iam.create_policy_version(PolicyArn=arn, SetAsDefault=True, PolicyDocument=doc(
            {"Sid": "Deny", "Effect": "Deny", "Action": "secretsmanager:*", "Resource": "*"}))["PolicyVersion"]
        self.assertEqual((v2["VersionId"], v2["IsDefaultVersion"]), ("v2", True))
        got = self.iam.get_policy_version(PolicyArn=arn, VersionId="v2")["PolicyVersion"]
        self.assertEqual(got["Document"]["Statement"][0]["Effect"], "Deny")
        sim = self.iam.simulate_principal_policy(PolicySourceArn=user["Arn"], ActionNames=["secretsmanager:DescribeSecret"])
        self.assertEqual(sim["EvaluationResults"][0]["EvalDecision"], "explicitDeny")
        self.iam.set_default_policy_version(PolicyArn=arn, VersionId="v1")
        self.assertEqual(self.iam.get_policy(PolicyArn=arn)["Policy"]["DefaultVersionId"], "v1")
        self.assertEqual(error_code(lambda: self.iam.delete_policy(PolicyArn=arn))[0], "DeleteConflict")
        self.assertEqual(error_code(lambda: self.iam.get_user(UserName=self.name + "nobody"))[0], "NoSuchEntity")
        self.assertEqual(error_code(lambda: self.iam.create_user(UserName=self.name))[0], "EntityAlreadyExists")
        self.assertEqual(error_code(lambda: self.iam.create_policy(PolicyName=self.name + "bad", PolicyDocument='{"Version":"2012-10-17"}'))[0],
                         "MalformedPolicyDocument")

    def test_trust_policy_is_checked(self):
        other = self.iam.create_user(UserName=self.name)["User"]
        key = self.iam.create_access_key(UserName=self.name)["AccessKey"]
        SEEN_SECRETS.append(key["SecretAccessKey"])
        role = self.role(trust=doc({"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{account()}:user/someone-else"},
                                    "Action": "sts:AssumeRole"}))
        sts = client("sts", key)
        self.assertEqual(error_code(lambda: sts.assume_role(RoleArn=role["Arn"], RoleSessionName="xx"))[0], "AccessDenied")
        self.iam.update_assume_role_policy(RoleName=role["RoleName"], PolicyDocument=doc(
            {"Effect": "Allow", "Principal": {"AWS": other["Arn"]}, "Action": "sts:AssumeRole"}))
        creds = sts.assume_role(RoleArn=role["Arn"], RoleSessionName="xx")["Credentials"]
        SEEN_SECRETS.extend([creds["SecretAccessKey"], creds["SessionToken"]])
        self.assertEqual(error_code(lambda: client("sts").assume_role(RoleArn=role["Arn"], RoleSessionName="xx", DurationSeconds=43201))[0],
                         "ValidationError")
        forged = dict(creds, SessionToken=creds["SessionToken"][:-8] + "AAAAAAA=")
        self.assertEqual(error_code(lambda: client("secretsmanager", forged).list_secrets())[0], "UnrecognizedClientException")


class CofferAdmin(unittest.TestCase):
    """`coffer admin` against the running server with the administrator's credentials."""

    def admin(self, *args):
        env = dict(os.environ, AWS_ACCESS_KEY_ID="test", AWS_SECRET_ACCESS_KEY="test")
        return subprocess.run(coffer_harness.coffer_command() + ["admin", "--endpoint-url", server().endpoint, *args],
                              env=env, capture_output=True, text=True, timeout=60, cwd=coffer_harness.REPO_ROOT)

    def test_create_principal_can_and_revoke(self):
        name = coffer_harness.unique("adm")
        sm = client("secretsmanager")
        sm.create_secret(Name=f"{name}/db", SecretString="db-value")
        other = sm.create_secret(Name=f"{name}/other", SecretString="o")
        created = self.admin("create-principal", name, "--secret", f"{name}/db")
        self.assertEqual(created.returncode, 0, created.stderr)
        lines = dict(line.split(" = ") for line in created.stdout.splitlines() if " = " in line)
        key = {"AccessKeyId": lines["aws_access_key_id"], "SecretAccessKey": lines["aws_secret_access_key"]}
        SEEN_SECRETS.append(key["SecretAccessKey"])
        self.assertEqual(client("secretsmanager", key).get_secret_value(SecretId=f"{name}/db")["SecretString"], "db-value")
        self.assertEqual(error_code(lambda: client("secretsmanager", key).get_secret_value(SecretId=other["ARN"]))[0], "AccessDeniedException")

        allowed = self.admin("can", name, "secretsmanager:GetSecretValue", f"{name}/db")
        self.assertEqual(allowed.returncode, 0, allowed.stderr)
        self.assertIn("ALLOWED", allowed.stdout)
        self.assertIn("coffer-admin-scoped statement 0", allowed.stdout)
        denied = self.admin("can", name, "secretsmanager:PutSecretValue", f"{name}/db")
        self.assertEqual(denied.returncode, 3)
        self.assertIn("DENIED (implicitDeny)", denied.stdout)
        self.assertIn("no statement allows it", denied.stdout)
        # With a permissions boundary that leaves the action out, the answer names the boundary.
        boundary = client("iam").create_policy(PolicyName=f"{name}-boundary", PolicyDocument=doc(
            {"Effect": "Allow", "Action": "secretsmanager:DescribeSecret", "Resource": "*"}))["Policy"]["Arn"]
        client("iam").put_user_permissions_boundary(UserName=name, PermissionsBoundary=boundary)
        bounded = self.admin("can", name, "secretsmanager:GetSecretValue", f"{name}/db")
        self.assertEqual(bounded.returncode, 3)
        self.assertIn("the permissions boundary does not allow it", bounded.stdout)
        client("iam").delete_user_permissions_boundary(UserName=name)

        revoked = self.admin("revoke-key", name, key["AccessKeyId"])
        self.assertEqual(revoked.returncode, 0, revoked.stderr)
        self.assertEqual(error_code(lambda: client("secretsmanager", key).list_secrets())[0], "UnrecognizedClientException")


class Expiry(unittest.TestCase):
    """Temporary credentials stop working at their expiry (a server whose sessions last 3 s)."""

    @classmethod
    def setUpClass(cls):
        cls.srv = coffer_harness.CofferServer(name="iam-expiry", env={"COFFER_TEST_SESSION_LIFETIME_SECONDS": "3"}).start()

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()

    def test_expired_credentials_are_refused(self):
        iam = client("iam", srv=self.srv)
        acct = client("sts", srv=self.srv).get_caller_identity()["Account"]
        role = iam.create_role(RoleName="expiring", AssumeRolePolicyDocument=doc(
            {"Effect": "Allow", "Principal": {"AWS": acct}, "Action": "sts:AssumeRole"}))["Role"]
        iam.put_role_policy(RoleName="expiring", PolicyName="list", PolicyDocument=doc(
            {"Effect": "Allow", "Action": "secretsmanager:ListSecrets", "Resource": "*"}))
        creds = assume(role["Arn"], srv=self.srv, DurationSeconds=900)
        sm = client("secretsmanager", creds, srv=self.srv)
        sm.list_secrets()
        deadline = creds["Expiration"].timestamp()
        time.sleep(max(0.0, deadline - time.time()) + 0.5)
        code, message = error_code(lambda: sm.list_secrets())
        self.assertEqual(code, "ExpiredTokenException")
        self.assertEqual(message, "The security token included in the request is expired")
        code, _ = error_code(lambda: client("sts", creds, srv=self.srv).get_caller_identity())
        self.assertEqual(code, "ExpiredToken")


class ZzNoCredentialsInLogs(unittest.TestCase):
    """Runs last in this module: nothing handed out above appears in the server's log."""

    def test_keys_and_tokens_never_logged(self):
        self.assertTrue(SEEN_SECRETS, "earlier tests handed out credentials")
        log = server().log_text()
        self.assertTrue(log)
        for secret in SEEN_SECRETS:
            self.assertNotIn(secret, log)
            self.assertNotIn(secret[:24], log)


if __name__ == "__main__":
    unittest.main()
