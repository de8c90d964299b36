"""boto3 against a real coffer server: values, versions, staging labels and idempotency.

Spec: §1.6 (identifiers), §2.3 (labels), §2.4/§2.5 (versions, ClientRequestToken), §3.3 CreateSecret,
§3.6 DescribeSecret, §3.9 GetSecretValue, §3.10 ListSecretVersionIds, §3.13 PutSecretValue, §3.21 UpdateSecret,
§3.22 UpdateSecretVersionStage. Exact messages come from the recorded AWS responses where they exist.
"""

import json
import re
import uuid
from datetime import timezone

import coffer_harness
from coffer_harness import ServerTestCase, unique

NOT_FOUND = "Secrets Manager can't find the specified secret."
BOTH_VALUES = "You can't specify both a binary secret value and a string secret value in the same secret."
INVALID_NAME = ("Invalid name. Must be a valid name containing alphanumeric characters, "
                "or any of the following: -/_+=.@!")
ARN_RE = re.compile(r"^arn:aws:secretsmanager:(?P<region>[a-z0-9-]+):(?P<account>\d{12}):secret:"
                    r"(?P<name>.+)-(?P<suffix>[A-Za-z0-9]{6})$")


def setUpModule():
    coffer_harness.start_module_server(__name__)


def tearDownModule():
    coffer_harness.stop_module_server(__name__)


def token() -> str:
    return str(uuid.uuid4())


def token_reuse_message(tok: str, arn: str) -> str:
    return f"You can't use ClientRequestToken {tok} because that value is already in use for a version of secret {arn}."


class CreateAndGet(ServerTestCase):
    def test_create_returns_arn_name_version(self):
        name = unique("create")
        tok = token()
        resp = self.sm.create_secret(Name=name, SecretString="v1", ClientRequestToken=tok, Description="d")
        self.assertEqual(name, resp["Name"])
        self.assertEqual(tok, resp["VersionId"])
        m = ARN_RE.match(resp["ARN"])
        self.assertIsNotNone(m, resp["ARN"])
        self.assertEqual("us-east-1", m["region"])
        self.assertEqual(name, m["name"])
        self.assertEqual({"ARN", "Name", "VersionId"}, set(resp) - {"ResponseMetadata"})

    def test_response_metadata_has_request_id(self):
        resp = self.create(SecretString="x")
        self.assertTrue(resp["ResponseMetadata"].get("RequestId"), resp["ResponseMetadata"])

    def test_get_by_name_full_arn_and_partial_arn(self):
        created = self.create(SecretString="by-every-id")
        arn = created["ARN"]
        for secret_id in (created["_name"], arn, arn[:-7]):
            with self.subTest(secret_id=secret_id):
                got = self.sm.get_secret_value(SecretId=secret_id)
                self.assertEqual("by-every-id", got["SecretString"])
                self.assertEqual(arn, got["ARN"])
                self.assertEqual(created["_name"], got["Name"])
                self.assertEqual(created["VersionId"], got["VersionId"])
                self.assertEqual(["AWSCURRENT"], got["VersionStages"])
                self.assertIn("CreatedDate", got)
                self.assertNotIn("SecretBinary", got)

    def test_name_with_every_allowed_character(self):
        name = "Valid/_+=.@-Name-" + uuid.uuid4().hex[:6]
        created = self.sm.create_secret(Name=name, SecretString="ok")
        self.assertEqual(name, self.sm.describe_secret(SecretId=name)["Name"])
        self.assertEqual("ok", self.sm.get_secret_value(SecretId=created["ARN"])["SecretString"])

    def test_binary_round_trip(self):
        data = bytes(range(256)) * 3
        created = self.create(SecretBinary=data)
        got = self.sm.get_secret_value(SecretId=created["ARN"])
        self.assertEqual(data, got["SecretBinary"])
        self.assertNotIn("SecretString", got)

    def test_unicode_string_round_trip(self):
        value = 'päss "wörd" \\ \n \u2603 \U0001F511'
        created = self.create(SecretString=value)
        self.assertEqual(value, self.sm.get_secret_value(SecretId=created["ARN"])["SecretString"])

    def test_string_of_65536_is_accepted_and_65537_refused(self):
        value = "a" * 65536
        created = self.create(SecretString=value)
        self.assertEqual(value, self.sm.get_secret_value(SecretId=created["ARN"])["SecretString"])
        self.sm.put_secret_value(SecretId=created["ARN"], SecretString="b" * 65536)
        self.assertErrorIn({"ValidationException", "InvalidParameterException"},
                           self.sm.put_secret_value, SecretId=created["ARN"], SecretString="c" * 65537)
        self.assertErrorIn({"ValidationException", "InvalidParameterException"},
                           self.sm.create_secret, Name=unique("big"), SecretString="d" * 65537)
        # Nothing was written by the refused calls.
        self.assertEqual("b" * 65536, self.sm.get_secret_value(SecretId=created["ARN"])["SecretString"])

    def test_binary_of_65536_bytes_is_accepted_and_65537_refused(self):
        created = self.create(SecretBinary=b"\x01" * 65536)
        self.assertEqual(b"\x01" * 65536, self.sm.get_secret_value(SecretId=created["ARN"])["SecretBinary"])
        self.assertErrorIn({"ValidationException", "InvalidParameterException"},
                           self.sm.put_secret_value, SecretId=created["ARN"], SecretBinary=b"\x02" * 65537)
        self.assertErrorIn({"ValidationException", "InvalidParameterException"},
                           self.sm.create_secret, Name=unique("bigbin"), SecretBinary=b"\x03" * 65537)

    def test_both_string_and_binary_refused(self):
        self.assertError("InvalidParameterException", self.sm.create_secret, Name=unique("both"),
                         SecretString="s", SecretBinary=b"b", message=BOTH_VALUES)
        created = self.create(SecretString="s")
        self.assertError("InvalidParameterException", self.sm.put_secret_value, SecretId=created["ARN"],
                         SecretString="s", SecretBinary=b"b", message=BOTH_VALUES)
        self.assertError("InvalidParameterException", self.sm.update_secret, SecretId=created["ARN"],
                         SecretString="s", SecretBinary=b"b", message=BOTH_VALUES)

    def test_put_without_value_refused(self):
        created = self.create(SecretString="s")
        self.assertErrorIn({"InvalidParameterException", "InvalidRequestException", "ValidationException"},
                           self.sm.put_secret_value, SecretId=created["ARN"])

    def test_invalid_names_refused(self):
        for bad in ("Inv Name", " Inv*Name? ", "name#hash"):
            with self.subTest(name=bad):
                self.assertError("ValidationException", self.sm.create_secret, Name=bad, SecretString="x",
                                 message=INVALID_NAME)
                self.assertError("ValidationException", self.sm.describe_secret, SecretId=bad, message=INVALID_NAME)
                self.assertError("ValidationException", self.sm.get_secret_value, SecretId=bad, message=INVALID_NAME)

    def test_name_longer_than_512_refused(self):
        self.assertErrorIn({"ValidationException", "InvalidParameterException"}, self.sm.create_secret,
                           Name="n" * 513, SecretString="x")

    def test_duplicate_name_refused(self):
        created = self.create(SecretString="first")
        name = created["_name"]
        self.assertError("ResourceExistsException", self.sm.create_secret, Name=name, SecretString="second",
                         message=f"The operation failed because the secret {name} already exists.")
        self.assertEqual("first", self.sm.get_secret_value(SecretId=name)["SecretString"])

    def test_create_without_value_has_no_version(self):
        created = self.create(Description="empty")
        self.assertNotIn("VersionId", created)
        desc = self.sm.describe_secret(SecretId=created["ARN"])
        self.assertNotIn("VersionIdsToStages", desc)
        self.assertError("ResourceNotFoundException", self.sm.get_secret_value, SecretId=created["ARN"],
                         message="Secrets Manager can't find the specified secret value for staging label: AWSCURRENT")
        self.assertEqual([], self.sm.list_secret_version_ids(SecretId=created["ARN"])["Versions"])
        # The first value gets AWSCURRENT even though no label was asked for.
        put = self.sm.put_secret_value(SecretId=created["ARN"], SecretString="now")
        self.assertEqual(["AWSCURRENT"], put["VersionStages"])
        self.assertEqual("now", self.sm.get_secret_value(SecretId=created["ARN"])["SecretString"])


class NotFound(ServerTestCase):
    def test_every_secret_action_on_a_missing_secret(self):
        missing = unique("missing")
        calls = [
            (self.sm.get_secret_value, {}),
            (self.sm.describe_secret, {}),
            (self.sm.put_secret_value, {"SecretString": "x"}),
            (self.sm.update_secret, {"Description": "x"}),
            (self.sm.list_secret_version_ids, {}),
            (self.sm.delete_secret, {}),
            (self.sm.restore_secret, {}),
            (self.sm.tag_resource, {"Tags": [{"Key": "k", "Value": "v"}]}),
            (self.sm.untag_resource, {"TagKeys": ["k"]}),
            (self.sm.get_resource_policy, {}),
            (self.sm.put_resource_policy, {"ResourcePolicy": json.dumps({"Version": "2012-10-17", "Statement": [{
                "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::123456789012:root"},
                "Action": "secretsmanager:GetSecretValue", "Resource": "*"}]})}),
            (self.sm.delete_resource_policy, {}),
            (self.sm.update_secret_version_stage, {"VersionStage": "X", "MoveToVersionId": token()}),
        ]
        for fn, kwargs in calls:
            with self.subTest(action=fn.__name__):
                self.assertError("ResourceNotFoundException", fn, SecretId=missing, message=NOT_FOUND, **kwargs)

    def test_arn_of_missing_secret(self):
        created = self.create(SecretString="x")
        wrong_name = created["ARN"].replace(created["_name"], created["_name"] + "zz")
        self.assertError("ResourceNotFoundException", self.sm.get_secret_value, SecretId=wrong_name,
                         message=NOT_FOUND)
        self.assertError("ResourceNotFoundException", self.sm.get_secret_value, SecretId=wrong_name[:-7],
                         message=NOT_FOUND)


class GetSecretValueErrors(ServerTestCase):
    def test_missing_label(self):
        created = self.create(SecretString="x")
        self.assertError("ResourceNotFoundException", self.sm.get_secret_value, SecretId=created["ARN"],
                         VersionStage="AWSPREVIOUS",
                         message="Secrets Manager can't find the specified secret value for staging label: AWSPREVIOUS")
        self.assertError("ResourceNotFoundException", self.sm.get_secret_value, SecretId=created["ARN"],
                         VersionStage="AWSPENDING",
                         message="Secrets Manager can't find the specified secret value for staging label: AWSPENDING")

    def test_missing_version_id(self):
        created = self.create(SecretString="x")
        vid = token()
        self.assertError("ResourceNotFoundException", self.sm.get_secret_value, SecretId=created["ARN"],
                         VersionId=vid,
                         message=f"Secrets Manager can't find the specified secret value for VersionId: {vid}")

    def test_version_id_and_stage_must_agree(self):
        created = self.create(SecretString="x")
        self.assertError("InvalidRequestException", self.sm.get_secret_value, SecretId=created["_name"],
                         VersionId=created["VersionId"], VersionStage="AWSPREVIOUS",
                         message="You provided a VersionStage that is not associated to the provided VersionId.")
        ok = self.sm.get_secret_value(SecretId=created["_name"], VersionId=created["VersionId"],
                                      VersionStage="AWSCURRENT")
        self.assertEqual("x", ok["SecretString"])


class Labels(ServerTestCase):
    def test_put_moves_current_and_previous(self):
        created = self.create(SecretString="v1")
        arn, v1 = created["ARN"], created["VersionId"]
        p2 = self.sm.put_secret_value(SecretId=arn, SecretString="v2")
        self.assertEqual(["AWSCURRENT"], p2["VersionStages"])
        self.assertEqual({"ARN", "Name", "VersionId", "VersionStages"}, set(p2) - {"ResponseMetadata"})
        v2 = p2["VersionId"]
        self.assertEqual({v1: {"AWSPREVIOUS"}, v2: {"AWSCURRENT"}}, self.stages(arn))
        p3 = self.sm.put_secret_value(SecretId=arn, SecretString="v3")
        v3 = p3["VersionId"]
        self.assertEqual({v2: {"AWSPREVIOUS"}, v3: {"AWSCURRENT"}}, self.stages(arn))
        # v1 lost its last label: deprecated, hidden unless asked for.
        self.assertEqual({v1: set(), v2: {"AWSPREVIOUS"}, v3: {"AWSCURRENT"}},
                         self.stages(arn, include_deprecated=True))
        self.assertEqual("v2", self.sm.get_secret_value(SecretId=arn, VersionStage="AWSPREVIOUS")["SecretString"])
        desc = self.sm.describe_secret(SecretId=arn)
        self.assertEqual({v2: ["AWSPREVIOUS"], v3: ["AWSCURRENT"]}, desc["VersionIdsToStages"])

    def test_put_with_pending_leaves_current(self):
        created = self.create(SecretString="v1")
        arn, v1 = created["ARN"], created["VersionId"]
        p = self.sm.put_secret_value(SecretId=arn, SecretString="v2", VersionStages=["AWSPENDING"])
        self.assertEqual(["AWSPENDING"], p["VersionStages"])
        self.assertEqual({v1: {"AWSCURRENT"}, p["VersionId"]: {"AWSPENDING"}}, self.stages(arn))
        self.assertEqual("v1", self.sm.get_secret_value(SecretId=arn)["SecretString"])
        self.assertEqual("v2", self.sm.get_secret_value(SecretId=arn, VersionStage="AWSPENDING")["SecretString"])

    def test_put_with_custom_labels_moves_them(self):
        created = self.create(SecretString="S0")
        arn, v0 = created["ARN"], created["VersionId"]
        p1 = self.sm.put_secret_value(SecretId=arn, SecretString="S1", VersionStages=["one", "two", "three"])
        self.assertEqual({"one", "two", "three"}, set(p1["VersionStages"]))
        p2 = self.sm.put_secret_value(SecretId=arn, SecretString="S2", VersionStages=["one", "two", "four"])
        self.assertEqual({v0: {"AWSCURRENT"}, p1["VersionId"]: {"three"}, p2["VersionId"]: {"one", "two", "four"}},
                         self.stages(arn))

    def test_put_with_current_and_custom_label(self):
        created = self.create(SecretString="SS")
        arn, v0 = created["ARN"], created["VersionId"]
        p = self.sm.put_secret_value(SecretId=arn, SecretString="S1", VersionStages=["AWSCURRENT", "PUT0"])
        self.assertEqual({v0: {"AWSPREVIOUS"}, p["VersionId"]: {"AWSCURRENT", "PUT0"}}, self.stages(arn))

    def test_update_secret_version_stage_needs_remove_from(self):
        created = self.create(SecretString="v1")
        arn, v1 = created["ARN"], created["VersionId"]
        v2 = self.sm.put_secret_value(SecretId=arn, SecretString="v2", VersionStages=["AWSPENDING"])["VersionId"]
        self.assertError(
            "InvalidParameterException", self.sm.update_secret_version_stage, SecretId=arn,
            VersionStage="AWSCURRENT", MoveToVersionId=v2,
            message=("The parameter RemoveFromVersionId can't be empty. Staging label AWSCURRENT is currently "
                     f"attached to version {v1}, so you must explicitly reference that version in RemoveFromVersionId."))
        # Nothing moved.
        self.assertEqual({v1: {"AWSCURRENT"}, v2: {"AWSPENDING"}}, self.stages(arn))

    def test_update_secret_version_stage_with_wrong_remove_from(self):
        created = self.create(SecretString="v1")
        arn, v1 = created["ARN"], created["VersionId"]
        v2 = self.sm.put_secret_value(SecretId=arn, SecretString="v2", VersionStages=["AWSPENDING"])["VersionId"]
        v3 = self.sm.put_secret_value(SecretId=arn, SecretString="v3", VersionStages=["X"])["VersionId"]
        self.assertError("InvalidParameterException", self.sm.update_secret_version_stage, SecretId=arn,
                         VersionStage="AWSCURRENT", MoveToVersionId=v2, RemoveFromVersionId=v3)
        self.assertEqual({v1: {"AWSCURRENT"}, v2: {"AWSPENDING"}, v3: {"X"}}, self.stages(arn))

    def test_update_secret_version_stage_unknown_version(self):
        created = self.create(SecretString="v1")
        self.assertErrorIn({"InvalidParameterException", "ResourceNotFoundException"},
                           self.sm.update_secret_version_stage, SecretId=created["ARN"], VersionStage="L",
                           MoveToVersionId=token())

    def test_finish_rotation_by_moving_current(self):
        """The rotation functions' finishSecret step (spec §4.2 step 5)."""
        created = self.create(SecretString="S1")
        arn, v1 = created["ARN"], created["VersionId"]
        v2 = self.sm.put_secret_value(SecretId=arn, SecretString="S2", VersionStages=["AWSPENDING"])["VersionId"]
        resp = self.sm.update_secret_version_stage(SecretId=arn, VersionStage="AWSCURRENT", MoveToVersionId=v2,
                                                   RemoveFromVersionId=v1)
        self.assertEqual({"ARN", "Name"}, set(resp) - {"ResponseMetadata"})
        self.assertEqual({v1: {"AWSPREVIOUS"}, v2: {"AWSCURRENT", "AWSPENDING"}}, self.stages(arn))
        got = self.sm.get_secret_value(SecretId=arn)
        self.assertEqual("S2", got["SecretString"])
        self.assertEqual({"AWSCURRENT", "AWSPENDING"}, set(got["VersionStages"]))
        # Next cycle: a new pending version takes AWSPENDING away from v2.
        v3 = self.sm.put_secret_value(SecretId=arn, SecretString="S3", VersionStages=["AWSPENDING"])["VersionId"]
        self.assertEqual({v1: {"AWSPREVIOUS"}, v2: {"AWSCURRENT"}, v3: {"AWSPENDING"}}, self.stages(arn))
        self.sm.update_secret_version_stage(SecretId=arn, VersionStage="AWSCURRENT", MoveToVersionId=v3,
                                            RemoveFromVersionId=v2)
        self.assertEqual({v2: {"AWSPREVIOUS"}, v3: {"AWSCURRENT", "AWSPENDING"}}, self.stages(arn))

    def test_remove_label_only(self):
        created = self.create(SecretString="SS")
        arn, v1 = created["ARN"], created["VersionId"]
        v2 = self.sm.put_secret_value(SecretId=arn, SecretString="S1", VersionStages=["PENDING"])["VersionId"]
        self.sm.update_secret_version_stage(SecretId=arn, VersionStage="AWSCURRENT", MoveToVersionId=v2,
                                            RemoveFromVersionId=v1)
        self.sm.update_secret_version_stage(SecretId=arn, VersionStage="PENDING", RemoveFromVersionId=v2)
        self.assertEqual(["AWSPREVIOUS"], self.sm.get_secret_value(SecretId=arn, VersionId=v1)["VersionStages"])
        self.assertEqual(["AWSCURRENT"], self.sm.get_secret_value(SecretId=arn, VersionId=v2)["VersionStages"])

    def test_add_custom_label_to_version(self):
        created = self.create(SecretString="SS")
        arn, v1 = created["ARN"], created["VersionId"]
        self.sm.update_secret_version_stage(SecretId=arn, VersionStage="blue", MoveToVersionId=v1)
        self.assertEqual({v1: {"AWSCURRENT", "blue"}}, self.stages(arn))
        self.assertEqual("SS", self.sm.get_secret_value(SecretId=arn, VersionStage="blue")["SecretString"])

    def test_exactly_one_current_after_many_moves(self):
        created = self.create(SecretString="0")
        arn = created["ARN"]
        for i in range(1, 6):
            self.sm.put_secret_value(SecretId=arn, SecretString=str(i))
            if i % 2:
                self.sm.update_secret(SecretId=arn, SecretString=f"u{i}")
        all_stages = self.stages(arn, include_deprecated=True)
        for label in ("AWSCURRENT", "AWSPREVIOUS"):
            self.assertEqual(1, sum(label in s for s in all_stages.values()), f"{label}: {all_stages}")
        self.assertEqual("u5", self.sm.get_secret_value(SecretId=arn)["SecretString"])


class Idempotency(ServerTestCase):
    def test_create_replay_same_value_is_a_no_op(self):
        name, tok = unique("idem"), token()
        first = self.sm.create_secret(Name=name, SecretString="v", ClientRequestToken=tok)
        again = self.sm.create_secret(Name=name, SecretString="v", ClientRequestToken=tok)
        for key in ("ARN", "Name", "VersionId"):
            self.assertEqual(first[key], again[key])
        self.assertEqual({tok: {"AWSCURRENT"}}, self.stages(name))

    def test_create_replay_different_value_refused(self):
        name, tok = unique("idem"), token()
        first = self.sm.create_secret(Name=name, SecretString="v", ClientRequestToken=tok)
        self.assertError("ResourceExistsException", self.sm.create_secret, Name=name, SecretString="other",
                         ClientRequestToken=tok, message=token_reuse_message(tok, first["ARN"]))
        self.assertEqual("v", self.sm.get_secret_value(SecretId=name)["SecretString"])

    def test_put_replay_same_value_is_a_no_op(self):
        created = self.create(SecretString="v1")
        arn, tok = created["ARN"], token()
        first = self.sm.put_secret_value(SecretId=arn, SecretString="v2", ClientRequestToken=tok)
        self.assertEqual(tok, first["VersionId"])
        again = self.sm.put_secret_value(SecretId=arn, SecretString="v2", ClientRequestToken=tok)
        self.assertEqual(tok, again["VersionId"])
        self.assertEqual(["AWSCURRENT"], again["VersionStages"])
        self.assertEqual({created["VersionId"]: {"AWSPREVIOUS"}, tok: {"AWSCURRENT"}},
                         self.stages(arn, include_deprecated=True))

    def test_put_replay_different_value_refused(self):
        created = self.create(SecretString="v1")
        arn, tok = created["ARN"], token()
        self.sm.put_secret_value(SecretId=arn, SecretString="v2", ClientRequestToken=tok)
        self.assertError("ResourceExistsException", self.sm.put_secret_value, SecretId=arn, SecretString="v3",
                         ClientRequestToken=tok, message=token_reuse_message(tok, arn))
        self.assertError("ResourceExistsException", self.sm.put_secret_value, SecretId=arn,
                         SecretBinary=b"v2", ClientRequestToken=tok, message=token_reuse_message(tok, arn))
        self.assertEqual("v2", self.sm.get_secret_value(SecretId=arn)["SecretString"])

    def test_put_reusing_the_first_versions_token(self):
        created = self.create(SecretString="v1")
        arn, v1 = created["ARN"], created["VersionId"]
        self.sm.put_secret_value(SecretId=arn, SecretString="v1", ClientRequestToken=v1)
        self.assertEqual({v1: {"AWSCURRENT"}}, self.stages(arn, include_deprecated=True))
        self.assertError("ResourceExistsException", self.sm.put_secret_value, SecretId=arn, SecretString="zz",
                         ClientRequestToken=v1, message=token_reuse_message(v1, arn))

    def test_update_replay(self):
        created = self.create(SecretString="v1")
        arn, tok = created["ARN"], token()
        first = self.sm.update_secret(SecretId=arn, SecretString="v2", ClientRequestToken=tok)
        self.assertEqual(tok, first["VersionId"])
        again = self.sm.update_secret(SecretId=arn, SecretString="v2", ClientRequestToken=tok)
        self.assertEqual(tok, again["VersionId"])
        self.assertEqual(2, len(self.stages(arn, include_deprecated=True)))
        self.assertError("ResourceExistsException", self.sm.update_secret, SecretId=arn, SecretString="v3",
                         ClientRequestToken=tok, message=token_reuse_message(tok, arn))

    def test_raw_request_without_token_is_refused(self):
        """Raw HTTP callers must send a ClientRequestToken (recorded AWS behaviour; SDKs always add one)."""
        name = unique("notoken")
        msg = "You must provide a ClientRequestToken value. We recommend a UUID-type value."
        status, _, body = self.server.signed_request("secretsmanager.CreateSecret",
                                                     {"Name": name, "SecretString": "x", "Description": "d"})
        self.assertEqual((400, "InvalidRequestException", msg), (status, body.get("__type"), body.get("Message")))
        self.create(Name=name, SecretString="x")
        for target in ("secretsmanager.PutSecretValue", "secretsmanager.UpdateSecret"):
            with self.subTest(target=target):
                status, _, body = self.server.signed_request(target, {"SecretId": name, "SecretString": "y"})
                self.assertEqual((400, "InvalidRequestException", msg),
                                 (status, body.get("__type"), body.get("Message")))

    def test_token_length_checked(self):
        created = self.create(SecretString="v")
        self.assertErrorIn({"ValidationException", "InvalidParameterException"}, self.sm.put_secret_value,
                           SecretId=created["ARN"], SecretString="x", ClientRequestToken="t" * 65)


class UpdateAndDescribe(ServerTestCase):
    def test_update_metadata_only_creates_no_version(self):
        created = self.create(SecretString="v1")
        arn = created["ARN"]
        resp = self.sm.update_secret(SecretId=arn, Description="MyDescription")
        self.assertEqual({"ARN", "Name"}, set(resp) - {"ResponseMetadata"})
        desc = self.sm.describe_secret(SecretId=arn)
        self.assertEqual("MyDescription", desc["Description"])
        self.assertEqual({created["VersionId"]: ["AWSCURRENT"]}, desc["VersionIdsToStages"])

    def test_update_with_value(self):
        created = self.create(SecretString="v1")
        arn, v1 = created["ARN"], created["VersionId"]
        resp = self.sm.update_secret(SecretId=arn, SecretString="v2", Description="MyNewDescription")
        v2 = resp["VersionId"]
        desc = self.sm.describe_secret(SecretId=arn)
        self.assertEqual("MyNewDescription", desc["Description"])
        self.assertEqual({v1: ["AWSPREVIOUS"], v2: ["AWSCURRENT"]}, desc["VersionIdsToStages"])
        self.assertEqual("v2", self.sm.get_secret_value(SecretId=arn)["SecretString"])
        # Binary replaces string.
        self.sm.update_secret(SecretId=arn, SecretBinary=b"\xfe\xfd")
        got = self.sm.get_secret_value(SecretId=arn)
        self.assertEqual(b"\xfe\xfd", got["SecretBinary"])
        self.assertNotIn("SecretString", got)

    def test_describe_shape(self):
        created = self.create(SecretString="v1", Description="Testing secret creation.")
        desc = self.sm.describe_secret(SecretId=created["_name"])
        fields = set(desc) - {"ResponseMetadata"}
        for required in ("ARN", "Name", "Description", "CreatedDate", "LastChangedDate", "VersionIdsToStages"):
            self.assertIn(required, fields)
        for absent in ("LastAccessedDate", "DeletedDate", "RotationEnabled", "RotationRules", "KmsKeyId",
                       "Tags", "SecretString", "SecretBinary", "LastRotatedDate", "NextRotationDate"):
            self.assertNotIn(absent, fields)
        self.assertEqual("us-east-1", desc.get("PrimaryRegion", "us-east-1"))

    def test_last_accessed_date_set_by_reads_at_day_resolution(self):
        created = self.create(SecretString="v1")
        self.assertNotIn("LastAccessedDate", self.sm.describe_secret(SecretId=created["ARN"]))
        self.sm.get_secret_value(SecretId=created["ARN"])
        lad = self.sm.describe_secret(SecretId=created["ARN"])["LastAccessedDate"].astimezone(timezone.utc)
        self.assertEqual((0, 0, 0), (lad.hour, lad.minute, lad.second), f"not a day boundary: {lad}")

    def test_last_changed_date_moves_on_update(self):
        created = self.create(SecretString="v1")
        before = self.sm.describe_secret(SecretId=created["ARN"])["LastChangedDate"]
        self.sm.update_secret(SecretId=created["ARN"], SecretString="v2")
        after = self.sm.describe_secret(SecretId=created["ARN"])["LastChangedDate"]
        self.assertGreaterEqual(after, before)

    def test_list_secret_version_ids_shape(self):
        created = self.create(SecretString="v1")
        resp = self.sm.list_secret_version_ids(SecretId=created["ARN"])
        self.assertEqual(created["ARN"], resp["ARN"])
        self.assertEqual(created["_name"], resp["Name"])
        [v] = resp["Versions"]
        self.assertEqual(created["VersionId"], v["VersionId"])
        self.assertEqual(["AWSCURRENT"], v["VersionStages"])
        self.assertIn("CreatedDate", v)

    def test_list_secret_version_ids_pagination(self):
        created = self.create(SecretString="v0")
        arn = created["ARN"]
        ids = {created["VersionId"]}
        for i in range(6):
            ids.add(self.sm.put_secret_value(SecretId=arn, SecretString=f"v{i + 1}")["VersionId"])
        seen, kwargs, pages = [], {"SecretId": arn, "MaxResults": 3, "IncludeDeprecated": True}, 0
        while True:
            resp = self.sm.list_secret_version_ids(**kwargs)
            pages += 1
            self.assertLessEqual(len(resp["Versions"]), 3)
            seen += [v["VersionId"] for v in resp["Versions"]]
            if "NextToken" not in resp:
                break
            kwargs["NextToken"] = resp["NextToken"]
            self.assertLess(pages, 10)
        self.assertEqual(len(seen), len(set(seen)))
        self.assertEqual(ids, set(seen))
        self.assertGreaterEqual(pages, 3)
