# Coffer's python3.x runtime: runs one invocation of a Lambda-style handler, then exits.
#
#   python3 -u bootstrap.py EVENT_FILE RESULT_FILE REQUEST_ID DEADLINE_UNIX_MS FUNCTION_ARN
#
# The handler ("module.function", from _HANDLER) is imported with the code directory (LAMBDA_TASK_ROOT) first on
# sys.path. The event is read from EVENT_FILE; the handler's return value (JSON) or an error object
# {"errorMessage", "errorType", "stackTrace"} to RESULT_FILE.error, so that everything the function prints on
# stdout and stderr stays its log. Debian's python3 sees /usr/lib/python3/dist-packages (boto3, pymysql, psycopg2).
import json
import os
import sys
import time
import traceback

_deadline_ms = int(sys.argv[4]) if len(sys.argv) > 4 else int(time.time() * 1000) + 3000
_request_id = sys.argv[3] if len(sys.argv) > 3 else ""
_function_arn = sys.argv[5] if len(sys.argv) > 5 else ""


class LambdaContext:
    """The fields of AWS's Python context object that rotation functions and most handlers use."""

    def __init__(self, request_id):
        self.aws_request_id = request_id
        self.function_name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "")
        self.function_version = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        self.invoked_function_arn = _function_arn
        self.memory_limit_in_mb = os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        self.log_group_name = os.environ.get("AWS_LAMBDA_LOG_GROUP_NAME", "")
        self.log_stream_name = os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME", "")
        self.identity = None
        self.client_context = None

    def get_remaining_time_in_millis(self):
        return max(0, _deadline_ms - int(time.time() * 1000))


_SERVICE_IDS = {"secretsmanager": "SECRETS_MANAGER", "cloudtrail": "CLOUDTRAIL", "sts": "STS", "iam": "IAM", "lambda": "LAMBDA", "kms": "KMS"}


def _install_endpoint_default():
    """botocore before 1.31 ignores AWS_ENDPOINT_URL; make clients created without endpoint_url use it."""
    url = os.environ.get("AWS_ENDPOINT_URL")
    if not url:
        return
    try:
        import botocore
        import botocore.session
    except ImportError:
        return
    try:
        version = tuple(int(p) for p in botocore.__version__.split(".")[:2])
    except ValueError:
        version = (0, 0)
    if version >= (1, 31):
        return  # honours AWS_ENDPOINT_URL and AWS_ENDPOINT_URL_<SERVICE> itself
    original = botocore.session.Session.create_client

    def create_client(self, service_name, *args, **kwargs):
        if len(args) < 5 and kwargs.get("endpoint_url") is None:
            # The variable is named after the service id ("Secrets Manager"), not the client name ("secretsmanager").
            specific = "AWS_ENDPOINT_URL_" + _SERVICE_IDS.get(service_name, service_name.upper().replace("-", "_"))
            kwargs["endpoint_url"] = os.environ.get(specific) or url
        return original(self, service_name, *args, **kwargs)

    botocore.session.Session.create_client = create_client


def _error(exc):
    tb = traceback.extract_tb(exc.__traceback__)
    return {
        "errorMessage": str(exc),
        "errorType": type(exc).__name__,
        "requestId": _request_id,
        "stackTrace": traceback.format_list(tb),
    }


def _install_log_handler():
    """As Lambda's runtime does: the root logger writes "[LEVEL] time request-id message" lines to the log."""
    import logging

    class _Formatter(logging.Formatter):
        converter = time.gmtime

    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(_Formatter("[%(levelname)s]\t%(asctime)s.%(msecs)03dZ\t" + _request_id + "\t%(message)s",
                                    "%Y-%m-%dT%H:%M:%S"))
    logging.getLogger().addHandler(handler)


def main():
    event_file, result_file = sys.argv[1], sys.argv[2]
    _install_log_handler()
    task_root = os.environ.get("LAMBDA_TASK_ROOT", os.getcwd())
    runtime_dir = os.path.dirname(os.path.abspath(__file__))
    sys.path[:] = [task_root] + [p for p in sys.path if os.path.abspath(p or ".") != runtime_dir]

    def write(obj, path=result_file):
        text = json.dumps(obj)
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)

    def write_error(obj):
        write(obj, result_file + ".error")

    try:
        _install_endpoint_default()
        handler_name = os.environ.get("_HANDLER", "")
        module_name, _, function_name = handler_name.rpartition(".")
        if not module_name or not function_name:
            raise ValueError("Bad handler '%s': not enough values to unpack (expected module.function)" % handler_name)
        import importlib
        try:
            module = importlib.import_module(module_name.replace("/", "."))
        except ImportError as e:
            err = _error(e)
            err["errorType"] = "Runtime.ImportModuleError"
            err["errorMessage"] = "Unable to import module '%s': %s" % (module_name, e)
            write_error(err)
            return 0
        handler = getattr(module, function_name, None)
        if handler is None:
            write_error({"errorMessage": "Handler '%s' missing on module '%s'" % (function_name, module_name),
                   "errorType": "Runtime.HandlerNotFound", "stackTrace": []})
            return 0
        with open(event_file, "rb") as f:
            raw = f.read()
        event = json.loads(raw) if raw.strip() else {}
        result = handler(event, LambdaContext(_request_id))
        try:
            write(result)
        except (TypeError, ValueError) as e:
            write_error({"errorMessage": "Unable to marshal response: %s" % e, "errorType": "Runtime.MarshalError", "stackTrace": []})
    except Exception as e:  # the handler's failure is the invocation's result, not the runtime's
        traceback.print_exc()
        write_error(_error(e))
    return 0


if __name__ == "__main__":
    sys.exit(main())
