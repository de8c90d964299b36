"""Rotation through real clients against a real coffer server and real databases (spec §3.2, §3.17, §4).

boto3 and the AWS CLI drive RotateSecret / CancelRotateSecret / DescribeSecret; the built-in rotators change
passwords on the MariaDB and PostgreSQL that scripts/databases.sh started (COFFER_TEST_* variables). The crash
tests start the server with COFFER_FAULT_POINT=<point>=kill, so the real process SIGKILLs itself at that point,
then restart it on the same data directory and check that the rotation resumes with the same token and ends with
exactly one new version whose password the database accepts (reliability matrix F3).

A missing database skips these tests locally and fails them in CI (CI=true).
"""

import json
import os
import shutil
import subprocess
import tempfile
import time
import unittest
import uuid

import coffer_harness
from coffer_harness import CofferServer, ServerTestCase, unique

IN_CI = os.environ.get("CI", "").lower() == "true"
ACCOUNT_FN = "arn:aws:lambda:us-east-1:123456789012:function:"


class Database:
    def __init__(self, prefix, engine, function_prefix):
        e = os.environ
        self.host = e.get(f"COFFER_TEST_{prefix}_HOST")
        self.port = int(e.get(f"COFFER_TEST_{prefix}_PORT", "0") or 0)
        self.admin_user = e.get(f"COFFER_TEST_{prefix}_ADMIN_USER")
        self.admin_password = e.get(f"COFFER_TEST_{prefix}_ADMIN_PASSWORD")
        self.engine = engine
        self.function_prefix = function_prefix

    @property
    def available(self):
        return bool(self.host and self.port)

    def require(self, test):
        if not self.available:
            if IN_CI:
                test.fail(f"{self.engine} is not running (scripts/databases.sh start) and CI=true")
            test.skipTest(f"{self.engine} not running: eval \"$(scripts/databases.sh start)\"")

    def secret(self, user, password, master_arn=None):
        d = {"engine": self.engine, "host": self.host, "port": self.port, "username": user, "password": password,
             "dbname": "postgres" if self.engine == "postgres" else "coffer_rot"}
        if master_arn:
            d["masterarn"] = master_arn
        return json.dumps(d)

    # Passwords go through the environment (PGPASSWORD / MYSQL_PWD), never the command line.
    def sql(self, statement, user=None, password=None):
        user = user or self.admin_user
        password = password if password is not None else self.admin_password
        if self.engine == "postgres":
            cmd = ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", self.host, "-p", str(self.port), "-U", user,
                   "-d", "postgres", "-c", statement]
            env = dict(os.environ, PGPASSWORD=password, PGCONNECT_TIMEOUT="5")
        else:
            cmd = ["mariadb", "--no-defaults", "-h", self.host, "-P", str(self.port), "-u", user, "-e", statement]
            env = dict(os.environ, MYSQL_PWD=password)
        return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=30)

    def create_user(self, user, password):
        if self.engine == "postgres":
            r = self.sql(f"CREATE ROLE \"{user}\" WITH LOGIN PASSWORD '{password}'")
        else:
            r = self.sql(f"CREATE DATABASE IF NOT EXISTS coffer_rot; CREATE USER '{user}'@'%' IDENTIFIED BY '{password}'; "
                         f"GRANT SELECT ON coffer_rot.* TO '{user}'@'%'")
        assert r.returncode == 0, r.stderr

    def can_login(self, user, password):
        return self.sql("SELECT 1", user, password).returncode == 0


MARIADB = Database("MARIADB", "mariadb", "coffer-mysql")
POSTGRES = Database("POSTGRES", "postgres", "coffer-postgresql")


def setUpModule():
    coffer_harness.start_module_server(__name__, extra_args=["--rotation-test-schedules", "--rotation-retry-base", "1"])


def tearDownModule():
    coffer_harness.stop_module_server(__name__)


def wait_rotated(sm, secret_id, token, timeout=60.0):
    """Until the version `token` holds AWSCURRENT and nothing is pending; returns DescribeSecret."""
    deadline = time.monotonic() + timeout
    d = None
    while time.monotonic() < deadline:
        d = sm.describe_secret(SecretId=secret_id)
        stages = d.get("VersionIdsToStages", {})
        if "AWSCURRENT" in stages.get(token, []) and not any("AWSPENDING" in s for s in stages.values()):
            return d
        time.sleep(0.2)
    raise AssertionError(f"rotation did not finish in {timeout} s: {d}")


def current_credentials(sm, secret_id):
    v = json.loads(sm.get_secret_value(SecretId=secret_id)["SecretString"])
    return v["username"], v["password"]


class RotateWithBoto3(ServerTestCase):
    def test_rotate_describe_cancel_postgres_single_user(self):
        POSTGRES.require(self)
        user, pw = "b" + uuid.uuid4().hex[:10], "Init-" + uuid.uuid4().hex[:10]
        POSTGRES.create_user(user, pw)
        arn = self.create(SecretString=POSTGRES.secret(user, pw))["ARN"]
        r = self.sm.rotate_secret(SecretId=arn, RotationLambdaARN=ACCOUNT_FN + "coffer-postgresql-single-user",
                                  RotationRules={"AutomaticallyAfterDays": 30})
        self.assertEqual(arn, r["ARN"])
        d = wait_rotated(self.sm, arn, r["VersionId"])
        self.assertTrue(d["RotationEnabled"])
        self.assertEqual(ACCOUNT_FN + "coffer-postgresql-single-user", d["RotationLambdaARN"])
        self.assertEqual({"AutomaticallyAfterDays": 30}, d["RotationRules"])
        self.assertIn("LastRotatedDate", d)
        self.assertGreater(d["NextRotationDate"], d["LastRotatedDate"])
        self.assertEqual(2, len(d["VersionIdsToStages"]))
        u, p = current_credentials(self.sm, arn)
        self.assertTrue(POSTGRES.can_login(u, p))
        self.assertFalse(POSTGRES.can_login(user, pw))
        listed = [s for s in self.sm.list_secrets(Filters=[{"Key": "name", "Values": [d["Name"]]}])["SecretList"]]
        self.assertTrue(listed[0]["RotationEnabled"])
        self.assertIn("NextRotationDate", listed[0])

        c = self.sm.cancel_rotate_secret(SecretId=arn)
        self.assertEqual(arn, c["ARN"])
        self.assertNotIn("VersionId", c)
        d = self.sm.describe_secret(SecretId=arn)
        self.assertFalse(d["RotationEnabled"])
        self.assertEqual(ACCOUNT_FN + "coffer-postgresql-single-user", d["RotationLambdaARN"])
        self.assertNotIn("NextRotationDate", d)

    def test_rotate_mariadb_alternating_users_twice(self):
        MARIADB.require(self)
        user, pw = "b" + uuid.uuid4().hex[:10], "Init-" + uuid.uuid4().hex[:10]
        MARIADB.create_user(user, pw)
        master = self.create(SecretString=MARIADB.secret(MARIADB.admin_user, MARIADB.admin_password))["ARN"]
        arn = self.create(SecretString=MARIADB.secret(user, pw, master))["ARN"]
        r = self.sm.rotate_secret(SecretId=arn, RotationLambdaARN="coffer-mysql-alternating-users",
                                  RotationRules={"ScheduleExpression": "cron(0 3 ? * SUN *)", "Duration": "2h"})
        wait_rotated(self.sm, arn, r["VersionId"])
        self.assertEqual(user + "_clone", current_credentials(self.sm, arn)[0])
        self.assertTrue(MARIADB.can_login(user, pw))  # the other user keeps working
        r = self.sm.rotate_secret(SecretId=arn)
        d = wait_rotated(self.sm, arn, r["VersionId"])
        self.assertEqual({"ScheduleExpression": "cron(0 3 ? * SUN *)", "Duration": "2h"}, d["RotationRules"])
        u, p = current_credentials(self.sm, arn)
        self.assertEqual(user, u)
        self.assertTrue(MARIADB.can_login(u, p))

    def test_errors(self):
        arn = self.create(SecretString="x")["ARN"]
        self.assertError("InvalidRequestException", self.sm.rotate_secret, SecretId=arn,
                         message="No Lambda rotation function ARN is associated with this secret.")
        self.assertError("AccessDeniedException", self.sm.rotate_secret, SecretId=arn,
                         RotationLambdaARN=ACCOUNT_FN + "no-such-function",
                         message="Secrets Manager cannot invoke the specified Lambda function. Ensure that the "
                                 "function policy grants access to the principal secretsmanager.amazonaws.com.")
        self.assertNotIn("RotationEnabled", self.sm.describe_secret(SecretId=arn))
        self.assertErrorIn(["InvalidParameterException", "ValidationException"], self.sm.rotate_secret, SecretId=arn,
                           RotationLambdaARN=ACCOUNT_FN + "coffer-mysql-single-user",
                           RotationRules={"ScheduleExpression": "rate(1 hour)"})
        self.assertError("ResourceNotFoundException", self.sm.rotate_secret, SecretId=unique("none"),
                         RotationLambdaARN=ACCOUNT_FN + "coffer-mysql-single-user")

    def test_second_rotate_while_one_is_in_progress(self):
        # A rotation that cannot finish (the value is not database JSON) stays recorded as failed: AWSPENDING is
        # left on its version, and RotateSecret answers AWS's error until the labels are repaired.
        arn = self.create(SecretString="not json")["ARN"]
        r = self.sm.rotate_secret(SecretId=arn, RotationLambdaARN="coffer-postgresql-single-user")
        self.assertError("InvalidRequestException", self.sm.rotate_secret, SecretId=arn,
                         message="A previous rotation isn't complete. That rotation will be reattempted.")
        c = self.sm.cancel_rotate_secret(SecretId=arn)
        self.assertEqual(r["VersionId"], c["VersionId"])
        self.sm.update_secret_version_stage(SecretId=arn, VersionStage="AWSPENDING", RemoveFromVersionId=r["VersionId"])
        self.assertEqual("not json", self.sm.get_secret_value(SecretId=arn)["SecretString"])


class RotateWithAwsCli(ServerTestCase):
    def aws(self, *args):
        env = dict(os.environ, AWS_ACCESS_KEY_ID="test", AWS_SECRET_ACCESS_KEY="test", AWS_DEFAULT_REGION="us-east-1",
                   AWS_PAGER="", AWS_CONFIG_FILE="/dev/null", AWS_SHARED_CREDENTIALS_FILE="/dev/null")
        proc = subprocess.run(["aws", "--endpoint-url", self.server.endpoint, "--output", "json", "secretsmanager", *args],
                              capture_output=True, text=True, env=env, timeout=120, stdin=subprocess.DEVNULL)
        self.assertEqual(0, proc.returncode, proc.stderr)
        return json.loads(proc.stdout) if proc.stdout.strip() else {}

    def test_rotate_secret_describe_secret_cancel_rotate_secret(self):
        if shutil.which("aws") is None:
            self.skipTest("AWS CLI not installed")
        POSTGRES.require(self)
        user, pw = "c" + uuid.uuid4().hex[:10], "Init-" + uuid.uuid4().hex[:10]
        POSTGRES.create_user(user, pw)
        master = self.create(SecretString=POSTGRES.secret(POSTGRES.admin_user, POSTGRES.admin_password))["ARN"]
        arn = self.create(SecretString=POSTGRES.secret(user, pw, master))["ARN"]
        r = self.aws("rotate-secret", "--secret-id", arn,
                     "--rotation-lambda-arn", ACCOUNT_FN + "coffer-postgresql-alternating-users",
                     "--rotation-rules", '{"ScheduleExpression":"rate(10 days)"}')
        wait_rotated(self.sm, arn, r["VersionId"])
        d = self.aws("describe-secret", "--secret-id", arn)
        self.assertTrue(d["RotationEnabled"])
        self.assertEqual("rate(10 days)", d["RotationRules"]["ScheduleExpression"])
        self.assertEqual(10, d["RotationRules"]["AutomaticallyAfterDays"])
        u, p = current_credentials(self.sm, arn)
        self.assertEqual(user + "_clone", u)
        self.assertTrue(POSTGRES.can_login(u, p))
        self.aws("cancel-rotate-secret", "--secret-id", arn)
        self.assertFalse(self.aws("describe-secret", "--secret-id", arn)["RotationEnabled"])


class CrashPoints(unittest.TestCase):
    """The real server SIGKILLed at each named crash point, then restarted on the same data directory."""

    KEY_ID, KEY_SECRET = "AKIACRASHTEST0000001", "crash-test-secret-key-0000000000000000000"

    def run_crash(self, db, strategy, point):
        db.require(self)
        data_dir = tempfile.mkdtemp(prefix="coffer-crash-")
        env = {"COFFER_BOOTSTRAP_ACCESS_KEY_ID": self.KEY_ID, "COFFER_BOOTSTRAP_SECRET_ACCESS_KEY": self.KEY_SECRET}
        server = CofferServer(name=f"crash-{point}", dev=False, data_dir=data_dir,
                              env=dict(env, COFFER_FAULT_POINT=f"{point}=kill"))
        try:
            server.start()
            sm = server.client(access_key=self.KEY_ID, secret_key=self.KEY_SECRET)
            user, pw = "k" + uuid.uuid4().hex[:10], "Init-" + uuid.uuid4().hex[:10]
            db.create_user(user, pw)
            master = None
            if strategy == "alternating-users":
                master = sm.create_secret(Name=unique("m"), SecretString=db.secret(db.admin_user, db.admin_password))["ARN"]
            arn = sm.create_secret(Name=unique("k"), SecretString=db.secret(user, pw, master))["ARN"]
            token = sm.rotate_secret(SecretId=arn, RotationLambdaARN=f"{db.function_prefix}-{strategy}")["VersionId"]
            deadline = time.monotonic() + 30
            while server.process.poll() is None and time.monotonic() < deadline:
                time.sleep(0.1)
            self.assertIsNotNone(server.process.poll(), f"the server did not reach {point}")
            self.assertIn(f"fault point {point}: SIGKILL", server.log_text())
            server.kill()
            # The recorded state, read from the data directory while no server runs.
            status = subprocess.run(coffer_harness.coffer_command() + ["rotation", "status", arn, "--data-dir", data_dir],
                                    capture_output=True, text=True, timeout=120)
            self.assertEqual(0, status.returncode, status.stderr)
            status = json.loads(status.stdout)
            self.assertEqual(("running", token), (status["Status"], status["VersionId"]))
            self.assertNotIn(db.admin_password, json.dumps(status))

            server.env.pop("COFFER_FAULT_POINT")
            server.start()
            sm = server.client(access_key=self.KEY_ID, secret_key=self.KEY_SECRET)
            d = wait_rotated(sm, arn, token, timeout=60)
            versions = sm.list_secret_version_ids(SecretId=arn, IncludeDeprecated=True)["Versions"]
            self.assertEqual(2, len(versions), f"exactly one new version: {versions}")
            self.assertEqual(1, sum("AWSCURRENT" in s for s in d["VersionIdsToStages"].values()))
            u, p = current_credentials(sm, arn)
            self.assertTrue(db.can_login(u, p), "the database refuses AWSCURRENT")
            self.assertIn("resumed", server.log_text())
        finally:
            server.stop()
            shutil.rmtree(data_dir, ignore_errors=True)


def _crash_test(db, strategy, point):
    return lambda self: self.run_crash(db, strategy, point)


# Reliability matrix F3 gate: R1-R8 on PostgreSQL targets, R3/R4/R7 on MariaDB.
_POINTS = ["createSecret.beforePutPending", "createSecret.afterPutPending", "setSecret.beforeTargetChange",
           "setSecret.afterTargetChange", "testSecret.afterLogin", "finishSecret.beforeLabelMove",
           "finishSecret.afterLabelMove"]
for _p in _POINTS:
    setattr(CrashPoints, f"test_postgres_single_user_{_p.replace('.', '_')}",
            _crash_test(POSTGRES, "single-user", "rotation." + _p))
setattr(CrashPoints, "test_postgres_alternating_users_alternating_afterCreateCloneUser",
        _crash_test(POSTGRES, "alternating-users", "rotation.alternating.afterCreateCloneUser"))
setattr(CrashPoints, "test_postgres_alternating_users_setSecret_afterTargetChange",
        _crash_test(POSTGRES, "alternating-users", "rotation.setSecret.afterTargetChange"))
for _p in ["setSecret.beforeTargetChange", "setSecret.afterTargetChange", "finishSecret.afterLabelMove"]:
    setattr(CrashPoints, f"test_mariadb_single_user_{_p.replace('.', '_')}",
            _crash_test(MARIADB, "single-user", "rotation." + _p))
setattr(CrashPoints, "test_mariadb_alternating_users_setSecret_afterTargetChange",
        _crash_test(MARIADB, "alternating-users", "rotation.setSecret.afterTargetChange"))


if __name__ == "__main__":
    unittest.main()
