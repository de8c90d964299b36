"""IAM and STS in the audit trail (issues 3 + 4): every Query call yields exactly one record with the right
eventSource, eventName and identity, and no secret access key or session token ever reaches the audit store.
Also: reading the trail (CloudTrail LookupEvents) and the agent's change feed need permissions of their own.

The server writes to the store sink and to a JSON-lines file sink, so the canary search covers both: the file's
text and every text column of the store's audit_event table.
"""

import json
import os
import re
import shutil
import sqlite3
import tempfile
import time
import unittest
import urllib.error
import urllib.request

import boto3
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

import coffer_harness

NO_RETRY = Config(retries={"max_attempts": 1, "mode": "standard"})
REGION = coffer_harness.DEFAULT_REGION
ADMIN = {"AccessKeyId": coffer_harness.DEV_ACCESS_KEY_ID, "SecretAccessKey": coffer_harness.DEV_SECRET_ACCESS_KEY}


class IamStsAudit(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="coffer-iam-audit-")
        cls.jsonl = os.path.join(cls.dir, "audit.jsonl")
        cls.srv = coffer_harness.CofferServer("iam-audit",
                                              extra_args=["--audit-sink", "store", "--audit-sink", "file:" + cls.jsonl]).start()

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()
        shutil.rmtree(cls.dir, ignore_errors=True)

    def client(self, service, creds=ADMIN):
        return boto3.client(service, endpoint_url=self.srv.endpoint, region_name=REGION, config=NO_RETRY,
                            aws_access_key_id=creds["AccessKeyId"], aws_secret_access_key=creds["SecretAccessKey"],
                            aws_session_token=creds.get("SessionToken"))

    def records(self):
        out = []
        with open(self.jsonl, encoding="utf-8") as f:
            for line in f:
                line = json.loads(line)
                if "event" in line:
                    out.append(line["event"])
        return out

    def the_record(self, request_id):
        matches = [r for r in self.records() if r["requestID"] == request_id]
        self.assertEqual(1, len(matches), f"records for request {request_id}: {matches}")
        return matches[0]

    def store_text(self):
        # Dev mode serves from a temporary data directory that the server names in its log.
        data = re.search(r"from (/\S+?) \(dev mode", self.srv.log_text())
        self.assertIsNotNone(data, self.srv.log_tail())
        con = sqlite3.connect(os.path.join(data.group(1), "coffer.db"), timeout=10)
        try:
            cols = [c[1] for c in con.execute("PRAGMA table_info(audit_event)")]
            self.assertTrue(cols, "the store has an audit_event table")
            rows = con.execute("SELECT * FROM audit_event").fetchall()
        finally:
            con.close()
        self.assertTrue(rows)
        return "\n".join(v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v) for row in rows for v in row)

    def test_calls_are_recorded_once_and_credentials_never(self):
        iam, sts = self.client("iam"), self.client("sts")
        name = coffer_harness.unique("audited")
        created = iam.create_user(UserName=name)
        rec = self.the_record(created["ResponseMetadata"]["RequestId"])
        self.assertEqual(("iam.amazonaws.com", "CreateUser"), (rec["eventSource"], rec["eventName"]))
        self.assertEqual("coffer-admin", rec["userIdentity"]["userName"])
        self.assertEqual({"userName": name}, rec["requestParameters"])
        self.assertEqual(created["User"]["Arn"], rec["responseElements"]["user"]["arn"])
        self.assertFalse(rec["readOnly"])

        key = iam.create_access_key(UserName=name)
        canaries = [key["AccessKey"]["SecretAccessKey"]]
        rec = self.the_record(key["ResponseMetadata"]["RequestId"])
        self.assertEqual("CreateAccessKey", rec["eventName"])
        self.assertEqual({"userName": name, "accessKeyId": key["AccessKey"]["AccessKeyId"], "status": "Active",
                          "createDate": rec["responseElements"]["accessKey"]["createDate"]}, rec["responseElements"]["accessKey"])

        account = sts.get_caller_identity()["Account"]
        trust = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{account}:root"},
                                                                     "Action": "sts:AssumeRole"}]})
        role = iam.create_role(RoleName=coffer_harness.unique("auditrole"), AssumeRolePolicyDocument=trust)["Role"]
        assumed = sts.assume_role(RoleArn=role["Arn"], RoleSessionName="auditor")
        creds = assumed["Credentials"]
        canaries += [creds["SecretAccessKey"], creds["SessionToken"]]
        rec = self.the_record(assumed["ResponseMetadata"]["RequestId"])
        self.assertEqual(("sts.amazonaws.com", "AssumeRole"), (rec["eventSource"], rec["eventName"]))
        self.assertEqual("IAMUser", rec["userIdentity"]["type"])
        self.assertEqual({"roleArn": role["Arn"], "roleSessionName": "auditor"}, rec["requestParameters"])
        self.assertEqual(creds["AccessKeyId"], rec["responseElements"]["credentials"]["accessKeyId"])
        self.assertNotIn("sessionToken", rec["responseElements"]["credentials"])
        self.assertEqual(assumed["AssumedRoleUser"]["Arn"], rec["responseElements"]["assumedRoleUser"]["arn"])
        self.assertEqual(role["Arn"], rec["resources"][0]["ARN"])

        me = self.client("sts", creds).get_caller_identity()
        rec = self.the_record(me["ResponseMetadata"]["RequestId"])
        self.assertEqual(("sts.amazonaws.com", "GetCallerIdentity"), (rec["eventSource"], rec["eventName"]))
        self.assertTrue(rec["readOnly"])
        self.assertEqual("AssumedRole", rec["userIdentity"]["type"])
        self.assertEqual(assumed["AssumedRoleUser"]["Arn"], rec["userIdentity"]["arn"])
        self.assertEqual(creds["AccessKeyId"], rec["userIdentity"]["accessKeyId"])
        issuer = rec["userIdentity"]["sessionContext"]["sessionIssuer"]
        self.assertEqual(("Role", role["Arn"], role["RoleName"]), (issuer["type"], issuer["arn"], issuer["userName"]))

        # Denied and unauthenticated IAM calls are recorded too.
        with self.assertRaises(ClientError):
            self.client("iam", {"AccessKeyId": "AKIANOBODY00000TEST", "SecretAccessKey": "x"}).list_users()
        stranger = [r for r in self.records() if r["userIdentity"].get("accessKeyId") == "AKIANOBODY00000TEST"]
        self.assertEqual(1, len(stranger))
        self.assertEqual(("Unknown", "ListUsers"), (stranger[0]["userIdentity"]["type"], stranger[0]["eventName"]))

        time.sleep(0.2)
        file_text = open(self.jsonl, encoding="utf-8").read()
        store = self.store_text()
        self.assertIn(name, store)
        for canary in canaries:
            self.assertNotIn(canary, file_text)
            self.assertNotIn(canary, store)
            self.assertNotIn(canary[:20], file_text)
            self.assertNotIn(canary[:20], store)

    def test_a_boundary_given_at_creation_is_in_the_records_response_elements(self):
        # CloudTrail's responseElements mirror the response: user/role.permissionsBoundary, camelCase.
        iam = self.client("iam")
        name = coffer_harness.unique("bounded")
        boundary = iam.create_policy(PolicyName=name, PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": "secretsmanager:ListSecrets", "Resource": "*"}]}))["Policy"]["Arn"]
        expected = {"permissionsBoundaryType": "Policy", "permissionsBoundaryArn": boundary}
        user = iam.create_user(UserName=name, PermissionsBoundary=boundary)
        rec = self.the_record(user["ResponseMetadata"]["RequestId"])
        self.assertEqual({"userName": name, "permissionsBoundary": boundary}, rec["requestParameters"])
        self.assertEqual(expected, rec["responseElements"]["user"]["permissionsBoundary"])
        trust = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": user["User"]["Arn"]},
                                                                     "Action": "sts:AssumeRole"}]})
        role = iam.create_role(RoleName=name, AssumeRolePolicyDocument=trust, PermissionsBoundary=boundary)
        rec = self.the_record(role["ResponseMetadata"]["RequestId"])
        self.assertEqual(expected, rec["responseElements"]["role"]["permissionsBoundary"])
        free = iam.create_user(UserName=name + "-free")
        self.assertNotIn("permissionsBoundary", self.the_record(free["ResponseMetadata"]["RequestId"])["responseElements"]["user"])

    def new_user(self, policy=None):
        iam = self.client("iam")
        name = coffer_harness.unique("reader")
        iam.create_user(UserName=name)
        if policy is not None:
            iam.put_user_policy(UserName=name, PolicyName="p", PolicyDocument=json.dumps(
                {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": policy, "Resource": "*"}]}))
        key = iam.create_access_key(UserName=name)["AccessKey"]
        return {"AccessKeyId": key["AccessKeyId"], "SecretAccessKey": key["SecretAccessKey"]}

    def test_lookup_events_needs_its_permission(self):
        plain = self.new_user()
        with self.assertRaises(ClientError) as denied:
            self.client("cloudtrail", plain).lookup_events(MaxResults=1)
        self.assertEqual("AccessDeniedException", denied.exception.response["Error"]["Code"])
        allowed = self.new_user("cloudtrail:LookupEvents")
        self.assertIn("Events", self.client("cloudtrail", allowed).lookup_events(MaxResults=1))
        self.assertIn("Events", self.client("cloudtrail").lookup_events(MaxResults=1))

    def metric(self, text, service, action, outcome):
        pattern = r'^coffer_requests_total\{service="%s",action="%s",outcome="%s"\} (\d+)' % (service, action, outcome)
        m = re.search(pattern, text, re.M)
        return int(m.group(1)) if m else 0

    def test_iam_and_sts_calls_are_counted_in_metrics(self):
        def scrape():
            with urllib.request.urlopen(self.srv.endpoint + "/metrics", timeout=10) as r:
                return r.read().decode()
        before = scrape()
        self.client("iam").list_users()
        self.client("sts").get_caller_identity()
        # An unsigned IAM call: rejected at authentication, and still an API call (as on the JSON endpoint).
        unsigned = urllib.request.Request(self.srv.endpoint + "/", data=b"Action=ListUsers&Version=2010-05-08", method="POST",
                                          headers={"Content-Type": "application/x-www-form-urlencoded"})
        with self.assertRaises(urllib.error.HTTPError) as raised:
            urllib.request.urlopen(unsigned, timeout=10)
        self.assertEqual(403, raised.exception.code)
        after = scrape()
        for service, action, outcome in (("iam", "ListUsers", "success"), ("sts", "GetCallerIdentity", "success"),
                                         ("iam", "ListUsers", "MissingAuthenticationToken")):
            self.assertEqual(self.metric(before, service, action, outcome) + 1, self.metric(after, service, action, outcome),
                             (service, action, outcome))
        self.assertIn('coffer_request_duration_seconds_count{service="sts",action="GetCallerIdentity"}', after)

    def changes(self, creds):
        request = AWSRequest(method="GET", url=self.srv.endpoint + "/coffer/changes")
        SigV4Auth(Credentials(creds["AccessKeyId"], creds["SecretAccessKey"]), "secretsmanager", REGION).add_auth(request)
        try:
            with urllib.request.urlopen(urllib.request.Request(request.url, headers=dict(request.headers)), timeout=30) as r:
                return r.status, json.loads(r.read())
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read())

    def test_change_feed_needs_list_secrets(self):
        status, body = self.changes(self.new_user())
        self.assertEqual(400, status, body)
        self.assertEqual("AccessDeniedException", body["__type"])
        status, body = self.changes(self.new_user("secretsmanager:ListSecrets"))
        self.assertEqual(200, status, body)
        status, body = self.changes(ADMIN)
        self.assertEqual(200, status, body)
        self.assertIn("Sequence", body)


class RequestIdInLogScopes(unittest.TestCase):
    """docs/operations.md: every log entry written while a request runs carries, in its scope, the request id the
    client got (x-amzn-RequestId) — on the IAM/STS (Query) and Lambda endpoints as on the JSON endpoint."""

    @classmethod
    def setUpClass(cls):
        cls.srv = coffer_harness.CofferServer("log-scopes", extra_args=["--log-format", "json", "--log-level", "Debug"]).start()

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()

    def client(self, service):
        return boto3.client(service, endpoint_url=self.srv.endpoint, region_name=REGION, config=NO_RETRY,
                            aws_access_key_id=ADMIN["AccessKeyId"], aws_secret_access_key=ADMIN["SecretAccessKey"])

    def test_query_and_lambda_entries_carry_the_client_request_id(self):
        ids = {
            "iam": self.client("iam").list_users()["ResponseMetadata"]["RequestId"],
            "sts": self.client("sts").get_caller_identity()["ResponseMetadata"]["RequestId"],
            "lambda": self.client("lambda").list_functions()["ResponseMetadata"]["RequestId"],
            "secretsmanager": self.client("secretsmanager").list_secrets()["ResponseMetadata"]["RequestId"],
        }
        deadline = time.time() + 10
        while True:
            scoped = set()
            for line in self.srv.log_text().splitlines():
                if not line.startswith("{"):
                    continue
                entry = json.loads(line)
                request_ids = [s["RequestId"] for s in entry.get("Scopes", []) if isinstance(s, dict) and "RequestId" in s]
                # One RequestId per entry, the client's: not also ASP.NET Core's connection-based one.
                self.assertLessEqual(len(request_ids), 1, line)
                scoped.update(request_ids)
            missing = {k: v for k, v in ids.items() if v not in scoped}
            if not missing or time.time() > deadline:
                break
            time.sleep(0.2)
        self.assertEqual({}, missing)


if __name__ == "__main__":
    unittest.main()
