"""CloudTrail LookupEvents on Coffer's endpoint (issue 4): the AWS CLI and boto3 read Coffer's audit trail.

`aws cloudtrail lookup-events --endpoint-url …` must find a GetSecretValue by a given user, with the CloudTrail
record as JSON text and never the secret value; attributes, time range and paging work as in CloudTrail.
"""

import datetime
import json
import os
import shutil
import subprocess
import unittest

import coffer_harness


def setUpModule():
    coffer_harness.start_module_server(__name__)


def tearDownModule():
    coffer_harness.stop_module_server(__name__)


class LookupEventsTests(coffer_harness.ServerTestCase):
    def cloudtrail(self):
        import boto3
        return boto3.client("cloudtrail", endpoint_url=self.server.endpoint, region_name=coffer_harness.DEFAULT_REGION,
                            aws_access_key_id=coffer_harness.DEV_ACCESS_KEY_ID,
                            aws_secret_access_key=coffer_harness.DEV_SECRET_ACCESS_KEY)

    def aws(self, *args):
        cli = shutil.which("aws")
        if cli is None:
            self.skipTest("the AWS CLI is not installed")
        env = dict(os.environ, AWS_ACCESS_KEY_ID=coffer_harness.DEV_ACCESS_KEY_ID,
                   AWS_SECRET_ACCESS_KEY=coffer_harness.DEV_SECRET_ACCESS_KEY, AWS_DEFAULT_REGION="us-east-1",
                   AWS_CONFIG_FILE="/dev/null", AWS_SHARED_CREDENTIALS_FILE="/dev/null")
        proc = subprocess.run([cli, "--endpoint-url", self.server.endpoint, *args], capture_output=True, text=True,
                              env=env, timeout=60)
        self.assertEqual(0, proc.returncode, proc.stderr)
        return json.loads(proc.stdout)

    def test_aws_cli_finds_a_get_secret_value_by_a_given_user(self):
        value = "CNRY-lookup-" + coffer_harness.unique("v")
        created = self.create("lookup", SecretString=value)
        self.sm.get_secret_value(SecretId=created["Name"])
        out = self.aws("cloudtrail", "lookup-events", "--lookup-attributes",
                       "AttributeKey=Username,AttributeValue=coffer-admin", "--max-results", "50")
        self.assertNotIn(value, json.dumps(out))
        matches = [e for e in out["Events"] if e["EventName"] == "GetSecretValue"
                   and json.loads(e["CloudTrailEvent"])["requestParameters"] == {"secretId": created["Name"]}]
        self.assertEqual(1, len(matches), out)
        event = matches[0]
        self.assertEqual("coffer-admin", event["Username"])
        self.assertEqual("test", event["AccessKeyId"])
        self.assertEqual("true", event["ReadOnly"])
        self.assertEqual("secretsmanager.amazonaws.com", event["EventSource"])
        self.assertEqual(created["ARN"], event["Resources"][0]["ResourceName"])
        record = json.loads(event["CloudTrailEvent"])
        self.assertEqual("IAMUser", record["userIdentity"]["type"])
        self.assertEqual("coffer-admin", record["userIdentity"]["userName"])
        self.assertEqual(created["ARN"], record["resources"][0]["ARN"])
        self.assertEqual("AWSCURRENT", record["resources"][0]["stagingLabel"])

    def test_other_users_and_rejected_callers_are_told_apart(self):
        import boto3
        from botocore.exceptions import ClientError
        stranger = boto3.client("secretsmanager", endpoint_url=self.server.endpoint, region_name="us-east-1",
                                aws_access_key_id="AKIASTRANGER0000TEST", aws_secret_access_key="nope")
        with self.assertRaises(ClientError):
            stranger.list_secrets()
        ct = self.cloudtrail()
        found = ct.lookup_events(LookupAttributes=[{"AttributeKey": "AccessKeyId", "AttributeValue": "AKIASTRANGER0000TEST"}])
        self.assertEqual(1, len(found["Events"]))
        record = json.loads(found["Events"][0]["CloudTrailEvent"])
        self.assertEqual("UnrecognizedClientException", record["errorCode"])
        self.assertEqual("Unknown", record["userIdentity"]["type"])
        none = ct.lookup_events(LookupAttributes=[{"AttributeKey": "Username", "AttributeValue": "nobody"}])
        self.assertEqual([], none["Events"])

    def test_event_name_time_range_and_paging(self):
        start = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(seconds=5)
        created = self.create("paging")
        for _ in range(3):
            self.sm.describe_secret(SecretId=created["Name"])
        ct = self.cloudtrail()
        ids = []
        kwargs = {"LookupAttributes": [{"AttributeKey": "EventName", "AttributeValue": "DescribeSecret"}],
                  "StartTime": start, "MaxResults": 1}
        while True:
            page = ct.lookup_events(**kwargs)
            ids += [e["EventId"] for e in page["Events"]]
            if "NextToken" not in page:
                break
            kwargs["NextToken"] = page["NextToken"]
        self.assertGreaterEqual(len(ids), 3)
        self.assertEqual(len(ids), len(set(ids)))
        later = ct.lookup_events(StartTime=datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=1))
        self.assertEqual([], later["Events"])
        from botocore.exceptions import ClientError
        with self.assertRaises(ClientError) as raised:
            ct.lookup_events(MaxResults=51)
        self.assertEqual("InvalidMaxResultsException", raised.exception.response["Error"]["Code"])

    def test_resources_carry_their_own_type_and_every_secret_is_found(self):
        import boto3
        ct = self.cloudtrail()

        def client(service):
            return boto3.client(service, endpoint_url=self.server.endpoint, region_name=coffer_harness.DEFAULT_REGION,
                                aws_access_key_id=coffer_harness.DEV_ACCESS_KEY_ID,
                                aws_secret_access_key=coffer_harness.DEV_SECRET_ACCESS_KEY)

        # AssumeRole names a role: LookupEvents must say AWS::IAM::Role, and ResourceType finds it.
        iam, sts = client("iam"), client("sts")
        account = sts.get_caller_identity()["Account"]
        trust = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{account}:root"},
                                                                     "Action": "sts:AssumeRole"}]})
        role = iam.create_role(RoleName=coffer_harness.unique("ctrole"), AssumeRolePolicyDocument=trust)["Role"]
        assumed = sts.assume_role(RoleArn=role["Arn"], RoleSessionName="lookup")
        request_id = assumed["ResponseMetadata"]["RequestId"]
        # A call made with the role's session: Username is the session name, as in CloudTrail, and finds it.
        creds = assumed["Credentials"]
        as_role = boto3.client("secretsmanager", endpoint_url=self.server.endpoint, region_name=coffer_harness.DEFAULT_REGION,
                               aws_access_key_id=creds["AccessKeyId"], aws_secret_access_key=creds["SecretAccessKey"],
                               aws_session_token=creds["SessionToken"])
        from botocore.exceptions import ClientError
        with self.assertRaises(ClientError):
            as_role.list_secrets()
        by_session = ct.lookup_events(LookupAttributes=[{"AttributeKey": "Username", "AttributeValue": "lookup"}])["Events"]
        self.assertEqual(["ListSecrets"], [e["EventName"] for e in by_session])
        self.assertEqual("lookup", by_session[0]["Username"])
        self.assertEqual("AssumedRole", json.loads(by_session[0]["CloudTrailEvent"])["userIdentity"]["type"])
        roles = ct.lookup_events(LookupAttributes=[{"AttributeKey": "ResourceType", "AttributeValue": "AWS::IAM::Role"}])["Events"]
        event = [e for e in roles if json.loads(e["CloudTrailEvent"])["requestID"] == request_id]
        self.assertEqual(1, len(event), roles)
        self.assertEqual([{"ResourceType": "AWS::IAM::Role", "ResourceName": role["Arn"]}], event[0]["Resources"])

        # ResourceType AWS::SecretsManager::Secret lists only events that name a secret.
        secrets = ct.lookup_events(LookupAttributes=[{"AttributeKey": "ResourceType", "AttributeValue": "AWS::SecretsManager::Secret"}])["Events"]
        self.assertTrue(secrets)
        for e in secrets:
            self.assertIn("AWS::SecretsManager::Secret", [r["ResourceType"] for r in e["Resources"]], e)

        # BatchGetSecretValue of two secrets: both are its resources, and either finds it.
        first, second = self.create("batch1", SecretString="a"), self.create("batch2", SecretString="b")
        batch = self.sm.batch_get_secret_value(SecretIdList=[first["Name"], second["Name"]])
        for wanted in (second["Name"], second["ARN"], first["Name"]):
            found = ct.lookup_events(LookupAttributes=[{"AttributeKey": "ResourceName", "AttributeValue": wanted}])["Events"]
            event = [e for e in found if json.loads(e["CloudTrailEvent"])["requestID"] == batch["ResponseMetadata"]["RequestId"]]
            self.assertEqual(1, len(event), (wanted, found))
            self.assertEqual({first["ARN"], second["ARN"]}, {r["ResourceName"] for r in event[0]["Resources"]})

    def test_event_category_insight_has_no_management_events(self):
        from botocore.exceptions import ClientError
        self.create("insight")
        ct = self.cloudtrail()
        self.assertTrue(ct.lookup_events(MaxResults=5)["Events"])
        # CloudTrail: EventCategory "insight" returns Insights events only; Coffer records none.
        self.assertEqual([], ct.lookup_events(EventCategory="insight")["Events"])
        with self.assertRaises(ClientError) as raised:
            ct.lookup_events(EventCategory="management")
        self.assertEqual("InvalidEventCategoryException", raised.exception.response["Error"]["Code"])
        self.assertEqual(400, raised.exception.response["ResponseMetadata"]["HTTPStatusCode"])

    def test_a_null_lookup_attribute_is_invalid_not_an_internal_error(self):
        import urllib.error
        import urllib.request
        from botocore.auth import SigV4Auth
        from botocore.awsrequest import AWSRequest
        from botocore.credentials import Credentials
        target = "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.LookupEvents"
        request = AWSRequest(method="POST", url=self.server.endpoint + "/", data=b'{"LookupAttributes":[null]}',
                             headers={"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": target})
        SigV4Auth(Credentials(coffer_harness.DEV_ACCESS_KEY_ID, coffer_harness.DEV_SECRET_ACCESS_KEY), "cloudtrail",
                  coffer_harness.DEFAULT_REGION).add_auth(request)
        with self.assertRaises(urllib.error.HTTPError) as raised:
            urllib.request.urlopen(urllib.request.Request(request.url, data=request.body, headers=dict(request.headers),
                                                          method="POST"), timeout=30)
        self.assertEqual(400, raised.exception.code)
        self.assertEqual("InvalidLookupAttributesException", json.loads(raised.exception.read())["__type"])

    def test_a_failed_create_secret_is_found_by_the_name_it_gave(self):
        from botocore.exceptions import ClientError
        created = self.create("exists")
        with self.assertRaises(ClientError) as raised:
            self.sm.create_secret(Name=created["Name"], SecretString="x")
        self.assertEqual("ResourceExistsException", raised.exception.response["Error"]["Code"])
        request_id = raised.exception.response["ResponseMetadata"]["RequestId"]
        found = self.cloudtrail().lookup_events(
            LookupAttributes=[{"AttributeKey": "ResourceName", "AttributeValue": created["Name"]}])["Events"]
        failed = [e for e in found if json.loads(e["CloudTrailEvent"])["requestID"] == request_id]
        self.assertEqual(1, len(failed), found)
        self.assertEqual([{"ResourceType": "AWS::SecretsManager::Secret", "ResourceName": created["Name"]}], failed[0]["Resources"])

    def test_each_region_answers_its_own_events(self):
        # CloudTrail's LookupEvents is regional: a call made in eu-west-1 is found there and not in us-east-1.
        import boto3
        eu = self.client("eu-west-1")
        name = coffer_harness.unique("regional")
        arn = eu.create_secret(Name=name, SecretString="x")["ARN"]
        eu.get_secret_value(SecretId=name)
        attribute = [{"AttributeKey": "ResourceName", "AttributeValue": arn}]
        in_eu = boto3.client("cloudtrail", endpoint_url=self.server.endpoint, region_name="eu-west-1",
                             aws_access_key_id=coffer_harness.DEV_ACCESS_KEY_ID,
                             aws_secret_access_key=coffer_harness.DEV_SECRET_ACCESS_KEY).lookup_events(LookupAttributes=attribute)
        self.assertEqual(["GetSecretValue", "CreateSecret"], [e["EventName"] for e in in_eu["Events"]])
        self.assertTrue(all(json.loads(e["CloudTrailEvent"])["awsRegion"] == "eu-west-1" for e in in_eu["Events"]))
        self.assertEqual([], self.cloudtrail().lookup_events(LookupAttributes=attribute)["Events"])


if __name__ == "__main__":
    unittest.main()
