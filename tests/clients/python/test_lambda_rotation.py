"""Issue 6's done-when, end to end: a rotation function written for AWS Lambda rotates a real database through
Coffer after ``aws lambda create-function``, with no change to its code (docs/functions.md).

Everything goes through the unmodified AWS CLI (v2, /usr/bin/aws) and boto3, exactly as a user would against AWS:
``aws iam create-role`` (trust policy for lambda.amazonaws.com) and ``put-role-policy`` make the execution role,
``aws lambda create-function --zip-file fileb://…`` deploys a fixture from tests/fixtures/functions, and
``aws secretsmanager rotate-secret --rotation-lambda-arn …`` starts the rotation. The database functions change a
real MariaDB / PostgreSQL user's password (scripts/databases.sh; a missing database skips locally and fails when
CI=true). The operator's views are ``coffer rotation status`` and ``coffer functions logs`` on the server's data
directory, and ``aws cloudtrail lookup-events``.

The server runs with short retry knobs (--rotation-retry-base 1, --rotation-retry-max 2, --rotation-tick 1) so a
failing rotation is retried within seconds.
"""

import json
import os
import shutil
import subprocess
import tempfile
import time
import unittest
import uuid
import zipfile

import boto3
from botocore.config import Config

import coffer_harness
from coffer_harness import CofferServer
from test_rotation import MARIADB, POSTGRES

AWS = "/usr/bin/aws"
REGION = coffer_harness.DEFAULT_REGION
FIXTURES = coffer_harness.REPO_ROOT / "tests" / "fixtures" / "functions"
KEY_ID, KEY_SECRET = "AKIALAMBDAROTATION01", "lambda-rotation-test-secret-key-000000000"
PREFIX = "lrot-" + uuid.uuid4().hex[:6]          # every secret, role and function of this run
ROTATION_ACTIONS = ["secretsmanager:DescribeSecret", "secretsmanager:GetSecretValue", "secretsmanager:PutSecretValue",
                    "secretsmanager:UpdateSecretVersionStage"]

_STATE: dict = {}


def setUpModule():
    data_dir = tempfile.mkdtemp(prefix="coffer-lambda-rotation-")
    home = tempfile.mkdtemp(prefix="coffer-lambda-rotation-home-")
    server = CofferServer(name="lambda_rotation", dev=False, data_dir=data_dir,
                          env={"COFFER_BOOTSTRAP_ACCESS_KEY_ID": KEY_ID, "COFFER_BOOTSTRAP_SECRET_ACCESS_KEY": KEY_SECRET},
                          extra_args=["--rotation-tick", "1", "--rotation-retry-base", "1", "--rotation-retry-max", "2",
                                      "--rotation-max-attempts", "3"])
    try:
        server.start()
    except BaseException:
        shutil.rmtree(data_dir, ignore_errors=True)
        shutil.rmtree(home, ignore_errors=True)
        raise
    _STATE.update(server=server, data_dir=data_dir, home=home)


def tearDownModule():
    server = _STATE.pop("server", None)
    if server is not None:
        server.stop()
    shutil.rmtree(_STATE.pop("data_dir", ""), ignore_errors=True)
    shutil.rmtree(_STATE.pop("home", ""), ignore_errors=True)


def server() -> CofferServer:
    return _STATE["server"]


def aws(*args, expect_ok=True) -> dict:
    """One AWS CLI v2 call against the server, with the bootstrap key and no local configuration."""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": _STATE["home"], "AWS_ACCESS_KEY_ID": KEY_ID,
           "AWS_SECRET_ACCESS_KEY": KEY_SECRET, "AWS_DEFAULT_REGION": REGION, "AWS_PAGER": "",
           "AWS_CONFIG_FILE": "/dev/null", "AWS_SHARED_CREDENTIALS_FILE": "/dev/null"}
    proc = subprocess.run([AWS, *args, "--endpoint-url", server().endpoint, "--output", "json"],
                          capture_output=True, text=True, env=env, timeout=60)
    if expect_ok:
        assert proc.returncode == 0, f"aws {' '.join(args[:2])} failed: {proc.stderr}"
    return json.loads(proc.stdout) if proc.stdout.strip() else {}


def coffer(*args) -> subprocess.CompletedProcess:
    return subprocess.run(coffer_harness.coffer_command() + list(args) + ["--data-dir", _STATE["data_dir"]],
                          capture_output=True, text=True, timeout=120)


def sm():
    return boto3.client("secretsmanager", endpoint_url=server().endpoint, region_name=REGION,
                        aws_access_key_id=KEY_ID, aws_secret_access_key=KEY_SECRET,
                        config=Config(retries={"max_attempts": 1, "mode": "standard"}))


def account() -> str:
    if "account" not in _STATE:
        _STATE["account"] = aws("sts", "get-caller-identity")["Account"]
    return _STATE["account"]


def execution_role(name: str, actions: list[str]) -> str:
    """`aws iam create-role` for Lambda and an inline policy on this run's secrets (GetRandomPassword has no resource)."""
    trust = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]}
    arn = aws("iam", "create-role", "--role-name", name, "--assume-role-policy-document", json.dumps(trust))["Role"]["Arn"]
    policy = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": actions, "Resource": f"arn:aws:secretsmanager:{REGION}:{account()}:secret:{PREFIX}-*"},
        {"Effect": "Allow", "Action": "secretsmanager:GetRandomPassword", "Resource": "*"}]}
    aws("iam", "put-role-policy", "--role-name", name, "--policy-name", "rotation", "--policy-document", json.dumps(policy))
    return arn


def deploy(name: str, fixture: str, role: str, timeout: int) -> str:
    """Zips tests/fixtures/functions/FIXTURE as it is and deploys it with `aws lambda create-function`; the ARN."""
    path = os.path.join(_STATE["home"], name + ".zip")
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for f in sorted((FIXTURES / fixture).iterdir()):
            z.write(f, f.name)
    created = aws("lambda", "create-function", "--function-name", name, "--runtime", "python3.11",
                  "--handler", "lambda_function.lambda_handler", "--role", role, "--zip-file", f"fileb://{path}",
                  "--timeout", str(timeout), "--memory-size", "256")
    assert created["FunctionArn"] == f"arn:aws:lambda:{REGION}:{account()}:function:{name}", created
    return created["FunctionArn"]


def create_secret(name: str, value: str) -> str:
    return aws("secretsmanager", "create-secret", "--name", name, "--secret-string", value)["ARN"]


def rotate(arn: str, function_arn: str) -> str:
    out = aws("secretsmanager", "rotate-secret", "--secret-id", arn, "--rotation-lambda-arn", function_arn,
              "--rotation-rules", "AutomaticallyAfterDays=30")
    return out["VersionId"]


def current_version(arn: str) -> str | None:
    stages = sm().describe_secret(SecretId=arn).get("VersionIdsToStages", {})
    return next((v for v, s in stages.items() if "AWSCURRENT" in s), None)


def rotation_status(arn: str) -> dict | None:
    proc = coffer("rotation", "status", arn)
    return json.loads(proc.stdout) if proc.returncode == 0 else None


def function_log(name: str) -> str:
    proc = coffer("functions", "logs", name)
    return proc.stdout if proc.returncode == 0 else ""


def wait_for(what: str, done, timeout: float, arn: str, function: str):
    deadline = time.monotonic() + timeout
    while True:
        result = done()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not after {timeout} s; status {rotation_status(arn)}\n"
                                 f"function log:\n{function_log(function)}\n{server().log_tail()}")
        time.sleep(0.25)


class LambdaRotation(unittest.TestCase):
    def rotates_database_user(self, db, fixture):
        db.require(self)
        tag = fixture.split("-")[0]
        user, password = "lr" + uuid.uuid4().hex[:10], "Init-" + uuid.uuid4().hex[:12]
        db.create_user(user, password)
        role = execution_role(f"{PREFIX}-{tag}", ROTATION_ACTIONS)
        name = f"{PREFIX}-{fixture}"
        function_arn = deploy(name, fixture, role, timeout=30)
        arn = create_secret(f"{PREFIX}-{tag}", db.secret(user, password))
        first = current_version(arn)

        token = rotate(arn, function_arn)

        def finished():
            d = sm().describe_secret(SecretId=arn)
            stages = d.get("VersionIdsToStages", {})
            return "AWSCURRENT" in stages.get(token, []) and not any("AWSPENDING" in s for s in stages.values())
        wait_for("rotation to AWSCURRENT", finished, 60, arn, name)
        # finishSecret moves the label before its process ends; the run is over once the engine records it.
        wait_for("run recorded", lambda: (rotation_status(arn) or {}).get("Status") == "idle", 30, arn, name)

        d = sm().describe_secret(SecretId=arn)
        self.assertTrue(d["RotationEnabled"])
        self.assertEqual(function_arn, d["RotationLambdaARN"])
        self.assertEqual(30, d["RotationRules"]["AutomaticallyAfterDays"])
        self.assertIn("LastRotatedDate", d)
        self.assertEqual({"AWSPREVIOUS"}, set(d["VersionIdsToStages"][first]))
        versions = sm().list_secret_version_ids(SecretId=arn)["Versions"]
        self.assertEqual({first, token}, {v["VersionId"] for v in versions})

        value = json.loads(sm().get_secret_value(SecretId=arn)["SecretString"])
        rotated = value["password"]
        self.assertEqual(user, value["username"])
        self.assertNotEqual(password, rotated)
        self.assertTrue(db.can_login(user, rotated), "the new password logs in")
        self.assertFalse(db.can_login(user, password), "the old password is refused")

        log = function_log(name)
        self.assertIn("finishSecret: Successfully set AWSCURRENT stage", log)
        self.assertIn("START RequestId", log)
        for secret in (rotated, password):
            self.assertNotIn(secret, log)
            self.assertNotIn(secret, server().log_text())
        self.assertIsNone(rotation_status(arn).get("LastFailure"))

    def test_a_mysql_template_function_rotates_a_mariadb_user(self):
        self.rotates_database_user(MARIADB, "mysql-single-user")

    def test_a_postgres_template_function_rotates_a_postgresql_user(self):
        self.rotates_database_user(POSTGRES, "postgres-single-user")

    def test_a_role_without_put_secret_value_fails_create_secret_visibly(self):
        role_name = f"{PREFIX}-denied"
        role = execution_role(role_name, [a for a in ROTATION_ACTIONS if a != "secretsmanager:PutSecretValue"])
        name = f"{PREFIX}-denied"
        # The MySQL template fails at createSecret, before it touches a database: no database needed.
        function_arn = deploy(name, "mysql-single-user", role, timeout=30)
        initial = '{"engine":"mysql","host":"127.0.0.1","port":9,"username":"nobody","password":"initial-pw-5b1c"}'
        arn = create_secret(f"{PREFIX}-denied", initial)
        first = current_version(arn)
        token = rotate(arn, function_arn)

        status = wait_for("a recorded failure", lambda: (s := rotation_status(arn)) and s.get("LastFailure") and s,
                          45, arn, name)
        failure = status["LastFailure"]
        self.assertEqual("createSecret", failure["Step"])
        self.assertIn(f"function {name} failed: ClientError", failure["Reason"])
        self.assertIn("AccessDeniedException from PutSecretValue", failure["Reason"])

        # The secret is unchanged: same AWSCURRENT, same value, no second version with a value.
        self.assertEqual(first, current_version(arn))
        self.assertNotEqual(token, current_version(arn))
        self.assertEqual(initial, sm().get_secret_value(SecretId=arn)["SecretString"])
        self.assertEqual(first, sm().get_secret_value(SecretId=arn, VersionStage="AWSCURRENT")["VersionId"])

        # The function's own log has boto3's error naming the role session that was refused.
        log = function_log(name)
        self.assertIn(f"assumed-role/{role_name}/{name}", log)
        self.assertIn("is not authorized to perform: secretsmanager:PutSecretValue", log)

        # CloudTrail: the refused PutSecretValue under the function's role session.
        events = aws("cloudtrail", "lookup-events", "--lookup-attributes",
                     "AttributeKey=EventName,AttributeValue=PutSecretValue")["Events"]
        records = [json.loads(e["CloudTrailEvent"]) for e in events]
        denied = [r for r in records if r.get("userIdentity", {}).get("arn", "").endswith(f"assumed-role/{role_name}/{name}")]
        self.assertTrue(denied, f"no PutSecretValue by the function's role in {records}")
        self.assertIn("AccessDenied", denied[0].get("errorCode", ""))
        self.assertNotIn("initial-pw-5b1c", json.dumps(records))

    def test_a_hanging_function_is_killed_at_its_timeout_and_retried(self):
        role = execution_role(f"{PREFIX}-hang", ROTATION_ACTIONS)
        name = f"{PREFIX}-hang"
        function_arn = deploy(name, "hang", role, timeout=2)
        arn = create_secret(f"{PREFIX}-hang", '{"password":"initial"}')
        first = current_version(arn)
        started = time.monotonic()
        rotate(arn, function_arn)

        status = wait_for("two timed-out attempts",
                          lambda: (s := rotation_status(arn)) and (s.get("LastFailure") or {}).get("Attempt", 0) >= 2 and s,
                          45, arn, name)
        elapsed = time.monotonic() - started
        failure = status["LastFailure"]
        self.assertEqual("createSecret", failure["Step"])
        self.assertIn("Sandbox.Timedout", failure["Reason"])
        # Each attempt was killed at 2 s (the engine's own step timeout is 30 s).
        self.assertGreaterEqual(elapsed, 4)
        self.assertLess(elapsed, 30)
        log = function_log(name)
        self.assertGreaterEqual(log.count("Task timed out after 2.00 seconds"), 2, log)
        self.assertGreaterEqual(log.count("step createSecret: sleeping past the timeout"), 2, log)
        self.assertEqual(first, current_version(arn))

        tail = coffer("functions", "logs", name, "--tail", "2")
        self.assertEqual(0, tail.returncode, tail.stderr)
        lines = tail.stdout.rstrip("\n").split("\n")
        self.assertEqual(2, len(lines))
        self.assertTrue(lines[-1].startswith("REPORT RequestId: "), lines)


if __name__ == "__main__":
    unittest.main()
