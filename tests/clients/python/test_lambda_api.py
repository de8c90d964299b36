"""The Lambda API control plane (issue 6, docs/functions.md "Deploying functions" and "Who may invoke") end to end:
the unmodified AWS CLI and boto3's ``lambda`` client against a real coffer server — create-function with
``--zip-file fileb://…``, get/list/update/delete, add-permission/get-policy/remove-permission, AWS-shaped errors
(404 ResourceNotFoundException, 409 ResourceConflictException, 400 InvalidParameterValueException, 403
AccessDeniedException for a principal without lambda permissions), and invoke.

Invoking needs the function runner (the other half of issue 6). Until a server has one, Invoke answers
ServiceException "function runtime not available", and the tests that run a handler skip with that reason.
"""

import base64
import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import tempfile
import unittest
import urllib.request
import zipfile

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

import coffer_harness

NO_RETRY = Config(retries={"max_attempts": 1, "mode": "standard"})
REGION = coffer_harness.DEFAULT_REGION
ENV_CANARY = "env-canary-4c1f0e7b9d2a"       # an environment value: must never reach the log or the audit trail
RUNTIME_UNAVAILABLE = "function runtime is not available"

HANDLER = """\
import json

def handler(event, context):
    print("handling", json.dumps(event))
    if event.get("fail"):
        raise ValueError("asked to fail")
    return {"echo": event, "function": context.function_name}
"""


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


def make_zip(source: str = HANDLER, name: str = "app.py") -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr(name, source)
    return buffer.getvalue()


def sha256_b64(data: bytes) -> str:
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


_ROLES: dict[str, str] = {}


def execution_role(name: str = "lambda-exec", service: str = "lambda.amazonaws.com") -> str:
    """A role Lambda may assume (trust policy naming the service); created once per server."""
    if name not in _ROLES:
        trust = {"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}]}
        _ROLES[name] = client("iam").create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    return _ROLES[name]


def error(ctx) -> tuple[str, int, str]:
    e = ctx.exception.response
    return e["Error"]["Code"], e["ResponseMetadata"]["HTTPStatusCode"], e["Error"].get("Message", "")


def runner_available(lam, name: str) -> bool:
    """False when this server has no function runtime (Invoke answers ServiceException saying so)."""
    try:
        lam.invoke(FunctionName=name, Payload=b"{}")
        return True
    except ClientError as e:
        if e.response["Error"]["Code"] == "ServiceException" and RUNTIME_UNAVAILABLE in e.response["Error"].get("Message", ""):
            return False
        raise


class Boto3LambdaTests(unittest.TestCase):
    def setUp(self):
        self.lam = client("lambda")
        self.role = execution_role()

    def create(self, prefix="fn", **kwargs):
        name = coffer_harness.unique(prefix)
        args = dict(FunctionName=name, Runtime="python3.11", Role=self.role, Handler="app.handler",
                    Code={"ZipFile": make_zip()})
        args.update(kwargs)
        return self.lam.create_function(**args)

    def test_create_describes_the_function_as_aws_does(self):
        package = make_zip()
        created = self.create(Code={"ZipFile": package}, Timeout=30, MemorySize=256, Description="rotation",
                              Environment={"Variables": {"DB_HOST": "db.internal", "TOKEN": ENV_CANARY}})
        self.assertEqual(201, created["ResponseMetadata"]["HTTPStatusCode"])
        name = created["FunctionName"]
        account = client("sts").get_caller_identity()["Account"]
        self.assertEqual(f"arn:aws:lambda:{REGION}:{account}:function:{name}", created["FunctionArn"])
        self.assertEqual(sha256_b64(package), created["CodeSha256"])
        self.assertEqual(len(package), created["CodeSize"])
        self.assertEqual(("python3.11", "app.handler", self.role), (created["Runtime"], created["Handler"], created["Role"]))
        self.assertEqual((30, 256, "rotation"), (created["Timeout"], created["MemorySize"], created["Description"]))
        self.assertEqual(("Active", "Successful", "Zip", "$LATEST"),
                         (created["State"], created["LastUpdateStatus"], created["PackageType"], created["Version"]))
        self.assertEqual(["x86_64"], created["Architectures"])
        self.assertRegex(created["LastModified"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+0000$")
        self.assertRegex(created["RevisionId"], r"^[0-9a-f-]{36}$")
        self.assertEqual({"DB_HOST": "db.internal", "TOKEN": ENV_CANARY}, created["Environment"]["Variables"])

        config = self.lam.get_function_configuration(FunctionName=name)
        self.assertEqual(created["RevisionId"], config["RevisionId"])
        self.assertEqual(created["CodeSha256"], config["CodeSha256"])

    def test_defaults_are_three_seconds_and_128_mb(self):
        created = self.create()
        self.assertEqual((3, 128), (created["Timeout"], created["MemorySize"]))
        self.assertNotIn("Environment", created)

    def test_get_function_links_to_the_package_as_uploaded(self):
        package = make_zip("def handler(e, c):\n    return 42\n")
        name = self.create(Code={"ZipFile": package})["FunctionName"]
        got = self.lam.get_function(FunctionName=name)
        self.assertEqual(name, got["Configuration"]["FunctionName"])
        self.assertEqual("S3", got["Code"]["RepositoryType"])
        with urllib.request.urlopen(got["Code"]["Location"], timeout=10) as resp:
            self.assertEqual(package, resp.read())
        # The link is bound to its token: a forged one is refused.
        forged = re.sub(r"Token=[^&]+", "Token=1.00", got["Code"]["Location"])
        with self.assertRaises(urllib.error.HTTPError) as ctx:
            urllib.request.urlopen(forged, timeout=10)
        self.assertEqual(403, ctx.exception.code)

    def test_a_package_larger_than_other_requests_may_be(self):
        # 3 MB of incompressible data: above the server's 1 MiB body backstop for other calls, well within 50 MB.
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as z:
            z.writestr("app.py", HANDLER)
            z.writestr("blob.bin", os.urandom(3 * 1024 * 1024))
        package = buffer.getvalue()
        created = self.create(Code={"ZipFile": package})
        self.assertEqual((len(package), sha256_b64(package)), (created["CodeSize"], created["CodeSha256"]))
        updated = self.lam.update_function_code(FunctionName=created["FunctionName"], ZipFile=package)
        self.assertEqual(sha256_b64(package), updated["CodeSha256"])

    def test_lookup_by_arn_and_latest_qualifier(self):
        created = self.create()
        self.assertEqual(created["FunctionName"], self.lam.get_function(FunctionName=created["FunctionArn"])["Configuration"]["FunctionName"])
        self.lam.get_function(FunctionName=created["FunctionName"], Qualifier="$LATEST")
        with self.assertRaises(ClientError) as ctx:
            self.lam.get_function(FunctionName=created["FunctionName"], Qualifier="7")
        self.assertEqual(("ResourceNotFoundException", 404), error(ctx)[:2])

    def test_update_code_and_configuration(self):
        created = self.create(Environment={"Variables": {"KEY_A": "1"}})
        name = created["FunctionName"]
        package = make_zip(HANDLER + "\n# v2\n")
        updated = self.lam.update_function_code(FunctionName=name, ZipFile=package)
        self.assertEqual(sha256_b64(package), updated["CodeSha256"])
        self.assertNotEqual(created["RevisionId"], updated["RevisionId"])
        self.assertEqual({"KEY_A": "1"}, updated["Environment"]["Variables"])

        config = self.lam.update_function_configuration(FunctionName=name, Timeout=60, MemorySize=512,
                                                        Environment={"Variables": {"KEY_B": "2"}}, Handler="app.other")
        self.assertEqual((60, 512, "app.other"), (config["Timeout"], config["MemorySize"], config["Handler"]))
        self.assertEqual({"KEY_B": "2"}, config["Environment"]["Variables"])
        self.assertEqual(sha256_b64(package), config["CodeSha256"])
        self.assertNotEqual(updated["RevisionId"], config["RevisionId"])

        # A stale RevisionId is a failed precondition (412).
        with self.assertRaises(ClientError) as ctx:
            self.lam.update_function_configuration(FunctionName=name, Timeout=5, RevisionId=created["RevisionId"])
        self.assertEqual(("PreconditionFailedException", 412), error(ctx)[:2])

    def test_list_functions_pages_with_marker(self):
        names = {self.create("list")["FunctionName"] for _ in range(3)}
        seen, marker, pages = [], None, 0
        while True:
            kwargs = {"MaxItems": 2}
            if marker:
                kwargs["Marker"] = marker
            page = self.lam.list_functions(**kwargs)
            pages += 1
            self.assertLessEqual(len(page["Functions"]), 2)
            seen += [f["FunctionName"] for f in page["Functions"]]
            marker = page.get("NextMarker")
            if not marker:
                break
        self.assertTrue(names <= set(seen))
        self.assertEqual(len(seen), len(set(seen)))
        self.assertGreaterEqual(pages, 2)
        # The paginator agrees.
        listed = [f["FunctionName"] for p in self.lam.get_paginator("list_functions").paginate() for f in p["Functions"]]
        self.assertEqual(sorted(seen), sorted(listed))

    def test_delete_then_not_found(self):
        name = self.create()["FunctionName"]
        resp = self.lam.delete_function(FunctionName=name)
        self.assertEqual(204, resp["ResponseMetadata"]["HTTPStatusCode"])
        with self.assertRaises(ClientError) as ctx:
            self.lam.get_function(FunctionName=name)
        code, status, message = error(ctx)
        self.assertEqual(("ResourceNotFoundException", 404), (code, status))
        self.assertIn(f"Function not found: arn:aws:lambda:{REGION}:", message)
        with self.assertRaises(self.lam.exceptions.ResourceNotFoundException):
            self.lam.delete_function(FunctionName=name)

    def test_errors_are_aws_shaped(self):
        name = self.create()["FunctionName"]
        cases = [
            (dict(FunctionName=name), "ResourceConflictException", 409, f"Function already exist: {name}"),
            (dict(FunctionName=coffer_harness.unique("bad"), Runtime="python2.7"), "InvalidParameterValueException", 400, "python2.7"),
            (dict(FunctionName=coffer_harness.unique("bad"), Runtime="java21"), "InvalidParameterValueException", 400, "java21"),
            (dict(FunctionName=coffer_harness.unique("bad"), Role="arn:aws:iam::123456789012:role/nope"),
             "InvalidParameterValueException", 400, "The role defined for the function cannot be assumed by Lambda."),
            (dict(FunctionName=coffer_harness.unique("bad"), Role=execution_role("not-for-lambda", "ec2.amazonaws.com")),
             "InvalidParameterValueException", 400, "cannot be assumed by Lambda"),
            (dict(FunctionName=coffer_harness.unique("bad"), Code={"ZipFile": b"not a zip"}),
             "InvalidParameterValueException", 400, "Could not unzip uploaded file"),
            (dict(FunctionName=coffer_harness.unique("bad"), Timeout=901), "ValidationException", 400, "timeout"),
            (dict(FunctionName=coffer_harness.unique("bad"), Handler="has space"), "ValidationException", 400, "handler"),
            (dict(FunctionName=coffer_harness.unique("bad"), Environment={"Variables": {"AWS_REGION": "x"}}),
             "InvalidParameterValueException", 400, "reserved keys"),
        ]
        for kwargs, code, status, text in cases:
            with self.subTest(code=code, text=text):
                with self.assertRaises(ClientError) as ctx:
                    self.create(**kwargs)
                got_code, got_status, message = error(ctx)
                self.assertEqual((code, status), (got_code, got_status), message)
                self.assertIn(text, message)
        with self.assertRaises(self.lam.exceptions.ResourceNotFoundException):
            self.lam.get_function_configuration(FunctionName=coffer_harness.unique("missing"))

    def test_permissions_add_get_remove(self):
        name = self.create()["FunctionName"]
        arn = self.lam.get_function_configuration(FunctionName=name)["FunctionArn"]
        added = self.lam.add_permission(FunctionName=name, StatementId="SecretsManagerAccess", Action="lambda:InvokeFunction",
                                        Principal="secretsmanager.amazonaws.com")
        self.assertEqual(201, added["ResponseMetadata"]["HTTPStatusCode"])
        statement = json.loads(added["Statement"])
        self.assertEqual({"Sid": "SecretsManagerAccess", "Effect": "Allow", "Principal": {"Service": "secretsmanager.amazonaws.com"},
                          "Action": "lambda:InvokeFunction", "Resource": arn}, statement)
        self.lam.add_permission(FunctionName=name, StatementId="Account", Action="lambda:InvokeFunction", Principal="111122223333")

        policy = json.loads(self.lam.get_policy(FunctionName=name)["Policy"])
        self.assertEqual("2012-10-17", policy["Version"])
        self.assertEqual(["SecretsManagerAccess", "Account"], [s["Sid"] for s in policy["Statement"]])
        self.assertEqual({"AWS": "arn:aws:iam::111122223333:root"}, policy["Statement"][1]["Principal"])

        with self.assertRaises(ClientError) as ctx:
            self.lam.add_permission(FunctionName=name, StatementId="Account", Action="lambda:InvokeFunction", Principal="111122223333")
        self.assertEqual(("ResourceConflictException", 409), error(ctx)[:2])

        self.assertEqual(204, self.lam.remove_permission(FunctionName=name, StatementId="Account")["ResponseMetadata"]["HTTPStatusCode"])
        self.lam.remove_permission(FunctionName=name, StatementId="SecretsManagerAccess")
        with self.assertRaises(ClientError) as ctx:
            self.lam.remove_permission(FunctionName=name, StatementId="Account")
        self.assertEqual(("ResourceNotFoundException", 404), error(ctx)[:2])
        with self.assertRaises(ClientError) as ctx:
            self.lam.get_policy(FunctionName=name)
        self.assertEqual(("ResourceNotFoundException", 404), error(ctx)[:2])

    def test_invoke_dry_run_checks_permission_only(self):
        name = self.create()["FunctionName"]
        resp = self.lam.invoke(FunctionName=name, InvocationType="DryRun")
        self.assertEqual(204, resp["StatusCode"])
        with self.assertRaises(self.lam.exceptions.ResourceNotFoundException):
            self.lam.invoke(FunctionName=coffer_harness.unique("missing"), InvocationType="DryRun")

    def test_invoke_request_response(self):
        name = self.create()["FunctionName"]
        if not runner_available(self.lam, name):
            self.skipTest("this server has no function runtime (the runner half of issue 6)")
        resp = self.lam.invoke(FunctionName=name, Payload=json.dumps({"a": 1}).encode(), LogType="Tail")
        self.assertEqual(200, resp["StatusCode"])
        self.assertEqual("$LATEST", resp["ExecutedVersion"])
        self.assertNotIn("FunctionError", resp)
        self.assertEqual({"echo": {"a": 1}, "function": name}, json.loads(resp["Payload"].read()))
        self.assertIn("handling", base64.b64decode(resp["LogResult"]).decode())
        failed = self.lam.invoke(FunctionName=name, Payload=b'{"fail": true}')
        self.assertEqual((200, "Unhandled"), (failed["StatusCode"], failed["FunctionError"]))
        self.assertIn("asked to fail", json.loads(failed["Payload"].read())["errorMessage"])

    def test_environment_values_stay_out_of_the_log_and_audit(self):
        name = self.create(Environment={"Variables": {"SECRETISH": ENV_CANARY}})["FunctionName"]
        self.lam.update_function_configuration(FunctionName=name, Environment={"Variables": {"SECRETISH": ENV_CANARY + "2"}})
        self.lam.get_function_configuration(FunctionName=name)
        self.assertNotIn(ENV_CANARY, server().log_text())
        trail = client("cloudtrail")
        events = trail.lookup_events(LookupAttributes=[{"AttributeKey": "EventSource", "AttributeValue": "lambda.amazonaws.com"}],
                                     MaxResults=50)["Events"]
        mine = [e for e in events if name in e["CloudTrailEvent"]]
        self.assertIn("CreateFunction", {e["EventName"] for e in mine})
        self.assertIn("UpdateFunctionConfiguration", {e["EventName"] for e in mine})
        for e in mine:
            self.assertNotIn(ENV_CANARY, e["CloudTrailEvent"])
            self.assertNotIn("ZipFile", e["CloudTrailEvent"])


class AccessTests(unittest.TestCase):
    """A principal without lambda permissions is refused; identity policies and the function's policy let it in."""

    @classmethod
    def setUpClass(cls):
        iam = client("iam")
        cls.user = coffer_harness.unique("dev")
        cls.user_arn = iam.create_user(UserName=cls.user)["User"]["Arn"]
        key = iam.create_access_key(UserName=cls.user)["AccessKey"]
        cls.creds = {"AccessKeyId": key["AccessKeyId"], "SecretAccessKey": key["SecretAccessKey"]}
        cls.admin = client("lambda")
        cls.role = execution_role()
        cls.name = coffer_harness.unique("guarded")
        cls.admin.create_function(FunctionName=cls.name, Runtime="python3.11", Role=cls.role, Handler="app.handler",
                                  Code={"ZipFile": make_zip()})

    def lam(self):
        return client("lambda", self.creds)

    def put_policy(self, name, *statements):
        client("iam").put_user_policy(UserName=self.user, PolicyName=name,
                                      PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": list(statements)}))

    def test_no_lambda_permissions_means_access_denied(self):
        lam = self.lam()
        for call in (lambda: lam.list_functions(),
                     lambda: lam.get_function(FunctionName=self.name),
                     lambda: lam.invoke(FunctionName=self.name, InvocationType="DryRun"),
                     lambda: lam.delete_function(FunctionName=self.name),
                     lambda: lam.get_function(FunctionName=coffer_harness.unique("missing"))):
            with self.assertRaises(ClientError) as ctx:
                call()
            code, status, message = error(ctx)
            self.assertEqual(("AccessDeniedException", 403), (code, status))
            self.assertIn(self.user_arn, message)
        self.admin.get_function(FunctionName=self.name)   # still there

    def test_create_needs_pass_role(self):
        self.put_policy("create", {"Effect": "Allow", "Action": "lambda:CreateFunction", "Resource": "*"})
        with self.assertRaises(ClientError) as ctx:
            self.lam().create_function(FunctionName=coffer_harness.unique("mine"), Runtime="python3.11", Role=self.role,
                                       Handler="app.handler", Code={"ZipFile": make_zip()})
        code, _, message = error(ctx)
        self.assertEqual("AccessDeniedException", code)
        self.assertIn("iam:PassRole", message)
        self.put_policy("pass", {"Effect": "Allow", "Action": "iam:PassRole", "Resource": self.role})
        created = self.lam().create_function(FunctionName=coffer_harness.unique("mine"), Runtime="python3.11", Role=self.role,
                                             Handler="app.handler", Code={"ZipFile": make_zip()})
        self.assertEqual("Active", created["State"])

    def test_function_policy_lets_a_user_invoke(self):
        name = coffer_harness.unique("shared")
        self.admin.create_function(FunctionName=name, Runtime="python3.11", Role=self.role, Handler="app.handler",
                                   Code={"ZipFile": make_zip()})
        with self.assertRaises(ClientError):
            self.lam().invoke(FunctionName=name, InvocationType="DryRun")
        self.admin.add_permission(FunctionName=name, StatementId="dev", Action="lambda:InvokeFunction", Principal=self.user_arn)
        self.assertEqual(204, self.lam().invoke(FunctionName=name, InvocationType="DryRun")["StatusCode"])
        # The statement grants invoking only.
        with self.assertRaises(ClientError) as ctx:
            self.lam().get_function(FunctionName=name)
        self.assertEqual("AccessDeniedException", error(ctx)[0])


AWS_V2 = coffer_harness.AWS_CLI_V2


find_v1 = coffer_harness.find_aws_cli_v1


class CliLambdaTests:
    """Mixed into one TestCase per CLI major version."""

    cli: str | None = None
    major = 0

    @classmethod
    def setUpClass(cls):
        if cls.cli is None or not os.path.exists(cls.cli):
            raise unittest.SkipTest(f"AWS CLI v{cls.major} not found; scripts/install-test-deps.sh installs it")
        version = subprocess.run([cls.cli, "--version"], capture_output=True, text=True, timeout=60)
        if f"aws-cli/{cls.major}." not in version.stdout + version.stderr:
            raise unittest.SkipTest(f"{cls.cli} is not AWS CLI v{cls.major}")
        cls.home = tempfile.mkdtemp(prefix="coffer-lambda-cli-")
        cls.zip_path = os.path.join(cls.home, "function.zip")
        with open(cls.zip_path, "wb") as f:
            f.write(make_zip())
        cls.zip2_path = os.path.join(cls.home, "function2.zip")
        with open(cls.zip2_path, "wb") as f:
            f.write(make_zip(HANDLER + "\n# second\n"))
        cls.role = execution_role()

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.home, ignore_errors=True)

    def aws(self, *args, expect_ok=True):
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env.update({"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_DEFAULT_REGION": REGION,
                    "AWS_CONFIG_FILE": os.path.join(self.home, "config"),
                    "AWS_SHARED_CREDENTIALS_FILE": os.path.join(self.home, "credentials"),
                    "AWS_PAGER": "", "AWS_CLI_AUTO_PROMPT": "off", "AWS_EC2_METADATA_DISABLED": "true",
                    "AWS_MAX_ATTEMPTS": "1", "HOME": self.home})
        proc = subprocess.run([self.cli, "--endpoint-url", server().endpoint, "--output", "json", "lambda", *args],
                              capture_output=True, text=True, timeout=120, env=env, stdin=subprocess.DEVNULL, cwd=self.home)
        if expect_ok:
            self.assertEqual(0, proc.returncode, proc.stderr)
        return proc

    def out(self, *args):
        text = self.aws(*args).stdout
        return json.loads(text) if text.strip() else {}

    def test_cli_lifecycle(self):
        name = coffer_harness.unique("cli")
        created = self.out("create-function", "--function-name", name, "--runtime", "python3.12", "--handler", "app.handler",
                           "--role", self.role, "--zip-file", f"fileb://{self.zip_path}", "--timeout", "10",
                           "--memory-size", "256", "--environment", "Variables={STAGE=test,REGION_NAME=eu}")
        with open(self.zip_path, "rb") as f:
            self.assertEqual(sha256_b64(f.read()), created["CodeSha256"])
        self.assertEqual({"STAGE": "test", "REGION_NAME": "eu"}, created["Environment"]["Variables"])

        self.assertEqual(name, self.out("get-function", "--function-name", name)["Configuration"]["FunctionName"])
        self.assertEqual(10, self.out("get-function-configuration", "--function-name", name)["Timeout"])
        code = self.out("update-function-code", "--function-name", name, "--zip-file", f"fileb://{self.zip2_path}")
        self.assertNotEqual(created["CodeSha256"], code["CodeSha256"])
        config = self.out("update-function-configuration", "--function-name", name, "--timeout", "20", "--description", "by cli")
        self.assertEqual((20, "by cli"), (config["Timeout"], config["Description"]))
        listed = self.out("list-functions")
        self.assertIn(name, [f["FunctionName"] for f in listed["Functions"]])

        added = self.out("add-permission", "--function-name", name, "--statement-id", "sm", "--action", "lambda:InvokeFunction",
                         "--principal", "secretsmanager.amazonaws.com")
        self.assertEqual("sm", json.loads(added["Statement"])["Sid"])
        policy = json.loads(self.out("get-policy", "--function-name", name)["Policy"])
        self.assertEqual(["sm"], [s["Sid"] for s in policy["Statement"]])
        self.aws("remove-permission", "--function-name", name, "--statement-id", "sm")

        self.aws("delete-function", "--function-name", name)
        missing = self.aws("get-function", "--function-name", name, expect_ok=False)
        self.assertNotEqual(0, missing.returncode)
        self.assertIn("ResourceNotFoundException", missing.stderr)

    def test_cli_errors(self):
        bad = self.aws("create-function", "--function-name", coffer_harness.unique("cli"), "--runtime", "ruby3.2",
                       "--handler", "app.handler", "--role", self.role, "--zip-file", f"fileb://{self.zip_path}", expect_ok=False)
        self.assertNotEqual(0, bad.returncode)
        self.assertIn("InvalidParameterValueException", bad.stderr)
        self.assertIn("ruby3.2", bad.stderr)

    def test_cli_invoke(self):
        name = coffer_harness.unique("cli")
        self.aws("create-function", "--function-name", name, "--runtime", "python3.12", "--handler", "app.handler",
                 "--role", self.role, "--zip-file", f"fileb://{self.zip_path}")
        out_path = os.path.join(self.home, name + ".json")
        # v2 reads --payload as base64 unless told otherwise; v1 takes it raw and does not know the option.
        raw = ["--cli-binary-format", "raw-in-base64-out"] if self.major == 2 else []
        proc = self.aws("invoke", "--function-name", name, *raw, "--payload", '{"hello": "world"}', out_path, expect_ok=False)
        if proc.returncode != 0 and RUNTIME_UNAVAILABLE in proc.stderr:
            self.skipTest("this server has no function runtime (the runner half of issue 6)")
        self.assertEqual(0, proc.returncode, proc.stderr)
        self.assertEqual(200, json.loads(proc.stdout)["StatusCode"])
        with open(out_path) as f:
            self.assertEqual({"hello": "world"}, json.load(f)["echo"])


class AwsCliV1LambdaTests(CliLambdaTests, unittest.TestCase):
    cli = find_v1()
    major = 1


class AwsCliV2LambdaTests(CliLambdaTests, unittest.TestCase):
    cli = AWS_V2
    major = 2


if __name__ == "__main__":
    unittest.main()
