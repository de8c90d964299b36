"""boto3 against a real coffer server: ListSecrets (filters, negation, sort, pagination, IncludePlannedDeletion)
and BatchGetSecretValue (by id list and by filters, per-secret Errors).

Spec: §3.11 ListSecrets, §3.1 BatchGetSecretValue. Filter semantics follow the AWS-verified behaviour quoted in
§3.11 (name/tag prefixes are case-sensitive; description and `all` match word prefixes case-insensitively).
Every query here is scoped by a `name` filter on a per-class prefix, so other tests' secrets never interfere.
"""

import uuid

import coffer_harness
from coffer_harness import ServerTestCase

NOT_FOUND = "Secrets Manager can't find the specified secret."
MARKED = "You can't perform this operation on the secret because it was marked for deletion."


def setUpModule():
    coffer_harness.start_module_server(__name__)


def tearDownModule():
    coffer_harness.stop_module_server(__name__)


def prefix() -> str:
    # Letters only, so that no word of the prefix can prefix-match a query word by accident.
    return "ls" + "".join(chr(ord("g") + int(c, 16) % 20) for c in uuid.uuid4().hex[:10])


class Filters(ServerTestCase):
    @classmethod
    def setUpClass(cls):
        cls.P = prefix()
        sm = coffer_harness.module_server(__name__).client()
        specs = [
            ("alpha", "a secret", [("team", "blue"), ("env", "prod")]),
            ("beta", "an secret", [("team", "red")]),
            ("gamma", "asecret", []),
            ("Delta", "thesecret", [("Owner", "alice")]),
            ("DatabaseSecret", "Database credentials", []),
        ]
        for short, desc, tags in specs:
            kwargs = {"Name": f"{cls.P}/{short}", "SecretString": "value-" + short, "Description": desc}
            if tags:
                kwargs["Tags"] = [{"Key": k, "Value": v} for k, v in tags]
            sm.create_secret(**kwargs)

    def names(self, *filters, **kwargs) -> set[str]:
        """Short names of the secrets matching the filters (AND), scoped to this class's prefix."""
        all_filters = [{"Key": "name", "Values": [self.P + "/"]}] + [{"Key": k, "Values": [v]} for k, v in filters]
        result = self.sm.get_paginator("list_secrets").paginate(Filters=all_filters, **kwargs).build_full_result()
        return {e["Name"].split("/", 1)[1] for e in result["SecretList"]}

    ALL = {"alpha", "beta", "gamma", "Delta", "DatabaseSecret"}

    def test_name_prefix_case_sensitive(self):
        self.assertEqual(self.ALL, self.names())
        self.assertEqual({"alpha"}, self.names(("name", self.P + "/a")))
        self.assertEqual({"Delta", "DatabaseSecret"}, self.names(("name", self.P + "/D")))
        self.assertEqual(set(), self.names(("name", self.P + "/d")))
        self.assertEqual(set(), self.names(("name", self.P + "/alpha beta")))
        # A name filter is a prefix match, not a substring match.
        self.assertEqual(set(), self.names(("name", "lpha")))

    def test_name_negation(self):
        self.assertEqual(self.ALL - {"alpha"}, self.names(("name", "!" + self.P + "/a")))

    def test_description_word_prefix_case_insensitive(self):
        self.assertEqual({"alpha", "beta", "gamma"}, self.names(("description", "a")))
        self.assertEqual({"alpha", "beta", "gamma"}, self.names(("description", "A")))
        self.assertEqual({"alpha", "beta"}, self.names(("description", "a secret")))
        self.assertEqual({"DatabaseSecret"}, self.names(("description", "cred")))
        self.assertEqual({"Delta", "DatabaseSecret"}, self.names(("description", "!a")))
        self.assertEqual(self.ALL - {"DatabaseSecret"}, self.names(("description", "!c")))
        self.assertEqual(self.ALL, self.names(("description", "!x")))

    def test_filters_are_anded(self):
        self.assertEqual({"alpha", "beta"}, self.names(("description", "a"), ("description", "secret")))
        self.assertEqual(set(), self.names(("description", "a"), ("name", "secret")))
        self.assertEqual({"alpha"}, self.names(("tag-key", "team"), ("tag-value", "blue")))

    def test_tag_key(self):
        self.assertEqual({"alpha", "beta"}, self.names(("tag-key", "team")))
        self.assertEqual({"alpha", "beta"}, self.names(("tag-key", "tea")))
        self.assertEqual(set(), self.names(("tag-key", "Team")))
        self.assertEqual({"Delta"}, self.names(("tag-key", "Owner")))
        self.assertEqual({"gamma", "Delta", "DatabaseSecret"}, self.names(("tag-key", "!team")))

    def test_tag_value(self):
        self.assertEqual({"alpha"}, self.names(("tag-value", "blue")))
        self.assertEqual({"alpha"}, self.names(("tag-value", "bl")))
        self.assertEqual({"alpha"}, self.names(("tag-value", "prod")))
        self.assertEqual(set(), self.names(("tag-value", "Blue")))
        self.assertEqual(self.ALL - {"alpha"}, self.names(("tag-value", "!blue")))

    def test_all(self):
        self.assertEqual({"alpha", "beta", "DatabaseSecret"}, self.names(("all", "secret")))
        self.assertEqual({"alpha", "beta", "DatabaseSecret"}, self.names(("all", "SECRET")))
        self.assertEqual({"DatabaseSecret"}, self.names(("all", "data")))
        self.assertEqual({"alpha"}, self.names(("all", "blue")))
        self.assertEqual({"alpha", "beta"}, self.names(("all", "team")))
        self.assertEqual({"Delta"}, self.names(("all", "alice")))
        self.assertEqual(set(), self.names(("all", "ecret")))
        self.assertEqual(self.ALL - {"alpha"}, self.names(("all", "!blue")))

    def test_primary_region(self):
        self.assertEqual(self.ALL, self.names(("primary-region", "us-east-1")))
        self.assertEqual(self.ALL, self.names(("primary-region", "us-east")))
        self.assertEqual(set(), self.names(("primary-region", "eu-west-1")))

    def test_entries_carry_metadata_not_values(self):
        result = self.sm.list_secrets(Filters=[{"Key": "name", "Values": [self.P + "/alpha"]}])
        [entry] = result["SecretList"]
        self.assertEqual(self.P + "/alpha", entry["Name"])
        self.assertEqual("a secret", entry["Description"])
        self.assertIn("CreatedDate", entry)
        self.assertIn("LastChangedDate", entry)
        [(vid, stages)] = entry["SecretVersionsToStages"].items()
        self.assertEqual(["AWSCURRENT"], stages)
        self.assertEqual({"team": "blue", "env": "prod"}, {t["Key"]: t["Value"] for t in entry["Tags"]})
        for absent in ("SecretString", "SecretBinary", "VersionIdsToStages", "DeletedDate", "ReplicationStatus"):
            self.assertNotIn(absent, entry)

    def test_bad_filter_key(self):
        self.assertErrorIn({"ValidationException", "InvalidParameterException"}, self.sm.list_secrets,
                           Filters=[{"Key": "bogus", "Values": ["x"]}])


class SortAndPaginate(ServerTestCase):
    @classmethod
    def setUpClass(cls):
        cls.P = prefix()
        sm = coffer_harness.module_server(__name__).client()
        cls.created_order = ["charlie", "alpha", "echo", "bravo", "delta", "golf", "foxtrot"]
        for short in cls.created_order:
            sm.create_secret(Name=f"{cls.P}/{short}", SecretString="x")

    def listed(self, **kwargs) -> list[dict]:
        result = self.sm.get_paginator("list_secrets").paginate(
            Filters=[{"Key": "name", "Values": [self.P + "/"]}], **kwargs).build_full_result()
        return result["SecretList"]

    def short(self, entries) -> list[str]:
        return [e["Name"].split("/", 1)[1] for e in entries]

    def test_sort_by_name(self):
        self.assertEqual(sorted(self.created_order), self.short(self.listed(SortBy="name", SortOrder="asc")))
        self.assertEqual(sorted(self.created_order, reverse=True),
                         self.short(self.listed(SortBy="name", SortOrder="desc")))

    def test_sort_by_created_date(self):
        asc = self.listed(SortBy="created-date", SortOrder="asc")
        dates = [e["CreatedDate"] for e in asc]
        self.assertEqual(sorted(dates), dates)
        if len(set(dates)) == len(dates):
            self.assertEqual(self.created_order, self.short(asc))
        desc = self.listed(SortBy="created-date", SortOrder="desc")
        self.assertEqual(sorted(dates, reverse=True), [e["CreatedDate"] for e in desc])

    def test_default_order_is_by_creation(self):
        dates = [e["CreatedDate"] for e in self.listed()]
        self.assertTrue(dates == sorted(dates) or dates == sorted(dates, reverse=True), dates)

    def test_paginator_with_page_size(self):
        pages = list(self.sm.get_paginator("list_secrets").paginate(
            Filters=[{"Key": "name", "Values": [self.P + "/"]}], SortBy="name", SortOrder="asc",
            PaginationConfig={"PageSize": 3}))
        names = [n for p in pages for n in self.short(p["SecretList"])]
        self.assertEqual(sorted(self.created_order), names)
        for p in pages:
            self.assertLessEqual(len(p["SecretList"]), 3)
        self.assertGreaterEqual(len(pages), 3)
        self.assertNotIn("NextToken", pages[-1])

    def test_max_items_and_resume(self):
        paginator = self.sm.get_paginator("list_secrets")
        args = {"Filters": [{"Key": "name", "Values": [self.P + "/"]}], "SortBy": "name"}
        first = paginator.paginate(**args, PaginationConfig={"MaxItems": 4, "PageSize": 2}).build_full_result()
        self.assertEqual(4, len(first["SecretList"]))
        rest = paginator.paginate(**args, PaginationConfig={"StartingToken": first["NextToken"],
                                                             "PageSize": 2}).build_full_result()
        self.assertEqual(sorted(self.created_order), self.short(first["SecretList"] + rest["SecretList"]))

    def test_max_results_out_of_range(self):
        self.assertErrorIn({"ValidationException", "InvalidParameterException"}, self.sm.list_secrets,
                           MaxResults=101)

    def test_invalid_next_token(self):
        self.assertError("InvalidNextTokenException", self.sm.list_secrets, NextToken="bm90LWEtdG9rZW4=")


class PlannedDeletion(ServerTestCase):
    def test_include_planned_deletion(self):
        P = prefix()
        self.sm.create_secret(Name=f"{P}/live", SecretString="x")
        self.sm.create_secret(Name=f"{P}/doomed", SecretString="x")
        self.sm.delete_secret(SecretId=f"{P}/doomed", RecoveryWindowInDays=7)
        filters = [{"Key": "name", "Values": [P + "/"]}]
        default = self.sm.list_secrets(Filters=filters)["SecretList"]
        self.assertEqual([f"{P}/live"], [e["Name"] for e in default])
        everything = self.sm.list_secrets(Filters=filters, IncludePlannedDeletion=True)["SecretList"]
        by_name = {e["Name"]: e for e in everything}
        self.assertEqual({f"{P}/live", f"{P}/doomed"}, set(by_name))
        self.assertIn("DeletedDate", by_name[f"{P}/doomed"])
        self.assertNotIn("DeletedDate", by_name[f"{P}/live"])
        # Restored secrets come back; force-deleted ones are gone for good.
        self.sm.restore_secret(SecretId=f"{P}/doomed")
        self.assertEqual(2, len(self.sm.list_secrets(Filters=filters)["SecretList"]))
        self.sm.delete_secret(SecretId=f"{P}/doomed", ForceDeleteWithoutRecovery=True)
        self.assertEqual([f"{P}/live"], [e["Name"] for e in self.sm.list_secrets(
            Filters=filters, IncludePlannedDeletion=True)["SecretList"]])


class BatchGet(ServerTestCase):
    @classmethod
    def setUpClass(cls):
        cls.P = prefix()
        sm = coffer_harness.module_server(__name__).client()
        cls.arns = {}
        for i in range(5):
            cls.arns[f"s{i}"] = sm.create_secret(Name=f"{cls.P}/s{i}", SecretString=f"value-{i}")["ARN"]
        cls.arns["bin"] = sm.create_secret(Name=f"{cls.P}/bin", SecretBinary=b"\x00\xff")["ARN"]

    def test_by_id_list(self):
        resp = self.sm.batch_get_secret_value(SecretIdList=[f"{self.P}/s0", self.arns["s1"], self.arns["bin"]])
        self.assertEqual([], resp.get("Errors", []))
        by_name = {v["Name"]: v for v in resp["SecretValues"]}
        self.assertEqual({f"{self.P}/s0", f"{self.P}/s1", f"{self.P}/bin"}, set(by_name))
        s0 = by_name[f"{self.P}/s0"]
        self.assertEqual("value-0", s0["SecretString"])
        self.assertEqual(self.arns["s0"], s0["ARN"])
        self.assertEqual(["AWSCURRENT"], s0["VersionStages"])
        self.assertIn("VersionId", s0)
        self.assertIn("CreatedDate", s0)
        self.assertEqual(b"\x00\xff", by_name[f"{self.P}/bin"]["SecretBinary"])

    def test_missing_and_deleted_secrets_become_errors(self):
        doomed = self.sm.create_secret(Name=f"{self.P}-doomed-{uuid.uuid4().hex[:8]}", SecretString="x")
        self.sm.delete_secret(SecretId=doomed["ARN"], RecoveryWindowInDays=7)
        missing = f"{self.P}/missing"
        resp = self.sm.batch_get_secret_value(SecretIdList=[f"{self.P}/s2", missing, doomed["ARN"]])
        self.assertEqual([f"{self.P}/s2"], [v["Name"] for v in resp["SecretValues"]])
        errors = {e["SecretId"]: e for e in resp["Errors"]}
        self.assertEqual({missing, doomed["ARN"]}, set(errors))
        self.assertEqual("ResourceNotFoundException", errors[missing]["ErrorCode"])
        self.assertEqual(NOT_FOUND, errors[missing]["Message"])
        self.assertEqual("InvalidRequestException", errors[doomed["ARN"]]["ErrorCode"])
        self.assertEqual(MARKED, errors[doomed["ARN"]]["Message"])

    def test_by_filters_with_pagination(self):
        names, errors, kwargs, pages = [], [], {"Filters": [{"Key": "name", "Values": [f"{self.P}/s"]}],
                                               "MaxResults": 2}, 0
        while True:
            resp = self.sm.batch_get_secret_value(**kwargs)
            pages += 1
            self.assertLessEqual(len(resp["SecretValues"]), 2)
            names += [v["Name"] for v in resp["SecretValues"]]
            errors += resp.get("Errors", [])
            for v in resp["SecretValues"]:
                self.assertEqual("value-" + v["Name"][-1], v["SecretString"])
            if not resp.get("NextToken"):
                break
            kwargs["NextToken"] = resp["NextToken"]
            self.assertLess(pages, 10)
        self.assertEqual([], errors)
        self.assertEqual(sorted(f"{self.P}/s{i}" for i in range(5)), sorted(names))
        self.assertGreaterEqual(pages, 3)

    def test_ids_and_filters_together_refused(self):
        self.assertError("InvalidParameterException", self.sm.batch_get_secret_value,
                         SecretIdList=[f"{self.P}/s0"], Filters=[{"Key": "name", "Values": [self.P]}])

    def test_neither_ids_nor_filters_refused(self):
        self.assertError("InvalidParameterException", self.sm.batch_get_secret_value)

    def test_max_results_without_filters_refused(self):
        self.assertError("InvalidParameterException", self.sm.batch_get_secret_value,
                         SecretIdList=[f"{self.P}/s0"], MaxResults=2)

    def test_more_than_20_ids_refused(self):
        self.assertErrorIn({"ValidationException", "InvalidParameterException"}, self.sm.batch_get_secret_value,
                           SecretIdList=[f"{self.P}/s{i % 5}-{i}" for i in range(21)])
