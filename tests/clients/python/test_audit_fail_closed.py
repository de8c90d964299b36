"""Fail closed for every service (issue 4): while no audit sink can take a record, IAM, STS and Lambda calls are
refused like Secrets Manager calls, and a refused mutating call is not applied. Once the sink is repaired the
server serves again without a restart, and the refused calls left no record.

The server's only sink is a JSON-lines file; the test breaks it by putting a directory where the file was.
"""

import io
import json
import os
import shutil
import tempfile
import time
import unittest
import zipfile

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

import coffer_harness

NO_RETRY = Config(retries={"max_attempts": 1, "mode": "standard"})
REGION = coffer_harness.DEFAULT_REGION
TRUST_LAMBDA = {"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]}


def _zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("index.py", "def handler(event, context):\n    return event\n")
    return buffer.getvalue()


class EveryServiceFailsClosed(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="coffer-failclosed-")
        cls.jsonl = os.path.join(cls.dir, "audit.jsonl")
        cls.srv = coffer_harness.CofferServer("audit-fail-closed", extra_args=["--audit-sink", "file:" + cls.jsonl]).start()

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()
        shutil.rmtree(cls.dir, ignore_errors=True)

    def client(self, service):
        return boto3.client(service, endpoint_url=self.srv.endpoint, region_name=REGION, config=NO_RETRY,
                            aws_access_key_id=coffer_harness.DEV_ACCESS_KEY_ID,
                            aws_secret_access_key=coffer_harness.DEV_SECRET_ACCESS_KEY)

    def assertRefused(self, fn, **kwargs):
        with self.assertRaises(ClientError) as caught:
            fn(**kwargs)
        status = caught.exception.response["ResponseMetadata"]["HTTPStatusCode"]
        self.assertGreaterEqual(status, 500, caught.exception.response)
        return caught.exception.response

    def event_names(self):
        with open(self.jsonl, encoding="utf-8") as f:
            return [json.loads(line)["event"]["eventName"] for line in f if '"event"' in line]

    def test_iam_sts_and_lambda_refuse_while_the_sink_is_broken_and_apply_nothing(self):
        iam, sts, lam = self.client("iam"), self.client("sts"), self.client("lambda")
        role = iam.create_role(RoleName=coffer_harness.unique("fc-role"), AssumeRolePolicyDocument=json.dumps(TRUST_LAMBDA))["Role"]["Arn"]
        user = coffer_harness.unique("fc-user")
        function = coffer_harness.unique("fc-fn")
        recorded_before = len(self.event_names())

        os.rename(self.jsonl, self.jsonl + ".saved")
        os.mkdir(self.jsonl)
        try:
            started = time.monotonic()
            self.assertRefused(iam.create_user, UserName=user)
            self.assertRefused(iam.list_users)
            self.assertRefused(sts.get_caller_identity)
            self.assertRefused(lam.create_function, FunctionName=function, Runtime="python3.11", Role=role,
                               Handler="index.handler", Code={"ZipFile": _zip()})
            self.assertRefused(lam.list_functions)
            self.assertLess(time.monotonic() - started, 60, "each refusal comes within the bounded wait")
        finally:
            os.rmdir(self.jsonl)
            os.rename(self.jsonl + ".saved", self.jsonl)

        # Repaired: served again without a restart, and nothing refused was applied.
        with self.assertRaises(ClientError) as missing:
            iam.get_user(UserName=user)
        self.assertEqual("NoSuchEntity", missing.exception.response["Error"]["Code"])
        with self.assertRaises(ClientError) as absent:
            lam.get_function(FunctionName=function)
        self.assertEqual("ResourceNotFoundException", absent.exception.response["Error"]["Code"])
        self.assertIn(":user/", iam.create_user(UserName=user)["User"]["Arn"])
        self.assertTrue(sts.get_caller_identity()["Account"])

        names = self.event_names()[recorded_before:]
        # Only the calls made after the repair are in the trail: the refused ones left no record.
        self.assertEqual(["GetUser", "GetFunction", "CreateUser", "GetCallerIdentity"], names)


if __name__ == "__main__":
    unittest.main()
