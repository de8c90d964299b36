"""End-to-end tests of `coffer agent` (issue 7, spec §6): a real `coffer server` and a real `coffer agent` process,
driven the way code written for AWS's Parameters and Secrets Lambda Extension / Secrets Manager Agent drives them:
plain urllib GETs to localhost with the SSRF token header.

Upstream calls are counted with the agent's own metric (coffer_agent_upstream_requests_total), which counts every
GetSecretValue it sends to the server.
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import tempfile
import threading
import time
import unittest
import urllib.error
import urllib.parse
import urllib.request
import uuid

import coffer_harness
from coffer_harness import LOG_DIR, REPO_ROOT, CofferServer, coffer_command, free_port

TOKEN = "agent-test-token-" + uuid.uuid4().hex
KEY_ID = "AKIAAGENTTEST0000001"
SECRET_KEY = "agent-test-secret-" + uuid.uuid4().hex


class CofferAgent:
    """One real ``coffer agent`` process, configured through a TOML file like AWS's agent."""

    def __init__(self, name: str, endpoint: str, config: dict[str, object], env: dict[str, str] | None = None):
        self.name = name
        self.endpoint = endpoint
        self.config = dict(config)
        self.env = dict(env or {})
        self.port: int | None = None
        self.process: subprocess.Popen | None = None
        self.log_path = None
        self._log_file = None
        self._dir = tempfile.TemporaryDirectory(prefix="coffer-agent-test-")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = coffer_harness.READY_TIMEOUT_SECONDS) -> "CofferAgent":
        self.port = free_port()
        config_path = os.path.join(self._dir.name, "agent.toml")
        with open(config_path, "w") as f:
            for key, value in self.config.items():
                f.write(f"{key} = {json.dumps(value)}\n")
        args = coffer_command() + ["agent", "--config", config_path, "--endpoint-url", self.endpoint, "--port", str(self.port)]
        LOG_DIR.mkdir(parents=True, exist_ok=True)
        self.log_path = LOG_DIR / f"agent-{self.name}-{self.port}.log"
        self._log_file = open(self.log_path, "wb")
        self._log_file.write(("$ " + shlex.join(args) + "\n").encode())
        self._log_file.flush()
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "PARAMETERS_SECRETS_EXTENSION_", "SECRETS_MANAGER_"))}
        env.update({"AWS_TOKEN": TOKEN, "AWS_ACCESS_KEY_ID": KEY_ID, "AWS_SECRET_ACCESS_KEY": SECRET_KEY, "AWS_REGION": "us-east-1"})
        env.update(self.env)
        self.process = subprocess.Popen(args, cwd=REPO_ROOT, stdin=subprocess.DEVNULL, stdout=self._log_file,
                                        stderr=subprocess.STDOUT, env=env, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"coffer agent exited with {self.process.returncode}:\n{self.log_text()}")
            try:
                with urllib.request.urlopen(self.url + "/ping", timeout=2) as resp:
                    if resp.status == 200:
                        return self
            except (urllib.error.URLError, ConnectionError, OSError):
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"coffer agent not ready after {timeout} s:\n{self.log_text()}")

    def stop(self) -> None:
        if self.process is not None:
            try:
                os.killpg(self.process.pid, signal.SIGTERM)
                self.process.wait(10)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                try:
                    os.killpg(self.process.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            self.process = None
        if self._log_file:
            self._log_file.close()
            self._log_file = None
        self._dir.cleanup()

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path and self.log_path.exists() else ""

    # -- requests ---------------------------------------------------------------------------------------------

    def get(self, path: str, headers: dict[str, str] | None = None, method: str = "GET"):
        """(status, response headers, body text)."""
        req = urllib.request.Request(self.url + path, method=method, headers=headers or {})
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                return resp.status, dict(resp.headers.items()), resp.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, dict(e.headers.items()), e.read().decode()

    def secret(self, secret_id: str, **params: str):
        query = urllib.parse.urlencode({"secretId": secret_id, **params})
        return self.get("/secretsmanager/get?" + query, {"X-Aws-Parameters-Secrets-Token": TOKEN})

    def value(self, secret_id: str, **params: str) -> str:
        status, _, body = self.secret(secret_id, **params)
        assert status == 200, f"{status} {body}"
        return json.loads(body)["SecretString"]

    def metric(self, name: str) -> int:
        status, _, body = self.get("/metrics", {"X-Aws-Parameters-Secrets-Token": TOKEN})
        assert status == 200, body
        for line in body.splitlines():
            if line.startswith(name + " "):
                return int(line.split()[1])
        raise KeyError(name)

    def upstream_calls(self) -> int:
        return self.metric("coffer_agent_upstream_requests_total")


def start_server(data_dir: str, name: str, port: int | None = None, env: dict[str, str] | None = None) -> CofferServer:
    server = CofferServer(name=name, dev=False, data_dir=data_dir,
                          env={"COFFER_BOOTSTRAP_ACCESS_KEY_ID": KEY_ID, "COFFER_BOOTSTRAP_SECRET_ACCESS_KEY": SECRET_KEY, **(env or {})})
    return server.start(port=port)


def feed_request(server: CofferServer, params: dict[str, str] | None = None, sign: bool = True):
    """GET /coffer/changes on the server, signed by botocore. Returns (status, parsed JSON)."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    url = server.endpoint + "/coffer/changes"
    if params:
        url += "?" + urllib.parse.urlencode(params)
    req = AWSRequest(method="GET", url=url)
    if sign:
        SigV4Auth(Credentials(KEY_ID, SECRET_KEY), "secretsmanager", "us-east-1").add_auth(req)
    prepared = req.prepare()
    try:
        with urllib.request.urlopen(urllib.request.Request(prepared.url, headers=dict(prepared.headers.items())), timeout=30) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")


def caught_up(server: CofferServer, agent: CofferAgent) -> None:
    """Waits until the agent has applied the server's change feed up to now, so that the notice of a write the
    test just made cannot arrive in the middle of what the test counts."""
    _, position = feed_request(server)
    ok, _ = wait_for(lambda: agent.metric("coffer_agent_change_feed_sequence") >= position["Sequence"], timeout=10)
    assert ok, "the agent did not catch up with the change feed"


def wait_for(predicate, timeout: float, interval: float = 0.05):
    """Polls until predicate() is truthy; returns (value, seconds waited)."""
    start = time.monotonic()
    while True:
        value = predicate()
        if value or time.monotonic() - start > timeout:
            return value, time.monotonic() - start
        time.sleep(interval)



_state: dict[str, object] = {}


def setUpModule():
    data = tempfile.TemporaryDirectory(prefix="coffer-agent-e2e-")
    _state["data"] = data
    server = start_server(data.name, "agent-server")
    _state["server"] = server
    # The TTL is the AWS default; invalidation has to come from the change feed, not expiry.
    _state["agent"] = CofferAgent("main", server.endpoint, {"ttl_seconds": 300, "log_level": "info"}).start()


def tearDownModule():
    agent = _state.pop("agent", None)
    if agent:
        agent.stop()
    server = _state.pop("server", None)
    if server:
        server.stop()
    data = _state.pop("data", None)
    if data:
        data.cleanup()


class AgentTestCase(unittest.TestCase):
    @property
    def server(self) -> CofferServer:
        return _state["server"]

    @property
    def agent(self) -> CofferAgent:
        return _state["agent"]

    @property
    def sm(self):
        if "sm" not in _state:
            _state["sm"] = self.server.client(access_key=KEY_ID, secret_key=SECRET_KEY)
        return _state["sm"]

    def create(self, value: str) -> str:
        name = coffer_harness.unique("agent/t")
        self.sm.create_secret(Name=name, SecretString=value)
        self.agent_caught_up()
        return name

    def agent_caught_up(self):
        caught_up(self.server, self.agent)


class SeedClientTest(AgentTestCase):
    def test_seed_style_client_reads_a_secret_with_urllib(self):
        name = self.create('{"username":"app","password":"s3cr3t-seed"}')
        # Exactly what the seed documents do: urllib, the token header, localhost, parse SecretString.
        req = urllib.request.Request(f"http://localhost:{self.agent.port}/secretsmanager/get?secretId={urllib.parse.quote(name, safe='')}",
                                     headers={"X-Aws-Parameters-Secrets-Token": TOKEN})
        with urllib.request.urlopen(req, timeout=10) as resp:
            body = json.loads(resp.read())
        self.assertEqual("s3cr3t-seed", json.loads(body["SecretString"])["password"])
        self.assertEqual(name, body["Name"])
        self.assertEqual(["AWSCURRENT"], body["VersionStages"])
        self.assertTrue(body["ARN"].startswith("arn:aws:secretsmanager:us-east-1:"))
        self.assertIsInstance(body["CreatedDate"], str)  # as AWS's agent serialises it
        float(body["CreatedDate"])

    def test_path_style_and_the_vault_token_header(self):
        name = self.create("path-style")
        status, _, body = self.agent.get("/v1/" + urllib.parse.quote(name, safe=""), {"X-Vault-Token": TOKEN})
        self.assertEqual(200, status, body)
        self.assertEqual("path-style", json.loads(body)["SecretString"])

    def test_versions_by_label_and_id(self):
        name = self.create("one")
        v2 = self.sm.put_secret_value(SecretId=name, SecretString="two")["VersionId"]
        self.assertEqual("one", self.agent.value(name, versionStage="AWSPREVIOUS"))
        self.assertEqual("two", self.agent.value(name, versionId=v2))

    def test_binary_secret(self):
        name = coffer_harness.unique("agent/bin")
        self.sm.create_secret(Name=name, SecretBinary=b"\x00\x01binary")
        self.agent_caught_up()
        status, _, body = self.agent.secret(name)
        self.assertEqual(200, status, body)
        import base64
        self.assertEqual(b"\x00\x01binary", base64.b64decode(json.loads(body)["SecretBinary"]))


class GuardTest(AgentTestCase):
    """Refusals as AWS's agent answers them (spec §6.2): plain-text bodies."""

    def test_missing_token_is_refused(self):
        status, _, body = self.agent.get("/secretsmanager/get?secretId=x")
        self.assertEqual((403, "Bad Token"), (status, body))

    def test_wrong_token_is_refused(self):
        status, _, body = self.agent.get("/secretsmanager/get?secretId=x", {"X-Aws-Parameters-Secrets-Token": TOKEN + "x"})
        self.assertEqual((403, "Bad Token"), (status, body))
        status, _, body = self.agent.get("/metrics", {"X-Aws-Parameters-Secrets-Token": "nope"})
        self.assertEqual(403, status)

    def test_forwarded_requests_are_refused_even_with_the_token(self):
        status, _, body = self.agent.get("/secretsmanager/get?secretId=x",
                                         {"X-Aws-Parameters-Secrets-Token": TOKEN, "X-Forwarded-For": "10.0.0.1"})
        self.assertEqual((400, "Forwarded"), (status, body))

    def test_only_get_is_allowed(self):
        status, _, body = self.agent.get("/secretsmanager/get?secretId=x", {"X-Aws-Parameters-Secrets-Token": TOKEN}, method="POST")
        self.assertEqual((405, "Not allowed"), (status, body))

    def test_ping_needs_no_token(self):
        self.assertEqual((200, "healthy"), (self.agent.get("/ping")[0], self.agent.get("/ping")[2]))

    def test_bad_queries(self):
        h = {"X-Aws-Parameters-Secrets-Token": TOKEN}
        self.assertEqual((400, "missing parameter secretId"), self._sb(self.agent.get("/secretsmanager/get", h)))
        self.assertEqual((400, "unknown parameter: colour"), self._sb(self.agent.get("/secretsmanager/get?secretId=x&colour=red", h)))
        self.assertEqual((400, "invalid refreshNow value"), self._sb(self.agent.get("/secretsmanager/get?secretId=x&refreshNow=yes", h)))
        self.assertEqual((400, "missing secret ID"), self._sb(self.agent.get("/v1/", h)))
        self.assertEqual((404, "Not found"), self._sb(self.agent.get("/nothing/here", h)))

    def test_upstream_errors_carry_the_upstream_status_and_code(self):
        status, _, body = self.agent.secret("agent/does-not-exist-" + uuid.uuid4().hex)
        self.assertEqual(400, status)
        err = json.loads(body)
        self.assertEqual("ResourceNotFoundException", err["__type"])
        self.assertIn("message", err)

    def test_parameter_store_answers_a_clear_error(self):
        status, _, body = self.agent.get("/systemsmanager/parameters/get?name=/app/x", {"X-Aws-Parameters-Secrets-Token": TOKEN})
        self.assertEqual(501, status)
        self.assertIn("Parameter Store", json.loads(body)["message"])

    @staticmethod
    def _sb(r):
        return r[0], r[2]


class CacheTest(AgentTestCase):
    def test_a_hit_makes_no_upstream_call(self):
        name = self.create("hit-me")
        self.assertEqual("hit-me", self.agent.value(name))
        before = self.agent.upstream_calls()
        for _ in range(20):
            self.assertEqual("hit-me", self.agent.value(name))
        self.assertEqual(before, self.agent.upstream_calls())

    def test_refresh_now_fetches_again(self):
        name = self.create("r1")
        self.assertEqual("r1", self.agent.value(name))
        before = self.agent.upstream_calls()
        self.assertEqual("r1", self.agent.value(name, refreshNow="true"))
        self.assertEqual(before + 1, self.agent.upstream_calls())

    def test_100_concurrent_misses_make_one_upstream_call(self):
        name = self.create("burst")
        before = self.agent.upstream_calls()
        barrier = threading.Barrier(100)
        results: list[str] = []
        lock = threading.Lock()

        def read():
            barrier.wait()
            v = self.agent.value(name)
            with lock:
                results.append(v)

        threads = [threading.Thread(target=read) for _ in range(100)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        self.assertEqual(["burst"] * 100, results)
        self.assertEqual(before + 1, self.agent.upstream_calls())


class InvalidationTest(AgentTestCase):
    """The TTL is 300 s; a new AWSCURRENT must still be served within seconds (change feed)."""

    def test_put_secret_value_is_served_within_seconds(self):
        name = self.create("before-put")
        self.assertEqual("before-put", self.agent.value(name))
        self.sm.put_secret_value(SecretId=name, SecretString="after-put")
        value, waited = wait_for(lambda: self.agent.value(name) == "after-put", timeout=10)
        self.assertTrue(value, "the agent still served the old value after 10 s")
        self.assertLess(waited, 3.0)

    def test_a_label_move_like_a_rotation_is_served_within_seconds(self):
        name = self.create("old-current")
        v1 = self.sm.describe_secret(SecretId=name)["VersionIdsToStages"]
        v1 = next(v for v, s in v1.items() if "AWSCURRENT" in s)
        v2 = self.sm.put_secret_value(SecretId=name, SecretString="new-current")["VersionId"]
        _, _ = wait_for(lambda: self.agent.value(name) == "new-current", timeout=10)
        self.assertEqual("new-current", self.agent.value(name))
        # Roll back, as a failed rotation's finishSecret would move the label.
        self.sm.update_secret_version_stage(SecretId=name, VersionStage="AWSCURRENT", MoveToVersionId=v1, RemoveFromVersionId=v2)
        value, waited = wait_for(lambda: self.agent.value(name) == "old-current", timeout=10)
        self.assertTrue(value)
        self.assertLess(waited, 3.0)

    def test_a_resource_policy_deny_stops_the_agent_within_seconds(self):
        # Revocation: a Deny for the agent's own credentials in the secret's resource policy is a change on the
        # feed, so the agent re-reads the secret, hears AccessDeniedException and stops serving it (no stale copy).
        name = self.create("revocable")
        self.assertEqual("revocable", self.agent.value(name))
        arn = self.sm.describe_secret(SecretId=name)["ARN"]
        self.sm.put_resource_policy(SecretId=name, ResourcePolicy=json.dumps({"Version": "2012-10-17", "Statement": [
            {"Effect": "Deny", "Principal": "*", "Action": "secretsmanager:GetSecretValue", "Resource": arn}]}))
        refused, waited = wait_for(lambda: self.agent.secret(name)[0] != 200, timeout=10)
        self.assertTrue(refused, "the agent still served the secret 10 s after a Deny")
        self.assertLess(waited, 3.0)
        status, _, body = self.agent.secret(name)
        self.assertEqual("AccessDeniedException", json.loads(body)["__type"], f"{status} {body}")
        self.sm.delete_resource_policy(SecretId=name)
        served, _ = wait_for(lambda: self.agent.secret(name)[0] == 200, timeout=10)
        self.assertTrue(served)

    def test_a_deny_drops_every_cached_version_and_label_of_the_secret(self):
        name = self.create("v1")
        v1 = self.sm.describe_secret(SecretId=name)["VersionIdsToStages"]
        v1 = next(iter(v1))
        self.sm.put_secret_value(SecretId=name, SecretString="v2")
        wait_for(lambda: self.agent.value(name) == "v2", timeout=10)
        reads = [{}, {"versionStage": "AWSPREVIOUS"}, {"versionId": v1}]
        self.assertEqual(["v2", "v1", "v1"], [self.agent.value(name, **r) for r in reads])
        arn = self.sm.describe_secret(SecretId=name)["ARN"]
        self.sm.put_resource_policy(SecretId=name, ResourcePolicy=json.dumps({"Version": "2012-10-17", "Statement": [
            {"Effect": "Deny", "Principal": "*", "Action": "secretsmanager:GetSecretValue", "Resource": arn}]}))
        refused, _ = wait_for(lambda: all(self.agent.secret(name, **r)[0] == 400 for r in reads), timeout=10)
        self.assertTrue(refused, [self.agent.secret(name, **r)[0] for r in reads])
        self.sm.delete_resource_policy(SecretId=name)
        served, _ = wait_for(lambda: [self.agent.secret(name, **r)[0] for r in reads] == [200] * 3, timeout=10)
        self.assertTrue(served)

    def test_no_secret_value_in_agent_log_or_metrics(self):
        canary = "canary-" + uuid.uuid4().hex
        name = self.create(canary)
        self.assertEqual(canary, self.agent.value(name))
        self.agent.get("/secretsmanager/get?secretId=" + name)  # refused, logged
        status, _, metrics = self.agent.get("/metrics", {"X-Aws-Parameters-Secrets-Token": TOKEN})
        self.assertNotIn(canary, metrics)
        self.assertNotIn(canary, self.agent.log_text())
        self.assertNotIn(TOKEN, self.agent.log_text())
        self.assertNotIn(SECRET_KEY, self.agent.log_text())


class IamRevocationTest(AgentTestCase):
    """An agent running with an IAM user's own keys stops serving within seconds when IAM takes its access away:
    every IAM change is on the change feed (a reset), so the agent re-reads with its credentials and hears the
    refusal. The TTL is 300 s, so expiry cannot be what stops it."""

    def iam(self):
        import boto3
        return boto3.client("iam", endpoint_url=self.server.endpoint, region_name="us-east-1",
                            aws_access_key_id=KEY_ID, aws_secret_access_key=SECRET_KEY)

    def user_agent(self, secret_arn: str) -> tuple[CofferAgent, str, str, str]:
        """A user whose managed policy allows reading one secret (and the change feed), and an agent started with
        the user's access key. Returns (agent, user name, policy ARN, access key id)."""
        iam = self.iam()
        user = "agent-user-" + uuid.uuid4().hex[:8]
        iam.create_user(UserName=user)
        policy_arn = iam.create_policy(PolicyName=user + "-read", PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": "secretsmanager:GetSecretValue", "Resource": secret_arn},
            {"Effect": "Allow", "Action": "secretsmanager:ListSecrets", "Resource": "*"}]}))["Policy"]["Arn"]
        iam.attach_user_policy(UserName=user, PolicyArn=policy_arn)
        key = iam.create_access_key(UserName=user)["AccessKey"]
        agent = CofferAgent(user, self.server.endpoint, {"ttl_seconds": 300, "log_level": "info"},
                            env={"AWS_ACCESS_KEY_ID": key["AccessKeyId"], "AWS_SECRET_ACCESS_KEY": key["SecretAccessKey"]})
        self.addCleanup(agent.stop)
        agent.start()
        caught_up(self.server, agent)
        return agent, user, policy_arn, key["AccessKeyId"]

    def cached(self, agent: CofferAgent, name: str, value: str) -> None:
        """Reads through the agent and checks the second read is a cache hit."""
        self.assertEqual(value, agent.value(name))
        before = agent.upstream_calls()
        self.assertEqual(value, agent.value(name))
        self.assertEqual(before, agent.upstream_calls(), "the second read was not served from the cache")

    def refused(self, agent: CofferAgent, name: str) -> dict:
        """Polls (up to about 5 s) until the agent stops serving the secret; returns its error body."""
        refused, _ = wait_for(lambda: agent.secret(name)[0] != 200, timeout=5)
        self.assertTrue(refused, "the agent still served the cached secret 5 s after its access was taken away")
        status, _, body = agent.secret(name)
        self.assertEqual(400, status, body)
        return json.loads(body)

    def test_detaching_the_users_policy_stops_the_agent_within_seconds(self):
        name = self.create("iam-detach")
        agent, user, policy_arn, _ = self.user_agent(self.sm.describe_secret(SecretId=name)["ARN"])
        self.cached(agent, name, "iam-detach")
        resets = agent.metric("coffer_agent_feed_iam_resets_total")
        # The policy granted the feed (ListSecrets) too: the notice comes on the poll already under way.
        self.iam().detach_user_policy(UserName=user, PolicyArn=policy_arn)
        error = self.refused(agent, name)
        self.assertEqual("AccessDeniedException", error["__type"])
        self.assertIn(f"user/{user}", error["message"])
        self.assertGreater(agent.metric("coffer_agent_feed_iam_resets_total"), resets)

    def test_an_inline_deny_stops_the_agent_and_deleting_it_restores(self):
        name = self.create("iam-deny")
        agent, user, _, _ = self.user_agent(self.sm.describe_secret(SecretId=name)["ARN"])
        self.cached(agent, name, "iam-deny")
        self.iam().put_user_policy(UserName=user, PolicyName="deny", PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [
            {"Effect": "Deny", "Action": "secretsmanager:GetSecretValue", "Resource": "*"}]}))
        self.assertEqual("AccessDeniedException", self.refused(agent, name)["__type"])
        self.iam().delete_user_policy(UserName=user, PolicyName="deny")
        served, _ = wait_for(lambda: agent.secret(name)[0] == 200, timeout=5)
        self.assertTrue(served)

    def test_deactivating_the_agents_access_key_stops_it_within_seconds(self):
        name = self.create("iam-key")
        agent, user, _, key_id = self.user_agent(self.sm.describe_secret(SecretId=name)["ARN"])
        self.cached(agent, name, "iam-key")
        self.iam().update_access_key(UserName=user, AccessKeyId=key_id, Status="Inactive")
        self.assertEqual("UnrecognizedClientException", self.refused(agent, name)["__type"])


class ChangeFeedRouteTest(AgentTestCase):
    """The server side: GET /coffer/changes, SigV4-signed, ARNs only."""

    def feed(self, params: dict[str, str] | None = None, sign: bool = True):
        return feed_request(self.server, params, sign)

    def test_unsigned_reads_are_refused(self):
        status, body = self.feed(sign=False)
        self.assertEqual(403, status)
        self.assertEqual("MissingAuthenticationTokenException", body["__type"])

    def test_changes_name_arns_never_values(self):
        status, start = self.feed()
        self.assertEqual(200, status)
        self.assertFalse(start["Reset"])
        name = self.create("feed-value-" + uuid.uuid4().hex)
        status, batch = self.feed({"after": str(start["Sequence"]), "epoch": start["Epoch"], "wait": "5"})
        self.assertEqual(200, status)
        arn = self.sm.describe_secret(SecretId=name)["ARN"]
        self.assertIn(arn, batch["Arns"])
        self.assertGreater(batch["Sequence"], start["Sequence"])
        self.assertNotIn("feed-value", json.dumps(batch))

    def test_another_epoch_gets_a_reset(self):
        status, batch = self.feed({"after": "0", "epoch": "not-this-server"})
        self.assertEqual(200, status)
        self.assertTrue(batch["Reset"])

    def test_a_quiet_feed_answers_after_the_wait(self):
        _, start = self.feed()
        t0 = time.monotonic()
        status, batch = self.feed({"after": str(start["Sequence"]), "epoch": start["Epoch"], "wait": "1"})
        self.assertEqual(200, status)
        self.assertEqual(([], start["Sequence"], False), (batch["Arns"], batch["Sequence"], batch["Reset"]))
        self.assertGreater(time.monotonic() - t0, 0.9)
        status, batch = self.feed({"after": str(start["Sequence"] + 10**6), "epoch": start["Epoch"]})
        self.assertTrue(batch["Reset"])  # a sequence from the future: the reader lost track


class RoleProfileTest(AgentTestCase):
    """Upstream credentials from an assume-role profile of the AWS config file, as the SDKs and AWS's agent take them."""

    def make_role(self, server: CofferServer, statements: list[dict], trust_condition: dict | None = None,
                  max_session: int | None = None) -> str:
        """A role the bootstrap keys' account may assume (under trust_condition), with the given permissions."""
        import boto3
        admin = dict(endpoint_url=server.endpoint, region_name="us-east-1", aws_access_key_id=KEY_ID, aws_secret_access_key=SECRET_KEY)
        account = boto3.client("sts", **admin).get_caller_identity()["Account"]
        iam = boto3.client("iam", **admin)
        role_name = "agent-role-" + uuid.uuid4().hex[:8]
        trust = {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{account}:root"}, "Action": "sts:AssumeRole"}
        if trust_condition:
            trust["Condition"] = trust_condition
        iam.create_role(RoleName=role_name, AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [trust]}),
                        **({"MaxSessionDuration": max_session} if max_session else {}))
        iam.put_role_policy(RoleName=role_name, PolicyName="agent", PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [
            *statements, {"Effect": "Allow", "Action": "secretsmanager:ListSecrets", "Resource": "*"}]}))
        return f"arn:aws:iam::{account}:role/{role_name}"

    def profile_agent(self, server: CofferServer, name: str, profile: str, env: dict[str, str] | None = None,
                      credentials: str | None = None, config: dict[str, object] | None = None) -> CofferAgent:
        """An agent whose config file has `[profile app]` with the given lines, and a credentials file [base] with
        the bootstrap keys. Not started."""
        files = tempfile.TemporaryDirectory(prefix="coffer-agent-profile-")
        self.addCleanup(files.cleanup)
        credentials_path = os.path.join(files.name, "credentials")
        config_path = os.path.join(files.name, "config")
        with open(credentials_path, "w") as f:
            f.write(credentials or f"[base]\naws_access_key_id = {KEY_ID}\naws_secret_access_key = {SECRET_KEY}\n")
        with open(config_path, "w") as f:
            f.write("[profile app]\n" + profile)
        agent = CofferAgent(name, server.endpoint, config or {"ttl_seconds": 300, "log_level": "info"}, env={
            "AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": "", "AWS_PROFILE": "app",
            "AWS_CONFIG_FILE": config_path, "AWS_SHARED_CREDENTIALS_FILE": credentials_path, **(env or {})})
        self.addCleanup(agent.stop)
        return agent

    def role_agent(self, server: CofferServer, allowed_arn: str, name: str) -> tuple[CofferAgent, str]:
        """A role allowed to read one secret (and the change feed), and an agent started with a profile for it."""
        role_arn = self.make_role(server, [{"Effect": "Allow", "Action": "secretsmanager:GetSecretValue", "Resource": allowed_arn}])
        agent = self.profile_agent(server, name, f"role_arn = {role_arn}\nsource_profile = base\n"
                                   "role_session_name = agent-e2e\nduration_seconds = 900\n").start()
        return agent, role_arn

    def test_an_assume_role_profile_reads_with_the_roles_permissions(self):
        allowed = self.create("role-allowed")
        other = self.create("role-other")
        agent, role_arn = self.role_agent(self.server, self.sm.describe_secret(SecretId=allowed)["ARN"], "role")
        self.assertEqual("role-allowed", agent.value(allowed))
        status, _, body = agent.secret(other)
        self.assertEqual(400, status, body)
        error = json.loads(body)
        self.assertEqual("AccessDeniedException", error["__type"])
        self.assertIn(f"assumed-role/{role_arn.split('/')[-1]}/agent-e2e", error["message"])
        log = agent.log_text()
        self.assertIn(f"role {role_arn} (profile app)", log)
        self.assertNotIn(SECRET_KEY, log)

    def test_role_credentials_are_renewed_before_they_expire(self):
        # A server whose sessions last 3 s (test-only setting): the agent must assume the role again in time, or
        # its reads would fail with ExpiredTokenException after 3 s.
        data = tempfile.TemporaryDirectory(prefix="coffer-agent-short-")
        self.addCleanup(data.cleanup)
        server = start_server(data.name, "agent-short-sessions", env={"COFFER_TEST_SESSION_LIFETIME_SECONDS": "3"})
        self.addCleanup(server.stop)
        sm = server.client(access_key=KEY_ID, secret_key=SECRET_KEY)
        arn = sm.create_secret(Name=coffer_harness.unique("agent/short"), SecretString="renewed")["ARN"]
        agent, _ = self.role_agent(server, arn, "renewing")
        deadline = time.monotonic() + 8
        while time.monotonic() < deadline:
            status, _, body = agent.secret(arn, refreshNow="true")
            self.assertEqual(200, status, body)
            time.sleep(0.25)
        self.assertGreaterEqual(agent.log_text().count("Refreshed upstream credentials"), 2)

    def test_a_role_the_profile_may_not_assume_stops_the_agent_with_a_clear_error(self):
        files = tempfile.TemporaryDirectory(prefix="coffer-agent-profile-")
        self.addCleanup(files.cleanup)
        config = os.path.join(files.name, "config")
        with open(config, "w") as f:
            f.write("[default]\nrole_arn = arn:aws:iam::123456789012:role/no-such-role\nsource_profile = base\n"
                    f"[profile base]\naws_access_key_id = {KEY_ID}\naws_secret_access_key = {SECRET_KEY}\n")
        agent = CofferAgent("badrole", self.server.endpoint, {}, env={
            "AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": "", "AWS_CONFIG_FILE": config,
            "AWS_SHARED_CREDENTIALS_FILE": os.path.join(files.name, "none")})
        self.addCleanup(agent.stop)
        with self.assertRaises(RuntimeError) as raised:
            agent.start(timeout=60)
        self.assertIn("coffer agent exited with 1", str(raised.exception))
        self.assertIn("AssumeRole arn:aws:iam::123456789012:role/no-such-role (profile default) was refused: AccessDenied", str(raised.exception))
        self.assertNotIn(SECRET_KEY, str(raised.exception))


    def test_a_trust_policy_asking_for_an_external_id(self):
        arn = self.sm.describe_secret(SecretId=self.create("external-id"))["ARN"]
        role_arn = self.make_role(self.server, [{"Effect": "Allow", "Action": "secretsmanager:GetSecretValue", "Resource": arn}],
                                  trust_condition={"StringEquals": {"sts:ExternalId": "ext-42"}})
        agent = self.profile_agent(self.server, "extid", f"role_arn = {role_arn}\nsource_profile = base\nexternal_id = ext-42\n").start()
        self.assertEqual("external-id", agent.value(arn))
        without = self.profile_agent(self.server, "no-extid", f"role_arn = {role_arn}\nsource_profile = base\n")
        with self.assertRaises(RuntimeError) as raised:
            without.start(timeout=60)
        self.assertIn("exited with 1", str(raised.exception))
        self.assertIn("(profile app) was refused: AccessDenied", str(raised.exception))

    def test_a_duration_above_the_roles_maximum_stops_the_agent_with_stss_reason(self):
        role_arn = self.make_role(self.server, [], max_session=3600)
        agent = self.profile_agent(self.server, "too-long", f"role_arn = {role_arn}\nsource_profile = base\nduration_seconds = 7200\n")
        with self.assertRaises(RuntimeError) as raised:
            agent.start(timeout=60)
        self.assertIn("exited with 1", str(raised.exception))
        self.assertIn("ValidationError: The requested DurationSeconds exceeds the MaxSessionDuration", str(raised.exception))

    def test_a_session_name_sts_would_refuse_stops_the_agent_at_start(self):
        agent = self.profile_agent(self.server, "bad-session", "role_arn = arn:aws:iam::123456789012:role/r\nsource_profile = base\n"
                                   "role_session_name = " + "s" * 65 + "\n")
        with self.assertRaises(RuntimeError) as raised:
            agent.start(timeout=60)
        self.assertIn("exited with 2", str(raised.exception))
        self.assertIn("role_session_name", str(raised.exception))

    def test_aws_profile_with_credential_source_environment_assumes_the_role_despite_keys_in_the_environment(self):
        allowed = self.create("env-source-allowed")
        other = self.create("env-source-other")
        role_arn = self.make_role(self.server, [{"Effect": "Allow", "Action": "secretsmanager:GetSecretValue",
                                                 "Resource": self.sm.describe_secret(SecretId=allowed)["ARN"]}])
        agent = self.profile_agent(self.server, "env-source", f"role_arn = {role_arn}\ncredential_source = Environment\n"
                                   "role_session_name = env-source\n",
                                   env={"AWS_ACCESS_KEY_ID": KEY_ID, "AWS_SECRET_ACCESS_KEY": SECRET_KEY}).start()
        self.assertEqual("env-source-allowed", agent.value(allowed))
        status, _, body = agent.secret(other)
        self.assertEqual("AccessDeniedException", json.loads(body)["__type"], f"{status} {body}")
        self.assertIn("/env-source", json.loads(body)["message"])

    def test_no_source_key_or_session_token_in_the_agent_log(self):
        # The source is itself a session (keys with a session token), the agent logs at debug level, and its
        # renewals fail and succeed: neither the source's secret key nor its token may appear.
        import boto3
        arn = self.sm.describe_secret(SecretId=self.create("log-canary"))["ARN"]
        role_arn = self.make_role(self.server, [{"Effect": "Allow", "Action": "secretsmanager:GetSecretValue", "Resource": arn}])
        source_role = self.make_role(self.server, [{"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": role_arn}])
        sts = boto3.client("sts", endpoint_url=self.server.endpoint, region_name="us-east-1",
                           aws_access_key_id=KEY_ID, aws_secret_access_key=SECRET_KEY)
        c = sts.assume_role(RoleArn=source_role, RoleSessionName="source")["Credentials"]
        agent = self.profile_agent(self.server, "log-canary", f"role_arn = {role_arn}\nsource_profile = base\n",
                                   credentials=f"[base]\naws_access_key_id = {c['AccessKeyId']}\naws_secret_access_key = "
                                               f"{c['SecretAccessKey']}\naws_session_token = {c['SessionToken']}\n",
                                   config={"log_level": "debug"}).start()
        self.assertEqual("log-canary", agent.value(arn))
        for canary in (c["SecretAccessKey"], c["SessionToken"], SECRET_KEY):
            self.assertNotIn(canary, agent.log_text())

    def test_after_an_outage_past_expiry_the_agent_recovers_within_seconds(self):
        # 3 s sessions: while the server is down the credentials expire and renewals fail; errors are AWS-shaped;
        # once the server is back the agent assumes the role again within seconds, not at a fixed 30 s retry.
        data = tempfile.TemporaryDirectory(prefix="coffer-agent-short-")
        self.addCleanup(data.cleanup)
        server = start_server(data.name, "agent-short-outage", env={"COFFER_TEST_SESSION_LIFETIME_SECONDS": "3"})
        self.addCleanup(server.stop)
        sm = server.client(access_key=KEY_ID, secret_key=SECRET_KEY)
        arn = sm.create_secret(Name=coffer_harness.unique("agent/outage"), SecretString="back")["ARN"]
        agent, _ = self.role_agent(server, arn, "role-outage")
        self.assertEqual("back", agent.value(arn))
        port = server.port
        server.stop()
        try:
            time.sleep(5)
            status, _, body = agent.secret(arn, refreshNow="true")
            self.assertEqual((502, "ConnectionError"), (status, json.loads(body)["__type"]), body)
        finally:
            server.start(port=port)
        recovered, waited = wait_for(lambda: agent.secret(arn, refreshNow="true")[0] == 200, timeout=40, interval=0.2)
        self.assertTrue(recovered, agent.log_text()[-2000:])
        self.assertLess(waited, 10, "the agent took a fixed 30 s retry to assume the role again")
        self.assertIn("Could not refresh the role credentials", agent.log_text())

    def test_a_server_not_up_yet_is_waited_for_at_start(self):
        # An agent started beside its server (a sidecar) must not exit because the first AssumeRole found nobody.
        data = tempfile.TemporaryDirectory(prefix="coffer-agent-late-")
        self.addCleanup(data.cleanup)
        server = start_server(data.name, "agent-late-server")
        self.addCleanup(server.stop)
        arn = server.client(access_key=KEY_ID, secret_key=SECRET_KEY).create_secret(
            Name=coffer_harness.unique("agent/late"), SecretString="late")["ARN"]
        role_arn = self.make_role(server, [{"Effect": "Allow", "Action": "secretsmanager:GetSecretValue", "Resource": arn}])
        port = server.port
        server.stop()
        agent = self.profile_agent(server, "late", f"role_arn = {role_arn}\nsource_profile = base\n")
        later = threading.Timer(3, lambda: server.start(port=port))
        later.start()
        self.addCleanup(later.join)
        agent.start(timeout=60)
        self.assertEqual("late", agent.value(arn))
        self.assertIn("the server did not answer", agent.log_text())

    def test_an_untrusted_tls_certificate_stops_the_agent_instead_of_being_waited_for(self):
        # A server not up yet is waited for; a certificate the agent does not trust will not get better.
        import http.server
        import shutil
        import ssl
        if shutil.which("openssl") is None:
            self.skipTest("openssl not found")
        files = tempfile.TemporaryDirectory(prefix="coffer-agent-tls-")
        self.addCleanup(files.cleanup)
        cert, key = os.path.join(files.name, "cert.pem"), os.path.join(files.name, "key.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert, "-days", "1",
                        "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"], check=True, capture_output=True)
        httpd = http.server.HTTPServer(("127.0.0.1", 0), http.server.BaseHTTPRequestHandler)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
        threading.Thread(target=httpd.serve_forever, daemon=True).start()
        self.addCleanup(httpd.shutdown)
        endpoint = f"https://127.0.0.1:{httpd.server_address[1]}"
        agent = self.profile_agent(self.server, "untrusted-tls", "role_arn = arn:aws:iam::123456789012:role/r\nsource_profile = base\n")
        agent.endpoint = endpoint
        with self.assertRaises(RuntimeError) as raised:
            agent.start(timeout=30)
        self.assertIn("exited with 1", str(raised.exception))
        self.assertIn(f"TLS with 127.0.0.1:{httpd.server_address[1]} failed", str(raised.exception))

    def test_revoking_the_roles_older_sessions_stops_the_agent_within_seconds(self):
        # AWS's "Revoke active sessions": a Deny on sessions issued before now, put on the role with IAM.
        import boto3
        name = self.create("role-revoked")
        agent, role_arn = self.role_agent(self.server, self.sm.describe_secret(SecretId=name)["ARN"], "role-revoked")
        self.assertEqual("role-revoked", agent.value(name))
        caught_up(self.server, agent)
        iam = boto3.client("iam", endpoint_url=self.server.endpoint, region_name="us-east-1",
                           aws_access_key_id=KEY_ID, aws_secret_access_key=SECRET_KEY)
        now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 1))
        iam.put_role_policy(RoleName=role_arn.split("/")[-1], PolicyName="AWSRevokeOlderSessions", PolicyDocument=json.dumps({
            "Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Action": "*", "Resource": "*",
                                                    "Condition": {"DateLessThan": {"aws:TokenIssueTime": now}}}]}))
        refused, _ = wait_for(lambda: agent.secret(name)[0] != 200, timeout=5)
        self.assertTrue(refused, "the agent still served the secret 5 s after the role's sessions were revoked")
        status, _, body = agent.secret(name)
        self.assertEqual((400, "AccessDeniedException"), (status, json.loads(body)["__type"]), body)

    def test_a_tag_change_that_an_abac_condition_depends_on_revokes_and_restores_within_seconds(self):
        name = self.create("abac")
        arn = self.sm.describe_secret(SecretId=name)["ARN"]
        self.sm.tag_resource(SecretId=name, Tags=[{"Key": "team", "Value": "web"}])
        role_arn = self.make_role(self.server, [{"Effect": "Allow", "Action": "secretsmanager:GetSecretValue", "Resource": "*",
                                                 "Condition": {"StringEquals": {"secretsmanager:ResourceTag/team": "web"}}}])
        agent = self.profile_agent(self.server, "abac", f"role_arn = {role_arn}\nsource_profile = base\n").start()
        self.assertEqual("abac", agent.value(name))
        self.sm.tag_resource(SecretId=name, Tags=[{"Key": "team", "Value": "batch"}])
        refused, waited = wait_for(lambda: agent.secret(name)[0] != 200, timeout=10)
        self.assertTrue(refused, "the agent still served the secret 10 s after its tag no longer matched")
        self.assertLess(waited, 3.0)
        self.assertEqual("AccessDeniedException", json.loads(agent.secret(name)[2])["__type"])
        self.sm.tag_resource(SecretId=name, Tags=[{"Key": "team", "Value": "web"}])
        served, _ = wait_for(lambda: agent.secret(name)[0] == 200, timeout=10)
        self.assertTrue(served)


class OutageTest(unittest.TestCase):
    """Its own server and agent (TTL 1 s, 3 s maximum staleness), so stopping the server disturbs no other test."""

    TTL = 1
    MAX_STALE = 3

    @classmethod
    def setUpClass(cls):
        cls.data = tempfile.TemporaryDirectory(prefix="coffer-agent-outage-")
        cls.server = start_server(cls.data.name, "agent-outage-server")
        cls.agent = CofferAgent("outage", cls.server.endpoint,
                                {"ttl_seconds": cls.TTL, "max_stale_seconds": cls.MAX_STALE, "log_level": "debug"}).start()
        cls.sm = cls.server.client(access_key=KEY_ID, secret_key=SECRET_KEY)

    @classmethod
    def tearDownClass(cls):
        cls.agent.stop()
        cls.server.stop()
        cls.data.cleanup()

    def test_ttl_expiry_refetches(self):
        name = coffer_harness.unique("agent/ttl")
        self.sm.create_secret(Name=name, SecretString="ttl")
        caught_up(self.server, self.agent)
        self.agent.value(name)
        before = self.agent.upstream_calls()
        self.agent.value(name)
        self.assertEqual(before, self.agent.upstream_calls())
        time.sleep(self.TTL + 0.2)
        self.agent.value(name)
        self.assertGreater(self.agent.upstream_calls(), before)

    def test_zz_stale_while_the_server_is_down_then_errors_then_fresh(self):
        name = coffer_harness.unique("agent/outage")
        self.sm.create_secret(Name=name, SecretString="kept")
        self.assertEqual("kept", self.agent.value(name))
        port = self.server.port
        self.server.stop()
        try:
            time.sleep(self.TTL + 0.3)
            status, headers, body = self.agent.secret(name)
            self.assertEqual(200, status, body)
            self.assertEqual("kept", json.loads(body)["SecretString"])
            self.assertEqual("true", headers.get("X-Coffer-Stale"))
            self.assertGreater(self.agent.metric("coffer_agent_stale_serves_total"), 0)

            time.sleep(self.MAX_STALE)  # now past TTL + maximum staleness
            status, _, body = self.agent.secret(name)
            self.assertEqual(502, status, body)
            self.assertEqual("ConnectionError", json.loads(body)["__type"])
        finally:
            self.server.start(port=port)
        self.sm = self.server.client(access_key=KEY_ID, secret_key=SECRET_KEY)
        value, _ = wait_for(lambda: self.agent.secret(name)[0] == 200, timeout=10, interval=0.2)
        self.assertTrue(value)
        self.assertEqual("kept", self.agent.value(name))
        # And the agent follows the restarted server's change feed again.
        self.sm.put_secret_value(SecretId=name, SecretString="after-restart")
        value, _ = wait_for(lambda: self.agent.value(name) == "after-restart", timeout=10)
        self.assertTrue(value)


if __name__ == "__main__":
    unittest.main()
