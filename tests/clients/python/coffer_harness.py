"""Process harness for the real-client end-to-end suites (reliability matrix §3.1, single node).

Starts a real ``coffer server --dev`` on a free loopback port, waits for ``GET /health/ready`` to answer 200,
captures stdout and stderr to a log file under ``.artifacts/test-logs/`` and stops the process at the end
(SIGTERM, then SIGKILL). ``--dev`` gives the fixed credentials test/test and a temporary data directory that the
server removes on exit. One server per test module keeps the run fast:

    import coffer_harness

    def setUpModule():
        coffer_harness.start_module_server(__name__)

    def tearDownModule():
        coffer_harness.stop_module_server(__name__)

    class MyTest(unittest.TestCase):
        def test_x(self):
            sm = coffer_harness.module_server(__name__).client()

The command that starts the server is the repository's ``./coffer`` wrapper; ``COFFER_CMD`` (a shell-style
command line) replaces it, e.g. ``COFFER_CMD="dotnet src/Coffer.Cli/bin/Release/net10.0/coffer.dll"``.
scripts/test.sh builds the solution before any suite runs, so the wrapper does not build during a test.
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import socket
import subprocess
import time
import unittest
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[3]
LOG_DIR = REPO_ROOT / ".artifacts" / "test-logs"

DEV_ACCESS_KEY_ID = "test"
DEV_SECRET_ACCESS_KEY = "test"
DEFAULT_REGION = "us-east-1"

# The first run of the wrapper may still have to build; afterwards start-up takes a second or two.
READY_TIMEOUT_SECONDS = float(os.environ.get("COFFER_READY_TIMEOUT", "60"))
STOP_TIMEOUT_SECONDS = 10.0


# The AWS CLI v2 from Debian's `awscli` package; v1 is the first other `aws` on PATH (the pyenv python's).
AWS_CLI_V2 = os.environ.get("COFFER_AWSCLI_V2", "/usr/bin/aws")


def find_aws_cli_v1() -> str | None:
    """The first `aws` on PATH that is not the v2 binary."""
    for directory in os.environ.get("PATH", "").split(os.pathsep):
        candidate = os.path.join(directory, "aws")
        if os.path.isfile(candidate) and os.access(candidate, os.X_OK) and \
                os.path.realpath(candidate) != os.path.realpath(AWS_CLI_V2):
            return candidate
    return None


def free_port() -> int:
    """A loopback port that was free a moment ago (the server binds it right after)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def coffer_command() -> list[str]:
    override = os.environ.get("COFFER_CMD")
    if override:
        return shlex.split(override)
    return [str(REPO_ROOT / "coffer")]


class CofferServer:
    """One real ``coffer server`` process."""

    def __init__(self, name: str = "coffer", dev: bool = True, data_dir: str | None = None,
                 extra_args: list[str] | None = None, env: dict[str, str] | None = None):
        self.name = name.replace("/", "_")
        self.dev = dev
        self.data_dir = data_dir
        self.extra_args = list(extra_args or [])
        self.env = dict(env or {})
        self.port: int | None = None
        self.process: subprocess.Popen | None = None
        self.log_path: Path | None = None
        self._log_file = None

    # -- lifecycle ---------------------------------------------------------------------------------------------

    @property
    def endpoint(self) -> str:
        assert self.port is not None, "server not started"
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = READY_TIMEOUT_SECONDS, port: int | None = None) -> "CofferServer":
        """Starts the server on ``port`` (a free port by default; pass the old one to restart in place)."""
        if self.process is not None:
            raise RuntimeError("already started")
        self.port = port or free_port()
        args = coffer_command() + ["server"]
        if self.dev:
            args.append("--dev")
        args += ["--listen", f"127.0.0.1:{self.port}"]
        if self.data_dir:
            args += ["--data-dir", self.data_dir]
        args += self.extra_args

        LOG_DIR.mkdir(parents=True, exist_ok=True)
        self.log_path = LOG_DIR / f"{self.name}-{self.port}.log"
        self._log_file = open(self.log_path, "wb")
        self._log_file.write(("$ " + shlex.join(args) + "\n").encode())
        self._log_file.flush()
        env = dict(os.environ)
        env.update(self.env)
        # Own process group: the wrapper script and the server it starts are stopped together.
        self.process = subprocess.Popen(args, cwd=REPO_ROOT, stdin=subprocess.DEVNULL, stdout=self._log_file,
                                        stderr=subprocess.STDOUT, env=env, start_new_session=True)
        try:
            self._wait_ready(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        last_error = "no answer yet"
        while time.monotonic() < deadline:
            code = self.process.poll()
            if code is not None:
                raise RuntimeError(f"coffer server exited with code {code} before it was ready.\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(self.endpoint + "/health/ready", timeout=2) as resp:
                    if resp.status == 200:
                        return
                    last_error = f"HTTP {resp.status}"
            except urllib.error.HTTPError as e:
                last_error = f"HTTP {e.code}"
            except (urllib.error.URLError, ConnectionError, socket.timeout, OSError) as e:
                last_error = str(e)
            time.sleep(0.2)
        raise RuntimeError(f"coffer server not ready after {timeout:.0f} s ({last_error}).\n{self.log_tail()}")

    def stop(self) -> int | None:
        """SIGTERM to the process group, SIGKILL after STOP_TIMEOUT_SECONDS. Returns the exit code."""
        proc = self.process
        if proc is None:
            return None
        code = proc.poll()
        if code is None:
            self._signal(signal.SIGTERM)
            try:
                code = proc.wait(STOP_TIMEOUT_SECONDS)
            except subprocess.TimeoutExpired:
                self._signal(signal.SIGKILL)
                code = proc.wait(STOP_TIMEOUT_SECONDS)
        # Whatever the wrapper left behind in its group goes too.
        self._signal(signal.SIGKILL)
        self.process = None
        if self._log_file:
            self._log_file.close()
            self._log_file = None
        return code

    def kill(self) -> None:
        """SIGKILL at once (crash tests)."""
        if self.process is not None:
            self._signal(signal.SIGKILL)
            self.process.wait(STOP_TIMEOUT_SECONDS)
            self.process = None
        if self._log_file:
            self._log_file.close()
            self._log_file = None

    def _signal(self, sig: int) -> None:
        try:
            os.killpg(self.process.pid, sig)
        except (ProcessLookupError, PermissionError):
            pass

    def log_text(self) -> str:
        if self.log_path is None or not self.log_path.exists():
            return ""
        return self.log_path.read_text(errors="replace")

    def log_tail(self, lines: int = 40) -> str:
        text = self.log_text().splitlines()
        return "--- " + str(self.log_path) + " (tail) ---\n" + "\n".join(text[-lines:])

    # -- clients ----------------------------------------------------------------------------------------------

    def client(self, region: str = DEFAULT_REGION, access_key: str = DEV_ACCESS_KEY_ID,
               secret_key: str = DEV_SECRET_ACCESS_KEY, **config: Any):
        """A boto3 Secrets Manager client pointed at this server. Retries are off so that tests see each error."""
        import boto3
        from botocore.config import Config

        cfg = Config(retries={"max_attempts": 1, "mode": "standard"}, **config)
        return boto3.client("secretsmanager", endpoint_url=self.endpoint, region_name=region,
                            aws_access_key_id=access_key, aws_secret_access_key=secret_key, config=cfg)

    def signed_request(self, target: str, body: Any, region: str = DEFAULT_REGION,
                       access_key: str = DEV_ACCESS_KEY_ID, secret_key: str = DEV_SECRET_ACCESS_KEY,
                       now=None, sign: bool = True, extra_headers: dict[str, str] | None = None):
        """Send one raw awsJson1_1 request signed by botocore's SigV4 signer (optionally at a fixed time).

        Returns (status, headers, parsed JSON body or raw text)."""
        from unittest import mock

        from botocore.auth import SigV4Auth
        from botocore.awsrequest import AWSRequest
        from botocore.credentials import Credentials

        data = body if isinstance(body, (bytes, str)) else json.dumps(body)
        if isinstance(data, str):
            data = data.encode()
        headers = {"Content-Type": "application/x-amz-json-1.1"}
        if target:
            headers["X-Amz-Target"] = target
        headers.update(extra_headers or {})
        req = AWSRequest(method="POST", url=self.endpoint + "/", data=data, headers=headers)
        if sign:
            signer = SigV4Auth(Credentials(access_key, secret_key), "secretsmanager", region)
            if now is not None:
                with mock.patch("botocore.auth.get_current_datetime", return_value=now):
                    signer.add_auth(req)
            else:
                signer.add_auth(req)
        prepared = req.prepare()
        http_req = urllib.request.Request(prepared.url, data=data, method="POST", headers=dict(prepared.headers.items()))
        try:
            with urllib.request.urlopen(http_req, timeout=30) as resp:
                return resp.status, dict(resp.headers.items()), _parse(resp.read())
        except urllib.error.HTTPError as e:
            return e.code, dict(e.headers.items()), _parse(e.read())


def _parse(raw: bytes):
    if not raw:
        return {}
    try:
        return json.loads(raw)
    except ValueError:
        return raw.decode(errors="replace")


def unique(prefix: str = "t") -> str:
    """A secret name no other test uses."""
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


_MODULE_SERVERS: dict[str, CofferServer] = {}


def start_module_server(module: str, **kwargs: Any) -> CofferServer:
    server = CofferServer(name=module.rsplit(".", 1)[-1], **kwargs).start()
    _MODULE_SERVERS[module] = server
    return server


def module_server(module: str) -> CofferServer:
    return _MODULE_SERVERS[module]


def stop_module_server(module: str) -> None:
    server = _MODULE_SERVERS.pop(module, None)
    if server is not None:
        server.stop()



class ServerTestCase(unittest.TestCase):
    """Test case bound to its module's server (see start_module_server)."""

    _clients: dict[tuple, Any] = {}

    @property
    def server(self) -> CofferServer:
        return module_server(type(self).__module__)

    def client(self, region: str = DEFAULT_REGION, access_key: str = DEV_ACCESS_KEY_ID,
               secret_key: str = DEV_SECRET_ACCESS_KEY):
        key = (self.server.endpoint, region, access_key, secret_key)
        if key not in ServerTestCase._clients:
            ServerTestCase._clients[key] = self.server.client(region, access_key, secret_key)
        return ServerTestCase._clients[key]

    @property
    def sm(self):
        return self.client()

    def assertError(self, code: str, fn, *args, message: str | None = None, status: int | None = 400,
                    **kwargs) -> dict:
        """Call fn and assert it fails with the AWS error ``code`` (and exact ``message`` when given)."""
        from botocore.exceptions import ClientError

        with self.assertRaises(ClientError) as cm:
            fn(*args, **kwargs)
        resp = cm.exception.response
        err = resp.get("Error", {})
        self.assertEqual(code, err.get("Code"), f"error code; full error: {err}")
        if message is not None:
            self.assertEqual(message, err.get("Message"), "error message")
        if status is not None:
            self.assertEqual(status, resp.get("ResponseMetadata", {}).get("HTTPStatusCode"), "HTTP status")
        return resp

    def assertErrorIn(self, codes, fn, *args, **kwargs) -> dict:
        """Like assertError where the spec leaves the exact code open (spec §9 'unconfirmed')."""
        from botocore.exceptions import ClientError

        with self.assertRaises(ClientError) as cm:
            fn(*args, **kwargs)
        err = cm.exception.response.get("Error", {})
        self.assertIn(err.get("Code"), set(codes), f"error code; full error: {err}")
        status = cm.exception.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        self.assertTrue(400 <= status < 500, f"HTTP status {status} is not a client error")
        return cm.exception.response

    def create(self, prefix: str = "t", **kwargs) -> dict:
        """CreateSecret with a unique name unless Name is given."""
        kwargs.setdefault("Name", unique(prefix))
        resp = self.sm.create_secret(**kwargs)
        resp["_name"] = kwargs["Name"]
        return resp

    def stages(self, secret_id: str, include_deprecated: bool = False, client=None) -> dict[str, set[str]]:
        """VersionId -> set of labels, from ListSecretVersionIds."""
        c = client or self.sm
        resp = c.list_secret_version_ids(SecretId=secret_id, IncludeDeprecated=include_deprecated)
        return {v["VersionId"]: set(v.get("VersionStages", [])) for v in resp["Versions"]}
