"""The AWS CLI v1 (`aws` on PATH, from the machine's python3) and v2 (Debian's awscli, `/usr/bin/aws`) against a
real coffer server, through subprocess with --endpoint-url and the usual environment variables.

scripts/install-test-deps.sh installs the v2 CLI; where it is missing locally, the v2 class skips with a message.
"""

import json
import os
import shutil
import subprocess
import tempfile
import unittest
import uuid

import coffer_harness

NOT_FOUND = "Secrets Manager can't find the specified secret."
AWS_V2 = coffer_harness.AWS_CLI_V2


def setUpModule():
    coffer_harness.start_module_server(__name__)


def tearDownModule():
    coffer_harness.stop_module_server(__name__)


find_v1 = coffer_harness.find_aws_cli_v1


class CliResult:
    def __init__(self, proc: subprocess.CompletedProcess):
        self.code = proc.returncode
        self.stdout = proc.stdout
        self.stderr = proc.stderr

    @property
    def json(self):
        return json.loads(self.stdout) if self.stdout.strip() else {}


class CliTests:
    """Mixed into one TestCase per CLI major version."""

    cli: str | None = None
    major: int = 0
    error_exit_code: int = 0
    _version_text = ""

    @classmethod
    def setUpClass(cls):
        if cls.cli is None or not os.path.exists(cls.cli):
            raise unittest.SkipTest(f"AWS CLI v{cls.major} not found ({cls.cli}); "
                                                  "scripts/install-test-deps.sh installs it")
        cls._home = tempfile.mkdtemp(prefix="coffer-awscli-")
        cls._version_text = cls._raw(["--version"]).stdout + cls._raw(["--version"]).stderr
        if f"aws-cli/{cls.major}." not in cls._version_text:
            raise unittest.SkipTest(f"{cls.cli} is not AWS CLI v{cls.major}: {cls._version_text!r}")

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(getattr(cls, "_home", ""), ignore_errors=True)

    @classmethod
    def _env(cls, region="us-east-1", access_key="test", secret_key="test"):
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env.update({
            "AWS_ACCESS_KEY_ID": access_key,
            "AWS_SECRET_ACCESS_KEY": secret_key,
            "AWS_DEFAULT_REGION": region,
            # Keep the user's own configuration out, and v2's pager and prompts off.
            "AWS_CONFIG_FILE": os.path.join(cls._home, "config"),
            "AWS_SHARED_CREDENTIALS_FILE": os.path.join(cls._home, "credentials"),
            "AWS_PAGER": "",
            "AWS_CLI_AUTO_PROMPT": "off",
            "AWS_EC2_METADATA_DISABLED": "true",
            "AWS_MAX_ATTEMPTS": "1",
            "HOME": cls._home,
        })
        return env

    @classmethod
    def _raw(cls, args, **env_kwargs) -> CliResult:
        proc = subprocess.run([cls.cli] + args, capture_output=True, text=True, timeout=120,
                              env=cls._env(**env_kwargs) if hasattr(cls, "_home") else None,
                              stdin=subprocess.DEVNULL)
        return CliResult(proc)

    def aws(self, *args, expect_ok=True, **env_kwargs) -> CliResult:
        server = coffer_harness.module_server(__name__)
        result = self._raw(["--endpoint-url", server.endpoint, "--output", "json", "secretsmanager", *args],
                           **env_kwargs)
        if expect_ok:
            self.assertEqual(0, result.code, f"aws {' '.join(args)} failed:\n{result.stderr}")
        return result

    def ok(self, *args, **env_kwargs):
        return self.aws(*args, **env_kwargs).json

    def fails(self, *args, code: str, message: str | None = None, **env_kwargs) -> CliResult:
        result = self.aws(*args, expect_ok=False, **env_kwargs)
        self.assertEqual(self.error_exit_code, result.code, f"exit code; stderr:\n{result.stderr}")
        self.assertIn(f"({code})", result.stderr)
        if message:
            self.assertIn(message, result.stderr)
        return result

    def name(self, prefix="cli") -> str:
        return f"{prefix}{self.major}-{uuid.uuid4().hex[:10]}"

    # -- tests ------------------------------------------------------------------------------------------------

    def test_create_get_put_describe(self):
        name = self.name()
        created = self.ok("create-secret", "--name", name, "--secret-string", '{"user":"app","password":"p1"}',
                          "--description", "from the cli")
        self.assertEqual(name, created["Name"])
        self.assertIn(":secret:" + name + "-", created["ARN"])
        got = self.ok("get-secret-value", "--secret-id", name)
        self.assertEqual({"user": "app", "password": "p1"}, json.loads(got["SecretString"]))
        self.assertEqual(["AWSCURRENT"], got["VersionStages"])
        self.assertIsInstance(got["CreatedDate"], (int, float, str))
        put = self.ok("put-secret-value", "--secret-id", created["ARN"], "--secret-string", "second")
        self.assertEqual(["AWSCURRENT"], put["VersionStages"])
        self.assertEqual("second", self.ok("get-secret-value", "--secret-id", name)["SecretString"])
        prev = self.ok("get-secret-value", "--secret-id", name, "--version-stage", "AWSPREVIOUS")
        self.assertEqual(created["VersionId"], prev["VersionId"])
        desc = self.ok("describe-secret", "--secret-id", name)
        self.assertEqual("from the cli", desc["Description"])
        self.assertEqual({created["VersionId"]: ["AWSPREVIOUS"], put["VersionId"]: ["AWSCURRENT"]},
                         desc["VersionIdsToStages"])

    def test_binary_from_file(self):
        name = self.name()
        path = os.path.join(self._home, f"{name}.bin")
        data = bytes(range(256))
        with open(path, "wb") as f:
            f.write(data)
        self.ok("create-secret", "--name", name, "--secret-binary", f"fileb://{path}")
        got = self.ok("get-secret-value", "--secret-id", name)
        import base64
        self.assertEqual(data, base64.b64decode(got["SecretBinary"]))

    def test_client_request_token_replay(self):
        name = self.name()
        tok = str(uuid.uuid4())
        self.ok("create-secret", "--name", name, "--secret-string", "v1")
        first = self.ok("put-secret-value", "--secret-id", name, "--secret-string", "v2", "--client-request-token", tok)
        again = self.ok("put-secret-value", "--secret-id", name, "--secret-string", "v2", "--client-request-token", tok)
        self.assertEqual(first["VersionId"], again["VersionId"])
        self.fails("put-secret-value", "--secret-id", name, "--secret-string", "v3", "--client-request-token", tok,
                   code="ResourceExistsException")

    def test_update_secret_and_version_stage(self):
        name = self.name()
        created = self.ok("create-secret", "--name", name, "--secret-string", "v1")
        upd = self.ok("update-secret", "--secret-id", name, "--description", "changed")
        self.assertNotIn("VersionId", upd)
        self.assertEqual("changed", self.ok("describe-secret", "--secret-id", name)["Description"])
        pending = self.ok("put-secret-value", "--secret-id", name, "--secret-string", "v2",
                          "--version-stages", "AWSPENDING")
        self.fails("update-secret-version-stage", "--secret-id", name, "--version-stage", "AWSCURRENT",
                   "--move-to-version-id", pending["VersionId"], code="InvalidParameterException",
                   message="The parameter RemoveFromVersionId can't be empty.")
        self.ok("update-secret-version-stage", "--secret-id", name, "--version-stage", "AWSCURRENT",
                "--move-to-version-id", pending["VersionId"], "--remove-from-version-id", created["VersionId"])
        versions = self.ok("list-secret-version-ids", "--secret-id", name)["Versions"]
        stages = {v["VersionId"]: set(v.get("VersionStages", [])) for v in versions}
        self.assertEqual({created["VersionId"]: {"AWSPREVIOUS"}, pending["VersionId"]: {"AWSCURRENT", "AWSPENDING"}},
                         stages)
        upd2 = self.ok("update-secret", "--secret-id", name, "--secret-string", "v3")
        self.assertIn("VersionId", upd2)
        self.assertEqual(3, len(self.ok("list-secret-version-ids", "--secret-id", name,
                                        "--include-deprecated")["Versions"]))

    def test_list_secrets_auto_pagination(self):
        prefix = self.name("cli-list")
        for i in range(5):
            self.ok("create-secret", "--name", f"{prefix}/{i}", "--secret-string", "x")
        listed = self.ok("list-secrets", "--filters", f"Key=name,Values={prefix}/", "--page-size", "2")
        self.assertEqual([f"{prefix}/{i}" for i in range(5)], sorted(e["Name"] for e in listed["SecretList"]))
        first = self.ok("list-secrets", "--filters", f"Key=name,Values={prefix}/", "--max-items", "3",
                        "--page-size", "2")
        self.assertEqual(3, len(first["SecretList"]))
        self.assertIn("NextToken", first)
        rest = self.ok("list-secrets", "--filters", f"Key=name,Values={prefix}/", "--starting-token",
                       first["NextToken"], "--page-size", "2")
        self.assertEqual(5, len({e["Name"] for e in first["SecretList"] + rest["SecretList"]}))
        by_tag = self.ok("list-secrets", "--filters", f"Key=name,Values={prefix}/", "Key=description,Values=nothing")
        self.assertEqual([], by_tag["SecretList"])

    def test_tag_and_untag(self):
        name = self.name()
        self.ok("create-secret", "--name", name, "--secret-string", "x", "--tags", "Key=team,Value=blue")
        self.aws("tag-resource", "--secret-id", name, "--tags", "Key=env,Value=prod", "Key=team,Value=red")
        tags = {t["Key"]: t["Value"] for t in self.ok("describe-secret", "--secret-id", name)["Tags"]}
        self.assertEqual({"team": "red", "env": "prod"}, tags)
        self.aws("untag-resource", "--secret-id", name, "--tag-keys", "team")
        self.assertEqual([{"Key": "env", "Value": "prod"}], self.ok("describe-secret", "--secret-id", name)["Tags"])

    def test_get_random_password(self):
        pw = self.ok("get-random-password", "--password-length", "40", "--exclude-punctuation",
                     "--exclude-characters", "abc")["RandomPassword"]
        self.assertEqual(40, len(pw))
        self.assertTrue(pw.isalnum(), pw)
        self.assertFalse(set("abc") & set(pw))
        self.assertEqual(32, len(self.ok("get-random-password")["RandomPassword"]))

    def test_delete_with_window_and_restore(self):
        name = self.name()
        self.ok("create-secret", "--name", name, "--secret-string", "x")
        deleted = self.ok("delete-secret", "--secret-id", name, "--recovery-window-in-days", "7")
        self.assertIn("DeletionDate", deleted)
        self.fails("get-secret-value", "--secret-id", name, code="InvalidRequestException",
                   message="marked for deletion")
        self.assertIn("DeletedDate", self.ok("describe-secret", "--secret-id", name))
        self.fails("delete-secret", "--secret-id", name, "--recovery-window-in-days", "3",
                   code="InvalidParameterException")
        self.ok("restore-secret", "--secret-id", name)
        self.assertEqual("x", self.ok("get-secret-value", "--secret-id", name)["SecretString"])

    def test_force_delete(self):
        name = self.name()
        self.ok("create-secret", "--name", name, "--secret-string", "x")
        self.ok("delete-secret", "--secret-id", name, "--force-delete-without-recovery")
        self.fails("describe-secret", "--secret-id", name, code="ResourceNotFoundException", message=NOT_FOUND)

    def test_resource_policy(self):
        name = self.name()
        self.ok("create-secret", "--name", name, "--secret-string", "x")
        policy = {"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::123456789012:root"},
            "Action": "secretsmanager:GetSecretValue", "Resource": "*"}]}
        self.ok("put-resource-policy", "--secret-id", name, "--resource-policy", json.dumps(policy),
                "--block-public-policy")
        got = self.ok("get-resource-policy", "--secret-id", name)
        self.assertEqual(policy, json.loads(got["ResourcePolicy"]))
        valid = self.ok("validate-resource-policy", "--resource-policy", json.dumps(policy))
        self.assertTrue(valid["PolicyValidationPassed"])
        public = dict(policy, Statement=[dict(policy["Statement"][0], Principal="*")])
        self.fails("put-resource-policy", "--secret-id", name, "--resource-policy", json.dumps(public),
                   "--block-public-policy", code="PublicPolicyException")
        self.ok("delete-resource-policy", "--secret-id", name)
        self.assertNotIn("ResourcePolicy", self.ok("get-resource-policy", "--secret-id", name))

    def test_batch_get_secret_value(self):
        prefix = self.name("cli-batch")
        for i in range(3):
            self.ok("create-secret", "--name", f"{prefix}/{i}", "--secret-string", f"value-{i}")
        result = self.aws("batch-get-secret-value", "--secret-id-list", f"{prefix}/0", f"{prefix}/1",
                          f"{prefix}/missing", expect_ok=False)
        if result.code != 0 and ("Invalid choice" in result.stderr or "invalid choice" in result.stderr):
            self.skipTest(f"this AWS CLI ({self._version_text.strip()}) predates BatchGetSecretValue")
        self.assertEqual(0, result.code, result.stderr)
        body = result.json
        self.assertEqual({f"{prefix}/0": "value-0", f"{prefix}/1": "value-1"},
                         {v["Name"]: v["SecretString"] for v in body["SecretValues"]})
        self.assertEqual([("ResourceNotFoundException", f"{prefix}/missing")],
                         [(e["ErrorCode"], e["SecretId"]) for e in body["Errors"]])
        by_filter = self.ok("batch-get-secret-value", "--filters", f"Key=name,Values={prefix}/")
        self.assertEqual(3, len(by_filter["SecretValues"]))

    def test_not_found_exit_code_and_text(self):
        missing = self.name("missing")
        result = self.fails("get-secret-value", "--secret-id", missing, code="ResourceNotFoundException",
                            message=NOT_FOUND)
        self.assertIn("GetSecretValue", result.stderr)
        self.assertEqual("", result.stdout.strip())
        self.fails("describe-secret", "--secret-id", missing, code="ResourceNotFoundException", message=NOT_FOUND)

    def test_bad_credentials(self):
        self.fails("list-secrets", code="InvalidSignatureException", secret_key="wrong")
        self.fails("list-secrets", code="UnrecognizedClientException", access_key="AKIANOBODY0000000000")

    def test_regions_apart(self):
        name = self.name()
        created = self.ok("create-secret", "--name", name, "--secret-string", "west", region="us-west-2")
        self.assertIn(":us-west-2:", created["ARN"])
        self.fails("get-secret-value", "--secret-id", name, code="ResourceNotFoundException")
        self.assertEqual("west", self.ok("get-secret-value", "--secret-id", name, region="us-west-2")["SecretString"])



@unittest.skipUnless(find_v1(), "AWS CLI v1 not found on PATH")
class AwsCliV1(CliTests, unittest.TestCase):
    cli = find_v1()
    major = 1
    error_exit_code = 255


@unittest.skipUnless(os.path.exists(AWS_V2), f"AWS CLI v2 not found at {AWS_V2}; scripts/install-test-deps.sh "
                     "installs it (Debian package awscli)")
class AwsCliV2(CliTests, unittest.TestCase):
    cli = AWS_V2
    major = 2
    error_exit_code = 254
