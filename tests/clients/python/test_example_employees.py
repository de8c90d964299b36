"""The seed demo end to end (issue 5, item 4): examples/employees against a real coffer server and MariaDB.

An Employees table of 3 rows; the ASP.NET Core app answers "Selected 3 items from RDS MySQL table" with
credentials it reads from Coffer at run time; the secret rotates every 30 days with the built-in
coffer-mysql-single-user function; a forced rotation changes the password while the app keeps answering, and
MariaDB refuses the old password. A missing MariaDB skips locally and fails in CI (CI=true).
"""

import json
import os
import subprocess
import threading
import time
import unittest
import urllib.request
import uuid

import coffer_harness
from coffer_harness import REPO_ROOT, ServerTestCase, free_port, unique
from test_rotation import MARIADB, wait_rotated

APP_DLL = REPO_ROOT / "examples" / "employees" / "bin" / "Release" / "net10.0" / "employees.dll"


def setUpModule():
    coffer_harness.start_module_server(__name__)


def tearDownModule():
    coffer_harness.stop_module_server(__name__)


class EmployeesDemo(ServerTestCase):
    def start_app(self, secret_id):
        if not APP_DLL.exists():
            subprocess.run(["dotnet", "build", str(REPO_ROOT / "examples" / "employees"), "-c", "Release", "--nologo",
                            "-v", "quiet"], check=True, timeout=600)
        port = free_port()
        env = dict(os.environ, COFFER_ENDPOINT=self.server.endpoint, AWS_REGION="us-east-1", AWS_ACCESS_KEY_ID="test",
                   AWS_SECRET_ACCESS_KEY="test", EMPLOYEES_SECRET_ID=secret_id)
        log = open(coffer_harness.LOG_DIR / f"employees-{port}.log", "wb")
        proc = subprocess.Popen(["dotnet", str(APP_DLL), "--urls", f"http://127.0.0.1:{port}"], env=env,
                                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        self.addCleanup(log.close)
        self.addCleanup(lambda: (proc.kill(), proc.wait(10)))
        url = f"http://127.0.0.1:{port}/"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                return url, self.get(url)
            except OSError:
                if proc.poll() is not None:
                    raise AssertionError("the app exited; see " + log.name)
                time.sleep(0.2)
        raise AssertionError("the app did not start")

    @staticmethod
    def get(url):
        with urllib.request.urlopen(url, timeout=30) as r:
            return r.status, r.read().decode()

    def test_forced_rotation_while_the_app_keeps_answering(self):
        MARIADB.require(self)
        db = "employees_" + uuid.uuid4().hex[:6]
        user, pw = "emp" + uuid.uuid4().hex[:8], "Init-" + uuid.uuid4().hex[:10]
        r = MARIADB.sql(f"CREATE DATABASE {db}; CREATE TABLE {db}.Employees (id INT PRIMARY KEY, name VARCHAR(40)); "
                        f"INSERT INTO {db}.Employees VALUES (1,'Ada'),(2,'Grace'),(3,'Edsger'); "
                        f"CREATE USER '{user}'@'%' IDENTIFIED BY '{pw}'; GRANT SELECT ON {db}.* TO '{user}'@'%'")
        self.assertEqual(0, r.returncode, r.stderr)
        secret = {"engine": "mysql", "host": MARIADB.host, "port": MARIADB.port, "username": user, "password": pw,
                  "dbname": db}
        name = unique("rds/employees")
        self.sm.create_secret(Name=name, SecretString=json.dumps(secret))
        # 30-day schedule, configured without rotating now (the test-only run just checks the function).
        self.sm.rotate_secret(SecretId=name, RotationLambdaARN="arn:aws:lambda:us-east-1:123456789012:function:coffer-mysql-single-user",
                              RotationRules={"AutomaticallyAfterDays": 30}, RotateImmediately=False)
        deadline = time.monotonic() + 30  # the test-only run removes its AWSPENDING label when done
        while any("AWSPENDING" in v for v in self.sm.describe_secret(SecretId=name)["VersionIdsToStages"].values()):
            self.assertLess(time.monotonic(), deadline, "the test-only rotation did not finish")
            time.sleep(0.1)
        url, first = self.start_app(name)
        self.assertEqual((200, "Selected 3 items from RDS MySQL table"), first)

        answers, stop = [], threading.Event()

        def probe():
            while not stop.is_set():
                try:
                    answers.append(self.get(url))
                except Exception as e:  # noqa: BLE001 - every failure is an answer the test counts
                    answers.append((0, repr(e)))
                time.sleep(0.05)

        t = threading.Thread(target=probe)
        t.start()
        try:
            d = self.sm.describe_secret(SecretId=name)
            self.assertTrue(d["RotationEnabled"])
            self.assertEqual(30, d["RotationRules"]["AutomaticallyAfterDays"])
            token = self.sm.rotate_secret(SecretId=name)["VersionId"]  # forced rotation
            wait_rotated(self.sm, name, token)
            time.sleep(1)
        finally:
            stop.set()
            t.join()
        self.assertGreater(len(answers), 5)
        bad = [a for a in answers if a != (200, "Selected 3 items from RDS MySQL table")]
        self.assertEqual([], bad, "the app stopped answering during the rotation")
        new = json.loads(self.sm.get_secret_value(SecretId=name)["SecretString"])
        self.assertNotEqual(pw, new["password"])
        self.assertFalse(MARIADB.can_login(user, pw), "MariaDB still accepts the old password")
        self.assertTrue(MARIADB.can_login(user, new["password"]))
        self.assertEqual((200, "Selected 3 items from RDS MySQL table"), self.get(url))


if __name__ == "__main__":
    unittest.main()
