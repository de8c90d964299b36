"""Attribute-based access control end to end: session tags, SourceIdentity and IAM's tagging actions with the
unmodified AWS CLI and boto3 against a real coffer server.

The ABAC policy of platform teams: a role may read a secret when the secret's `team` tag equals the caller's
`aws:PrincipalTag/team` — the session tag passed to AssumeRole, else the role's own tag.
"""

import json
import os
import shutil
import subprocess
import unittest

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

import coffer_harness

NO_RETRY = Config(retries={"max_attempts": 1, "mode": "standard"})
REGION = coffer_harness.DEFAULT_REGION
SEEN_SECRETS: list[str] = []   # session secrets and tokens handed out; none may reach the log


def setUpModule():
    coffer_harness.start_module_server(__name__)


def tearDownModule():
    coffer_harness.stop_module_server(__name__)


def server():
    return coffer_harness.module_server(__name__)


def client(service, creds=None):
    creds = creds or {"AccessKeyId": "test", "SecretAccessKey": "test"}
    return boto3.client(service, endpoint_url=server().endpoint, region_name=REGION, config=NO_RETRY,
                        aws_access_key_id=creds["AccessKeyId"], aws_secret_access_key=creds["SecretAccessKey"],
                        aws_session_token=creds.get("SessionToken"))


def doc(*statements):
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def account():
    return client("sts").get_caller_identity()["Account"]


def trust(*actions):
    return doc({"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{account()}:root"}, "Action": list(actions)})


# Read a secret only when its team tag is the caller's team (the session's tag, else the role's).
ABAC = doc({"Effect": "Allow", "Action": "secretsmanager:GetSecretValue", "Resource": "*",
            "Condition": {"StringEquals": {"secretsmanager:ResourceTag/team": "${aws:PrincipalTag/team}"}}})


def assume(role_arn, creds=None, **kwargs):
    result = client("sts", creds).assume_role(RoleArn=role_arn, RoleSessionName="abac", **kwargs)
    SEEN_SECRETS.extend([result["Credentials"]["SecretAccessKey"], result["Credentials"]["SessionToken"]])
    return result


def error(call):
    try:
        call()
    except ClientError as e:
        return e.response["Error"]["Code"], e.response["Error"]["Message"]
    raise AssertionError("the call succeeded")


class Abac(unittest.TestCase):

    def setUp(self):
        self.name = coffer_harness.unique("abac")
        self.sm = client("secretsmanager")
        self.iam = client("iam")
        self.blue = self.sm.create_secret(Name=f"{self.name}/blue", SecretString="blue-value", Tags=[{"Key": "team", "Value": "blue"}])
        self.red = self.sm.create_secret(Name=f"{self.name}/red", SecretString="red-value", Tags=[{"Key": "team", "Value": "red"}])

    def role(self, *trust_actions, suffix="role"):
        role = self.iam.create_role(RoleName=f"{self.name}-{suffix}", AssumeRolePolicyDocument=trust(*trust_actions))["Role"]
        self.iam.put_role_policy(RoleName=role["RoleName"], PolicyName="abac", PolicyDocument=ABAC)
        return role

    def reads(self, creds):
        """Which of the two secrets the credentials may read."""
        sm = client("secretsmanager", creds)
        readable = []
        for secret, color in ((self.blue, "blue"), (self.red, "red")):
            try:
                self.assertEqual(sm.get_secret_value(SecretId=secret["ARN"])["SecretString"], f"{color}-value")
                readable.append(color)
            except ClientError as e:
                self.assertEqual(e.response["Error"]["Code"], "AccessDeniedException")
                self.assertNotIn(f"{color}-value", e.response["Error"]["Message"])
        return readable

    def aws(self, *args):
        env = dict(os.environ)
        env.update({"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_DEFAULT_REGION": REGION,
                    "AWS_CONFIG_FILE": os.devnull, "AWS_SHARED_CREDENTIALS_FILE": os.devnull, "AWS_MAX_ATTEMPTS": "1"})
        for var in ("AWS_SESSION_TOKEN", "AWS_PROFILE"):
            env.pop(var, None)
        proc = subprocess.run([shutil.which("aws"), "--endpoint-url", server().endpoint, "--output", "json", *args],
                              env=env, capture_output=True, text=True, timeout=60)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        return json.loads(proc.stdout) if proc.stdout.strip() else None

    def test_session_tag_decides_what_the_session_reads_with_the_aws_cli(self):
        if shutil.which("aws") is None:
            self.skipTest("aws CLI not installed")
        role = self.role("sts:AssumeRole", "sts:TagSession", "sts:SetSourceIdentity")
        out = self.aws("sts", "assume-role", "--role-arn", role["Arn"], "--role-session-name", "blue-session",
                       "--tags", "Key=team,Value=blue", "--transitive-tag-keys", "team", "--source-identity", "alice")
        self.assertEqual(out["SourceIdentity"], "alice")
        self.assertGreater(out["PackedPolicySize"], 0)
        creds = out["Credentials"]
        SEEN_SECRETS.extend([creds["SecretAccessKey"], creds["SessionToken"]])
        self.assertEqual(self.reads(creds), ["blue"])
        # The role's own tag does not beat the session tag of the same key.
        self.aws("iam", "tag-role", "--role-name", role["RoleName"], "--tags", "Key=Team,Value=red")
        self.assertEqual(self.reads(creds), ["blue"])

    def test_tags_need_sts_TagSession_in_the_trust_policy(self):
        role = self.role("sts:AssumeRole")
        code, message = error(lambda: assume(role["Arn"], Tags=[{"Key": "team", "Value": "blue"}]))
        self.assertEqual(code, "AccessDenied")
        self.assertIn(f"is not authorized to perform: sts:TagSession on resource: {role['Arn']}", message)
        code, message = error(lambda: assume(role["Arn"], SourceIdentity="alice"))
        self.assertEqual(code, "AccessDenied")
        self.assertIn("sts:SetSourceIdentity", message)
        # Without tags the same trust policy still lets the role be assumed; untagged, the session reads nothing.
        self.assertEqual(self.reads(assume(role["Arn"])["Credentials"]), [])
        # Tag validation as STS answers it.
        self.assertEqual(error(lambda: assume(role["Arn"], Tags=[{"Key": "team", "Value": "a"}, {"Key": "TEAM", "Value": "b"}]))[0],
                         "InvalidParameterValue")
        self.assertEqual(error(lambda: assume(role["Arn"], Tags=[{"Key": "team", "Value": "a"}], TransitiveTagKeys=["other"]))[0],
                         "InvalidParameterValue")

    def test_TagRole_changes_what_a_fresh_session_reads(self):
        role = self.role("sts:AssumeRole", "sts:TagSession")
        self.assertEqual(self.reads(assume(role["Arn"])["Credentials"]), [])
        self.iam.tag_role(RoleName=role["RoleName"], Tags=[{"Key": "team", "Value": "red"}, {"Key": "cost", "Value": "42"}])
        self.assertEqual(self.iam.list_role_tags(RoleName=role["RoleName"])["Tags"],
                         [{"Key": "cost", "Value": "42"}, {"Key": "team", "Value": "red"}])
        self.assertEqual(self.reads(assume(role["Arn"])["Credentials"]), ["red"])
        # A session tag overrides the role's tag for that session only.
        self.assertEqual(self.reads(assume(role["Arn"], Tags=[{"Key": "team", "Value": "blue"}])["Credentials"]), ["blue"])
        self.iam.tag_role(RoleName=role["RoleName"], Tags=[{"Key": "Team", "Value": "blue"}])   # replaces "team", any case
        self.assertEqual(self.reads(assume(role["Arn"])["Credentials"]), ["blue"])
        self.iam.untag_role(RoleName=role["RoleName"], TagKeys=["TEAM"])
        self.assertEqual(self.iam.list_role_tags(RoleName=role["RoleName"])["Tags"], [{"Key": "cost", "Value": "42"}])
        self.assertEqual(self.reads(assume(role["Arn"])["Credentials"]), [])
        too_many = [{"Key": f"k{i}", "Value": "v"} for i in range(50)]   # 51 with "cost"
        self.assertEqual(error(lambda: self.iam.tag_role(RoleName=role["RoleName"], Tags=too_many))[0], "LimitExceeded")

    def test_transitive_tags_and_source_identity_survive_role_chaining(self):
        first = self.role("sts:AssumeRole", "sts:TagSession", "sts:SetSourceIdentity", suffix="first")
        self.iam.put_role_policy(RoleName=first["RoleName"], PolicyName="chain",
                                 PolicyDocument=doc({"Effect": "Allow", "Action": "sts:*", "Resource": "*"}))
        second = self.role("sts:AssumeRole", "sts:TagSession", "sts:SetSourceIdentity", suffix="second")
        self.iam.tag_role(RoleName=second["RoleName"], Tags=[{"Key": "team", "Value": "red"}])
        s1 = assume(first["Arn"], Tags=[{"Key": "team", "Value": "blue"}], TransitiveTagKeys=["team"], SourceIdentity="alice")
        chained = assume(second["Arn"], creds=s1["Credentials"])
        self.assertEqual(chained["SourceIdentity"], "alice")
        self.assertEqual(self.reads(chained["Credentials"]), ["blue"])   # the inherited tag beats the role's
        code, _ = error(lambda: assume(second["Arn"], creds=s1["Credentials"], Tags=[{"Key": "Team", "Value": "red"}]))
        self.assertEqual(code, "InvalidParameterValue")
        code, _ = error(lambda: assume(second["Arn"], creds=s1["Credentials"], SourceIdentity="mallory"))
        self.assertEqual(code, "AccessDenied")

    def test_user_tags_are_principal_tags(self):
        user = self.iam.create_user(UserName=self.name)["User"]
        self.iam.put_user_policy(UserName=self.name, PolicyName="abac", PolicyDocument=ABAC)
        key = self.iam.create_access_key(UserName=self.name)["AccessKey"]
        SEEN_SECRETS.append(key["SecretAccessKey"])
        self.assertEqual(self.reads(key), [])
        self.iam.tag_user(UserName=self.name, Tags=[{"Key": "team", "Value": "red"}])
        self.assertEqual(self.iam.list_user_tags(UserName=self.name)["Tags"], [{"Key": "team", "Value": "red"}])
        self.assertEqual(self.iam.get_user(UserName=self.name)["User"]["Tags"], [{"Key": "team", "Value": "red"}])
        self.assertEqual(self.reads(key), ["red"])
        self.iam.untag_user(UserName=self.name, TagKeys=["team"])
        self.assertEqual(self.reads(key), [])
        self.assertEqual(error(lambda: self.iam.tag_user(UserName=self.name + "-none", Tags=[{"Key": "k", "Value": "v"}]))[0], "NoSuchEntity")
        self.assertEqual(user["Arn"], self.iam.get_user(UserName=self.name)["User"]["Arn"])

    def test_the_audit_trail_names_the_source_identity(self):
        role = self.role("sts:AssumeRole", "sts:SetSourceIdentity", suffix="audited")
        creds = assume(role["Arn"], SourceIdentity="auditor-7")["Credentials"]
        self.reads(creds)
        events = client("cloudtrail").lookup_events(LookupAttributes=[{"AttributeKey": "EventName", "AttributeValue": "GetSecretValue"}],
                                                    MaxResults=50)["Events"]
        records = [json.loads(e["CloudTrailEvent"]) for e in events]
        mine = [r for r in records if r["userIdentity"].get("arn", "").endswith(f":assumed-role/{role['RoleName']}/abac")]
        self.assertTrue(mine)
        self.assertTrue(all(r["userIdentity"]["sessionContext"]["sourceIdentity"] == "auditor-7" for r in mine))


class ZzNoCredentialsInLogs(unittest.TestCase):
    """Runs last in this module: nothing handed out above appears in the server's log."""

    def test_keys_and_tokens_never_logged(self):
        self.assertTrue(SEEN_SECRETS, "earlier tests handed out credentials")
        log = server().log_text()
        for secret in SEEN_SECRETS:
            self.assertNotIn(secret, log)
            self.assertNotIn(secret[:24], log)


if __name__ == "__main__":
    unittest.main()
