"""boto3 and raw signed requests against a real coffer server: SigV4 verification, regions, wire protocol.

Spec: §1.1–§1.4. The exact error codes for signature problems are not recorded from AWS (spec §9 point 3);
these tests accept the AWS-wide codes that SDKs understand: a bad signature is InvalidSignatureException, an
unknown key UnrecognizedClientException, an expired request RequestExpired or InvalidSignatureException (both
make the AWS SDKs correct their clock and retry).
"""

import json
from datetime import datetime, timedelta, timezone

import coffer_harness
from coffer_harness import ServerTestCase, unique

CLOCK_SKEW_CODES = {"RequestExpired", "InvalidSignatureException"}
NOT_FOUND = "Secrets Manager can't find the specified secret."


def setUpModule():
    coffer_harness.start_module_server(__name__)


def tearDownModule():
    coffer_harness.stop_module_server(__name__)


class Signatures(ServerTestCase):
    def test_wrong_secret_key(self):
        bad = self.client(secret_key="not-the-secret")
        resp = self.assertErrorIn({"InvalidSignatureException"}, bad.list_secrets)
        self.assertNotIn("not-the-secret", json.dumps(resp["Error"]))

    def test_unknown_access_key(self):
        stranger = self.client(access_key="AKIAUNKNOWNKEY000000", secret_key="whatever")
        self.assertErrorIn({"UnrecognizedClientException"}, stranger.list_secrets)

    def test_errors_from_bad_credentials_do_not_reach_secrets(self):
        created = self.create(SecretString="guarded")
        bad = self.client(secret_key="nope")
        self.assertErrorIn({"InvalidSignatureException"}, bad.get_secret_value, SecretId=created["ARN"])
        self.assertErrorIn({"InvalidSignatureException"}, bad.put_secret_value, SecretId=created["ARN"],
                           SecretString="overwritten")
        self.assertEqual("guarded", self.sm.get_secret_value(SecretId=created["ARN"])["SecretString"])

    def test_missing_signature(self):
        status, _, body = self.server.signed_request("secretsmanager.ListSecrets", {}, sign=False)
        self.assertIn(status, (400, 403))
        self.assertIn(body.get("__type"), {"MissingAuthenticationTokenException", "IncompleteSignature",
                                           "IncompleteSignatureException", "MissingAuthenticationToken"}, body)

    def test_tampered_body(self):
        """The payload hash is part of the signature: changing the body after signing fails."""
        from botocore.auth import SigV4Auth
        from botocore.awsrequest import AWSRequest
        from botocore.credentials import Credentials
        import urllib.error
        import urllib.request

        body = json.dumps({"MaxResults": 5}).encode()
        req = AWSRequest(method="POST", url=self.server.endpoint + "/", data=body, headers={
            "Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": "secretsmanager.ListSecrets"})
        SigV4Auth(Credentials("test", "test"), "secretsmanager", "us-east-1").add_auth(req)
        headers = dict(req.prepare().headers.items())
        tampered = json.dumps({"MaxResults": 6}).encode()
        headers["Content-Length"] = str(len(tampered))
        http_req = urllib.request.Request(self.server.endpoint + "/", data=tampered, method="POST", headers=headers)
        with self.assertRaises(urllib.error.HTTPError) as cm:
            urllib.request.urlopen(http_req, timeout=30)
        self.assertIn(cm.exception.code, (400, 403))
        self.assertEqual("InvalidSignatureException", json.loads(cm.exception.read()).get("__type"))

    def test_tampered_target_header(self):
        """X-Amz-Target is a signed header: switching the action after signing fails."""
        from botocore.auth import SigV4Auth
        from botocore.awsrequest import AWSRequest
        from botocore.credentials import Credentials
        import urllib.error
        import urllib.request

        body = b"{}"
        req = AWSRequest(method="POST", url=self.server.endpoint + "/", data=body, headers={
            "Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": "secretsmanager.ListSecrets"})
        SigV4Auth(Credentials("test", "test"), "secretsmanager", "us-east-1").add_auth(req)
        headers = dict(req.prepare().headers.items())
        headers["X-Amz-Target"] = "secretsmanager.GetRandomPassword"
        http_req = urllib.request.Request(self.server.endpoint + "/", data=body, method="POST", headers=headers)
        with self.assertRaises(urllib.error.HTTPError) as cm:
            urllib.request.urlopen(http_req, timeout=30)
        self.assertEqual("InvalidSignatureException", json.loads(cm.exception.read()).get("__type"))


class ClockSkew(ServerTestCase):
    def call_at(self, offset: timedelta):
        when = datetime.now(timezone.utc) + offset
        return self.server.signed_request("secretsmanager.ListSecrets", {}, now=when.replace(tzinfo=None))

    def test_ten_minutes_late_refused(self):
        status, headers, body = self.call_at(timedelta(minutes=-10))
        self.assertIn(status, (400, 403), body)
        self.assertIn(body.get("__type"), CLOCK_SKEW_CODES, body)
        # SDKs correct their clock from the Date header of the error (JS SDK v3, Java, Go...).
        self.assertIn("date", {k.lower() for k in headers}, headers)

    def test_ten_minutes_early_refused(self):
        status, headers, body = self.call_at(timedelta(minutes=10))
        self.assertIn(status, (400, 403), body)
        self.assertIn(body.get("__type"), CLOCK_SKEW_CODES, body)
        self.assertIn("date", {k.lower() for k in headers}, headers)

    def test_within_five_minutes_accepted(self):
        for minutes in (-4, 4):
            with self.subTest(minutes=minutes):
                status, _, body = self.call_at(timedelta(minutes=minutes))
                self.assertEqual(200, status, body)
                self.assertIn("SecretList", body)

    def test_correctly_signed_raw_request(self):
        status, headers, body = self.server.signed_request("secretsmanager.GetRandomPassword",
                                                           {"PasswordLength": 12})
        self.assertEqual(200, status, body)
        self.assertEqual(12, len(body["RandomPassword"]))
        self.assertTrue(headers.get("Content-Type", "").startswith("application/x-amz-json-1.1"), headers)


class Regions(ServerTestCase):
    def test_secret_in_us_west_2_invisible_from_us_east_1(self):
        west = self.client(region="us-west-2")
        east = self.sm
        name = unique("regional")
        created = west.create_secret(Name=name, SecretString="west value")
        self.assertIn(":us-west-2:", created["ARN"])
        self.assertEqual("west value", west.get_secret_value(SecretId=name)["SecretString"])
        self.assertError("ResourceNotFoundException", east.get_secret_value, SecretId=name, message=NOT_FOUND)
        self.assertError("ResourceNotFoundException", east.describe_secret, SecretId=name, message=NOT_FOUND)
        listed = east.list_secrets(Filters=[{"Key": "name", "Values": [name]}])["SecretList"]
        self.assertEqual([], listed)
        # The same name can exist in both regions, apart.
        east_created = east.create_secret(Name=name, SecretString="east value")
        self.assertIn(":us-east-1:", east_created["ARN"])
        self.assertEqual("east value", east.get_secret_value(SecretId=name)["SecretString"])
        self.assertEqual("west value", west.get_secret_value(SecretId=name)["SecretString"])
        west_desc = west.describe_secret(SecretId=name)
        self.assertEqual(created["ARN"], west_desc["ARN"])
        # An ARN of another region does not reach across.
        self.assertErrorIn({"ResourceNotFoundException", "InvalidParameterException", "AccessDeniedException"},
                           east.get_secret_value, SecretId=created["ARN"])
        # Deleting in one region leaves the other alone.
        west.delete_secret(SecretId=name, ForceDeleteWithoutRecovery=True)
        self.assertEqual("east value", east.get_secret_value(SecretId=name)["SecretString"])

    def test_account_id_is_stable(self):
        a = self.create(SecretString="x")["ARN"].split(":")[4]
        b = self.client(region="eu-central-1").create_secret(Name=unique("acct"), SecretString="x")["ARN"].split(":")[4]
        self.assertEqual(a, b)
        self.assertRegex(a, r"^\d{12}$")


class WireProtocol(ServerTestCase):
    def test_request_id_and_content_type(self):
        status, headers, body = self.server.signed_request("secretsmanager.ListSecrets", {})
        self.assertEqual(200, status)
        lower = {k.lower(): v for k, v in headers.items()}
        self.assertTrue(lower.get("x-amzn-requestid"), headers)
        self.assertTrue(lower.get("content-type", "").startswith("application/x-amz-json-1.1"), headers)

    def test_error_body_shape(self):
        status, headers, body = self.server.signed_request("secretsmanager.DescribeSecret",
                                                           {"SecretId": unique("missing")})
        self.assertEqual(400, status)
        self.assertEqual({"__type": "ResourceNotFoundException", "Message": NOT_FOUND}, body)
        self.assertTrue({k.lower(): v for k, v in headers.items()}.get("x-amzn-requestid"))

    def test_empty_body_accepted_for_operation_without_required_input(self):
        status, _, body = self.server.signed_request("secretsmanager.ListSecrets", b"")
        self.assertEqual(200, status, body)

    def test_null_members_omitted_and_dates_are_epoch_numbers(self):
        name = unique("wire")
        self.sm.create_secret(Name=name, SecretString="x")
        status, _, body = self.server.signed_request("secretsmanager.DescribeSecret", {"SecretId": name})
        self.assertEqual(200, status)
        self.assertNotIn(None, body.values(), body)
        self.assertIsInstance(body["CreatedDate"], (int, float))
        self.assertNotIn("Description", body)
        status, _, body = self.server.signed_request("secretsmanager.GetSecretValue", {"SecretId": name})
        self.assertIsInstance(body["CreatedDate"], (int, float))

    def test_binary_is_base64_on_the_wire(self):
        name = unique("wirebin")
        self.sm.create_secret(Name=name, SecretBinary=b"footest")
        status, _, body = self.server.signed_request("secretsmanager.GetSecretValue", {"SecretId": name})
        self.assertEqual("Zm9vdGVzdA==", body["SecretBinary"])

    def test_unknown_members_ignored(self):
        status, _, body = self.server.signed_request("secretsmanager.GetRandomPassword",
                                                     {"PasswordLength": 10, "SomeFutureField": True})
        self.assertEqual(200, status, body)

    def test_unknown_operation(self):
        status, _, body = self.server.signed_request("secretsmanager.NoSuchAction", {})
        self.assertEqual(400, status)
        self.assertIn(body.get("__type"), {"UnknownOperationException", "InvalidAction"}, body)

    def test_malformed_json(self):
        status, _, body = self.server.signed_request("secretsmanager.ListSecrets", b"{not json")
        self.assertEqual(400, status)
        self.assertIn(body.get("__type"), {"SerializationException", "ValidationException",
                                           "InvalidParameterException"}, body)

    def test_actions_of_later_issues_answer_aws_shaped_errors(self):
        name = unique("later")
        self.sm.create_secret(Name=name, SecretString="x")
        for target, body in [
            ("secretsmanager.ReplicateSecretToRegions", {"SecretId": name, "AddReplicaRegions": [{"Region": "eu-west-1"}]}),
            ("secretsmanager.RemoveRegionsFromReplication", {"SecretId": name, "RemoveReplicaRegions": ["eu-west-1"]}),
            ("secretsmanager.StopReplicationToReplica", {"SecretId": name}),
        ]:
            with self.subTest(target=target):
                status, _, resp = self.server.signed_request(target, body)
                self.assertTrue(400 <= status < 500, (status, resp))
                self.assertTrue(resp.get("__type") and resp.get("Message"), resp)

    def test_request_ids_are_unique(self):
        ids = set()
        for _ in range(5):
            _, headers, _ = self.server.signed_request("secretsmanager.ListSecrets", {})
            ids.add({k.lower(): v for k, v in headers.items()}.get("x-amzn-requestid"))
        self.assertEqual(5, len(ids))

