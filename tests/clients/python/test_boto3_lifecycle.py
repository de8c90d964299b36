"""boto3 against a real coffer server: deletion and restore, tags, resource policies, GetRandomPassword.

Spec: §2.6 (secrets scheduled for deletion), §3.5 DeleteSecret, §3.16 RestoreSecret, §3.19/§3.20 tags,
§3.4/§3.8/§3.12/§3.23 resource policies, §3.7 GetRandomPassword.
"""

import json
import string
import time
from datetime import datetime, timedelta, timezone

import coffer_harness
from coffer_harness import ServerTestCase, unique

MARKED = "You can't perform this operation on the secret because it was marked for deletion."
NOT_FOUND = "Secrets Manager can't find the specified secret."
PUNCTUATION = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"

PRIVATE_POLICY = {
    "Version": "2012-10-17",
    "Statement": [{
        "Effect": "Allow",
        "Principal": {"AWS": "arn:aws:iam::123456789012:root"},
        "Action": "secretsmanager:GetSecretValue",
        "Resource": "*",
    }],
}
PUBLIC_POLICY = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": "*", "Action": "secretsmanager:GetSecretValue", "Resource": "*"}],
}


def setUpModule():
    coffer_harness.start_module_server(__name__)


def tearDownModule():
    coffer_harness.stop_module_server(__name__)


def now() -> datetime:
    return datetime.now(timezone.utc)


class DeleteAndRestore(ServerTestCase):
    def assertAbout(self, expected: datetime, actual: datetime, slack=timedelta(minutes=5)):
        self.assertLess(abs(actual - expected), slack, f"{actual} is not about {expected}")

    def test_default_window_is_30_days(self):
        created = self.create(SecretString="x")
        resp = self.sm.delete_secret(SecretId=created["ARN"])
        self.assertEqual({"ARN", "Name", "DeletionDate"}, set(resp) - {"ResponseMetadata"})
        self.assertEqual(created["ARN"], resp["ARN"])
        self.assertAbout(now() + timedelta(days=30), resp["DeletionDate"])

    def test_windows_7_and_30_accepted(self):
        for days in (7, 30):
            with self.subTest(days=days):
                created = self.create(SecretString="x")
                resp = self.sm.delete_secret(SecretId=created["_name"], RecoveryWindowInDays=days)
                self.assertAbout(now() + timedelta(days=days), resp["DeletionDate"])
                self.assertIn("DeletedDate", self.sm.describe_secret(SecretId=created["ARN"]))

    def test_windows_outside_7_to_30_refused(self):
        created = self.create(SecretString="x")
        for days in (0, 6, 31, 1000):
            with self.subTest(days=days):
                self.assertError("InvalidParameterException", self.sm.delete_secret, SecretId=created["ARN"],
                                 RecoveryWindowInDays=days)
        # Still alive.
        self.assertEqual("x", self.sm.get_secret_value(SecretId=created["ARN"])["SecretString"])

    def test_window_and_force_together_refused(self):
        created = self.create(SecretString="x")
        self.assertError("InvalidParameterException", self.sm.delete_secret, SecretId=created["ARN"],
                         RecoveryWindowInDays=7, ForceDeleteWithoutRecovery=True)
        self.assertEqual("x", self.sm.get_secret_value(SecretId=created["ARN"])["SecretString"])

    def test_force_delete_removes_at_once(self):
        created = self.create(SecretString="x")
        resp = self.sm.delete_secret(SecretId=created["ARN"], ForceDeleteWithoutRecovery=True)
        self.assertEqual(created["ARN"], resp["ARN"])
        self.assertIn("DeletionDate", resp)
        self.assertError("ResourceNotFoundException", self.sm.describe_secret, SecretId=created["ARN"],
                         message=NOT_FOUND)
        self.assertError("ResourceNotFoundException", self.sm.get_secret_value, SecretId=created["_name"],
                         message=NOT_FOUND)

    def test_force_delete_of_missing_secret_succeeds(self):
        name = unique("never")
        resp = self.sm.delete_secret(SecretId=name, ForceDeleteWithoutRecovery=True)
        self.assertEqual(name, resp["Name"])
        self.assertTrue(resp.get("ARN"))
        self.assertIn("DeletionDate", resp)

    def test_recreate_after_force_delete_gets_new_arn(self):
        created = self.create(SecretString="one")
        self.sm.delete_secret(SecretId=created["ARN"], ForceDeleteWithoutRecovery=True)
        # The purge may be asynchronous (spec §3.5): back off briefly, as clients are told to.
        deadline = time.monotonic() + 15
        while True:
            try:
                again = self.sm.create_secret(Name=created["_name"], SecretString="two")
                break
            except self.sm.exceptions.InvalidRequestException:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
        self.assertNotEqual(created["ARN"], again["ARN"])
        self.assertEqual("two", self.sm.get_secret_value(SecretId=created["_name"])["SecretString"])
        self.assertError("ResourceNotFoundException", self.sm.get_secret_value, SecretId=created["ARN"])

    def test_force_delete_of_secret_scheduled_for_deletion(self):
        created = self.create(SecretString="x")
        self.sm.delete_secret(SecretId=created["ARN"])
        desc = self.sm.describe_secret(SecretId=created["ARN"])
        self.assertIn("DeletedDate", desc)
        self.assertEqual({created["VersionId"]: ["AWSCURRENT"]}, desc["VersionIdsToStages"])
        self.sm.delete_secret(SecretId=created["ARN"], ForceDeleteWithoutRecovery=True)
        self.assertError("ResourceNotFoundException", self.sm.describe_secret, SecretId=created["ARN"])

    def test_calls_on_a_secret_scheduled_for_deletion(self):
        created = self.create(SecretString="x", Tags=[{"Key": "initial-tag", "Value": "v"}])
        arn, v1 = created["ARN"], created["VersionId"]
        self.sm.put_secret_value(SecretId=arn, SecretString="y", VersionStages=["AWSPENDING"])
        self.sm.delete_secret(SecretId=arn, RecoveryWindowInDays=7)
        refused = [
            (self.sm.get_secret_value, {}),
            (self.sm.put_secret_value, {"SecretString": "z"}),
            (self.sm.update_secret, {"SecretString": "z"}),
            (self.sm.update_secret, {"Description": "z"}),
            (self.sm.update_secret_version_stage, {"VersionStage": "L", "MoveToVersionId": v1}),
            (self.sm.tag_resource, {"Tags": [{"Key": "new-tag", "Value": "v"}]}),
            (self.sm.untag_resource, {"TagKeys": ["initial-tag"]}),
        ]
        for fn, kwargs in refused:
            with self.subTest(action=fn.__name__, args=sorted(kwargs)):
                self.assertError("InvalidRequestException", fn, SecretId=arn, message=MARKED, **kwargs)
        # Metadata stays readable.
        desc = self.sm.describe_secret(SecretId=arn)
        self.assertIn("DeletedDate", desc)
        self.assertEqual([{"Key": "initial-tag", "Value": "v"}], desc["Tags"])
        self.assertEqual(2, len(self.sm.list_secret_version_ids(SecretId=arn)["Versions"]))
        # Same name cannot be created while the old one waits for its purge.
        self.assertError(
            "InvalidRequestException", self.sm.create_secret, Name=created["_name"], SecretString="new",
            message="You can't create this secret because a secret with this name is already scheduled for deletion.")

    def test_restore(self):
        created = self.create(SecretString="keep me")
        arn = created["ARN"]
        self.sm.delete_secret(SecretId=arn)
        resp = self.sm.restore_secret(SecretId=created["_name"])
        self.assertEqual({"ARN", "Name"}, set(resp) - {"ResponseMetadata"})
        self.assertEqual(arn, resp["ARN"])
        self.assertNotIn("DeletedDate", self.sm.describe_secret(SecretId=arn))
        self.assertEqual("keep me", self.sm.get_secret_value(SecretId=arn)["SecretString"])
        self.sm.put_secret_value(SecretId=arn, SecretString="writable again")
        self.assertEqual("writable again", self.sm.get_secret_value(SecretId=arn)["SecretString"])

    def test_restore_of_live_secret_is_harmless(self):
        created = self.create(SecretString="x")
        self.sm.restore_secret(SecretId=created["ARN"])
        self.assertEqual("x", self.sm.get_secret_value(SecretId=created["ARN"])["SecretString"])


class Tags(ServerTestCase):
    def tags(self, arn):
        return self.sm.describe_secret(SecretId=arn).get("Tags")

    def test_tag_untag_cycle(self):
        created = self.create()
        arn = created["ARN"]
        self.assertIsNone(self.tags(arn))
        resp = self.sm.tag_resource(SecretId=arn, Tags=[{"Key": "tag1", "Value": "value1"}])
        self.assertEqual(set(), set(resp) - {"ResponseMetadata"})
        self.assertEqual([{"Key": "tag1", "Value": "value1"}], self.tags(arn))
        self.sm.tag_resource(SecretId=arn, Tags=[{"Key": "tag2", "Value": "value2"}])
        self.assertEqual({"tag1": "value1", "tag2": "value2"}, {t["Key"]: t["Value"] for t in self.tags(arn)})
        self.sm.untag_resource(SecretId=arn, TagKeys=["tag1"])
        self.assertEqual([{"Key": "tag2", "Value": "value2"}], self.tags(arn))
        self.sm.untag_resource(SecretId=arn, TagKeys=["tag2"])
        self.assertEqual([], self.tags(arn) or [])

    def test_overwrite_and_case_sensitive_keys(self):
        created = self.create(SecretString="x", Tags=[{"Key": "env", "Value": "dev"}])
        arn = created["ARN"]
        self.sm.tag_resource(SecretId=arn, Tags=[{"Key": "env", "Value": "prod"}, {"Key": "Env", "Value": "x"},
                                                 {"Key": "empty", "Value": ""}])
        self.assertEqual({"env": "prod", "Env": "x", "empty": ""}, {t["Key"]: t["Value"] for t in self.tags(arn)})

    def test_untag_missing_key_is_not_an_error(self):
        created = self.create(SecretString="x", Tags=[{"Key": "a", "Value": "1"}])
        self.sm.untag_resource(SecretId=created["ARN"], TagKeys=["nope"])
        self.assertEqual([{"Key": "a", "Value": "1"}], self.tags(created["ARN"]))

    def test_tags_shown_in_list_secrets(self):
        name = unique("tagged")
        self.sm.create_secret(Name=name, SecretString="x", Tags=[{"Key": "team", "Value": "blue"}])
        [entry] = self.sm.list_secrets(Filters=[{"Key": "name", "Values": [name]}])["SecretList"]
        self.assertEqual([{"Key": "team", "Value": "blue"}], entry["Tags"])

    def test_more_than_50_tags_refused(self):
        created = self.create(SecretString="x")
        many = [{"Key": f"k{i}", "Value": "v"} for i in range(51)]
        self.assertErrorIn({"ValidationException", "InvalidParameterException", "LimitExceededException"},
                           self.sm.tag_resource, SecretId=created["ARN"], Tags=many)
        self.assertIsNone(self.tags(created["ARN"]))

    def test_aws_prefix_refused(self):
        created = self.create(SecretString="x")
        self.assertErrorIn({"ValidationException", "InvalidParameterException"},
                           self.sm.tag_resource, SecretId=created["ARN"], Tags=[{"Key": "aws:x", "Value": "v"}])

    def test_key_too_long_refused(self):
        created = self.create(SecretString="x")
        self.assertErrorIn({"ValidationException", "InvalidParameterException"},
                           self.sm.tag_resource, SecretId=created["ARN"], Tags=[{"Key": "k" * 129, "Value": "v"}])


class ResourcePolicies(ServerTestCase):
    def test_put_get_delete(self):
        created = self.create(SecretString="x")
        arn = created["ARN"]
        put = self.sm.put_resource_policy(SecretId=created["_name"], ResourcePolicy=json.dumps(PRIVATE_POLICY))
        self.assertEqual({"ARN": arn, "Name": created["_name"]},
                         {k: v for k, v in put.items() if k != "ResponseMetadata"})
        got = self.sm.get_resource_policy(SecretId=arn)
        self.assertEqual(arn, got["ARN"])
        self.assertEqual(PRIVATE_POLICY, json.loads(got["ResourcePolicy"]))
        deleted = self.sm.delete_resource_policy(SecretId=arn)
        self.assertEqual({"ARN", "Name"}, set(deleted) - {"ResponseMetadata"})
        after = self.sm.get_resource_policy(SecretId=arn)
        self.assertNotIn("ResourcePolicy", after)
        self.assertEqual(arn, after["ARN"])

    def test_put_replaces(self):
        created = self.create(SecretString="x")
        self.sm.put_resource_policy(SecretId=created["ARN"], ResourcePolicy=json.dumps(PRIVATE_POLICY))
        second = dict(PRIVATE_POLICY, Statement=[dict(PRIVATE_POLICY["Statement"][0], Sid="Second")])
        self.sm.put_resource_policy(SecretId=created["ARN"], ResourcePolicy=json.dumps(second))
        self.assertEqual(second, json.loads(self.sm.get_resource_policy(SecretId=created["ARN"])["ResourcePolicy"]))

    def test_public_policy_without_block_is_stored(self):
        created = self.create(SecretString="x")
        self.sm.put_resource_policy(SecretId=created["ARN"], ResourcePolicy=json.dumps(PUBLIC_POLICY))
        self.assertEqual(PUBLIC_POLICY, json.loads(self.sm.get_resource_policy(SecretId=created["ARN"])["ResourcePolicy"]))

    def test_block_public_policy(self):
        created = self.create(SecretString="x")
        for policy in (PUBLIC_POLICY, dict(PUBLIC_POLICY, Statement=[dict(PUBLIC_POLICY["Statement"][0],
                                                                            Principal={"AWS": "*"})])):
            with self.subTest(principal=policy["Statement"][0]["Principal"]):
                self.assertError("PublicPolicyException", self.sm.put_resource_policy, SecretId=created["ARN"],
                                 ResourcePolicy=json.dumps(policy), BlockPublicPolicy=True)
        self.assertNotIn("ResourcePolicy", self.sm.get_resource_policy(SecretId=created["ARN"]))
        # A private policy passes the block.
        self.sm.put_resource_policy(SecretId=created["ARN"], ResourcePolicy=json.dumps(PRIVATE_POLICY),
                                    BlockPublicPolicy=True)

    def test_malformed_policies_refused(self):
        created = self.create(SecretString="x")
        for bad in ("not json", "{}", '{"Version":"2012-10-17"}', '{"Version":"2012-10-17","Statement":[{"Effect":"Maybe",'
                    '"Principal":"*","Action":"secretsmanager:GetSecretValue","Resource":"*"}]}'):
            with self.subTest(policy=bad):
                self.assertError("MalformedPolicyDocumentException", self.sm.put_resource_policy,
                                 SecretId=created["ARN"], ResourcePolicy=bad)

    def test_validate(self):
        created = self.create(SecretString="x")
        ok = self.sm.validate_resource_policy(SecretId=created["ARN"], ResourcePolicy=json.dumps(PRIVATE_POLICY))
        self.assertTrue(ok["PolicyValidationPassed"])
        self.assertEqual([], ok.get("ValidationErrors", []))
        no_secret = self.sm.validate_resource_policy(ResourcePolicy=json.dumps(PRIVATE_POLICY))
        self.assertTrue(no_secret["PolicyValidationPassed"])
        public = self.sm.validate_resource_policy(ResourcePolicy=json.dumps(PUBLIC_POLICY))
        self.assertFalse(public["PolicyValidationPassed"])
        self.assertTrue(public["ValidationErrors"])
        for err in public["ValidationErrors"]:
            self.assertTrue(err.get("CheckName"))
            self.assertTrue(err.get("ErrorMessage"))
        # Validation never attaches anything.
        self.assertNotIn("ResourcePolicy", self.sm.get_resource_policy(SecretId=created["ARN"]))

    def test_validate_syntax_error(self):
        from botocore.exceptions import ClientError
        try:
            resp = self.sm.validate_resource_policy(ResourcePolicy="not json")
        except ClientError as e:
            self.assertEqual("MalformedPolicyDocumentException", e.response["Error"]["Code"])
        else:
            self.assertFalse(resp["PolicyValidationPassed"])

    def test_validate_on_missing_secret(self):
        self.assertError("ResourceNotFoundException", self.sm.validate_resource_policy, SecretId=unique("missing"),
                         ResourcePolicy=json.dumps(PRIVATE_POLICY))


class RandomPassword(ServerTestCase):
    def pw(self, **kwargs) -> str:
        resp = self.sm.get_random_password(**kwargs)
        self.assertEqual({"RandomPassword"}, set(resp) - {"ResponseMetadata"})
        return resp["RandomPassword"]

    def test_default_is_32_with_every_class(self):
        for _ in range(10):
            p = self.pw()
            self.assertEqual(32, len(p))
            self.assertTrue(any(c in string.ascii_uppercase for c in p), p)
            self.assertTrue(any(c in string.ascii_lowercase for c in p), p)
            self.assertTrue(any(c in string.digits for c in p), p)
            self.assertTrue(any(c in PUNCTUATION for c in p), p)
            self.assertNotIn(" ", p)
            self.assertTrue(set(p) <= set(string.ascii_letters + string.digits + PUNCTUATION), p)

    def test_length(self):
        for n in (4, 1, 4096):
            with self.subTest(n=n):
                kwargs = {"PasswordLength": n}
                if n < 4:
                    kwargs["RequireEachIncludedType"] = False
                self.assertEqual(n, len(self.pw(**kwargs)))

    def test_length_out_of_range(self):
        self.assertErrorIn({"ValidationException", "InvalidParameterException"}, self.sm.get_random_password,
                           PasswordLength=4097)

    def test_exclude_characters(self):
        p = self.pw(PasswordLength=120, ExcludeCharacters="xyzDje@?!.")
        self.assertEqual(120, len(p))
        self.assertFalse(set(p) & set("xyzDje@?!."), p)

    def test_exclude_classes(self):
        cases = {
            "ExcludeNumbers": string.digits,
            "ExcludePunctuation": PUNCTUATION,
            "ExcludeUppercase": string.ascii_uppercase,
            "ExcludeLowercase": string.ascii_lowercase,
        }
        for option, chars in cases.items():
            with self.subTest(option=option):
                p = self.pw(PasswordLength=200, **{option: True})
                self.assertFalse(set(p) & set(chars), p)

    def test_only_digits(self):
        p = self.pw(PasswordLength=50, ExcludePunctuation=True, ExcludeUppercase=True, ExcludeLowercase=True)
        self.assertTrue(p.isdigit(), p)

    def test_include_space(self):
        p = self.pw(PasswordLength=4096, IncludeSpace=True)
        self.assertIn(" ", p)
        self.assertNotIn(" ", self.pw(PasswordLength=4096))

    def test_require_each_included_type_short(self):
        for _ in range(25):
            p = self.pw(PasswordLength=4)
            classes = [string.ascii_uppercase, string.ascii_lowercase, string.digits, PUNCTUATION]
            self.assertTrue(all(any(c in cls for c in p) for cls in classes), p)

    def test_impossible_requests_refused(self):
        self.assertError("InvalidParameterException", self.sm.get_random_password, ExcludeNumbers=True,
                         ExcludePunctuation=True, ExcludeUppercase=True, ExcludeLowercase=True)
        self.assertError("InvalidParameterException", self.sm.get_random_password, PasswordLength=3)

    def test_not_repeated(self):
        seen = {self.pw() for _ in range(20)}
        self.assertEqual(20, len(seen))

    def test_roughly_uniform(self):
        """Unbiased selection: over 40,000 digit draws each digit appears 4,000 +- 400 times (> 6 sigma)."""
        p = "".join(self.pw(PasswordLength=4000, ExcludePunctuation=True, ExcludeUppercase=True,
                            ExcludeLowercase=True) for _ in range(10))
        for d in string.digits:
            self.assertLess(abs(p.count(d) - 4000), 400, f"digit {d}: {p.count(d)}")

