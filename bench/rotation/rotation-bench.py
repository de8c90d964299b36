#!/usr/bin/env python3
"""Rotation benchmark (issue 5): N secrets on one MariaDB and N on one PostgreSQL, all due at the same moment.

Method: start a coffer server on a fresh data directory; create N database users per engine and their secrets;
configure every secret with the built-in single-user rotator on a rate(1 minute) test schedule without rotating
now (RotateImmediately=false; the test-only runs are waited out); stop the server and wait past the window so
that every secret is overdue; start the server again and measure from its start until every secret's
LastRotatedDate is set (the start-up tick finds all 2N due at once: one catch-up rotation each). Peak connections
are sampled continuously (one psql/mariadb client per sample, about 20 per second) on each database
(pg_stat_activity rows of application coffer-rotation / PROCESSLIST rows of the bench users) and cross-checked with MariaDB's Max_used_connections after FLUSH STATUS.

Needs the databases of scripts/databases.sh (COFFER_TEST_* variables). Usage:
    eval "$(scripts/databases.sh start)"; python3 bench/rotation/rotation-bench.py --secrets 200 --concurrency 4
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "clients" / "python"))
from coffer_harness import CofferServer  # noqa: E402
from test_rotation import MARIADB, POSTGRES  # noqa: E402

KEY_ID, KEY_SECRET = "AKIABENCHROTATION001", "bench-rotation-secret-key-000000000000000000"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--secrets", type=int, default=200, help="secrets per database")
    ap.add_argument("--concurrency", type=int, default=4, help="--rotation-concurrency of the server")
    args = ap.parse_args()
    for db in (MARIADB, POSTGRES):
        if not db.available:
            sys.exit(f"{db.engine} not running: eval \"$(scripts/databases.sh start)\"")

    run = uuid.uuid4().hex[:6]
    users = {db.engine: [(f"bench{run}u{i}", f"Init-{uuid.uuid4().hex[:12]}") for i in range(args.secrets)] for db in (MARIADB, POSTGRES)}
    # Users in one batch per engine.
    pg_sql = "; ".join(f"CREATE ROLE \"{u}\" LOGIN PASSWORD '{p}'" for u, p in users["postgres"])
    r = POSTGRES.sql(pg_sql); assert r.returncode == 0, r.stderr
    my_sql = "CREATE DATABASE IF NOT EXISTS coffer_rot; " + "; ".join(
        f"CREATE USER '{u}'@'%' IDENTIFIED BY '{p}'; GRANT SELECT ON coffer_rot.* TO '{u}'@'%'" for u, p in users["mariadb"])
    r = MARIADB.sql(my_sql); assert r.returncode == 0, r.stderr

    data_dir = tempfile.mkdtemp(prefix="coffer-rotbench-")
    env = {"COFFER_BOOTSTRAP_ACCESS_KEY_ID": KEY_ID, "COFFER_BOOTSTRAP_SECRET_ACCESS_KEY": KEY_SECRET}
    extra = ["--rotation-test-schedules", "--rotation-concurrency", str(args.concurrency), "--rotation-tick", "1",
             "--log-level", "Warning"]
    server = CofferServer(name="rotbench", dev=False, data_dir=data_dir, env=env, extra_args=extra)
    try:
        server.start()
        sm = server.client(access_key=KEY_ID, secret_key=KEY_SECRET)
        names = []
        for db, fn in ((MARIADB, "coffer-mysql-single-user"), (POSTGRES, "coffer-postgresql-single-user")):
            for u, p in users[db.engine]:
                name = f"bench/{run}/{db.engine}/{u}"
                sm.create_secret(Name=name, SecretString=db.secret(u, p))
                sm.rotate_secret(SecretId=name, RotationLambdaARN=fn, RotationRules={"ScheduleExpression": "rate(1 minute)"},
                                 RotateImmediately=False)
                names.append(name)
        configured = time.monotonic()
        wait_idle(sm, names)
        server.stop()
        time.sleep(max(0.0, 65 - (time.monotonic() - configured)))  # every window has opened and closed

        peaks = {"mariadb": 0, "postgres": 0}
        stop = threading.Event()
        samplers = [threading.Thread(target=sample, args=(db, peaks, stop)) for db in (MARIADB, POSTGRES)]
        MARIADB.sql("FLUSH STATUS")
        for t in samplers: t.start()
        t0 = time.monotonic()
        server.start()
        sm = server.client(access_key=KEY_ID, secret_key=KEY_SECRET)
        ready = time.monotonic() - t0
        per_engine = wait_rotated(sm, names, t0)
        total = time.monotonic() - t0
        stop.set()
        for t in samplers: t.join()
        max_used = MARIADB.sql("SHOW GLOBAL STATUS LIKE 'Max_used_connections'").stdout.split()[-1]
        failures = [n for n in names if sm.describe_secret(SecretId=n).get("LastRotatedDate") is None]
        print(json.dumps({
            "secrets_per_database": args.secrets, "rotation_concurrency": args.concurrency,
            "server_ready_s": round(ready, 2), "all_rotated_s": round(total, 2),
            "mariadb_all_rotated_s": round(per_engine["mariadb"], 2), "postgres_all_rotated_s": round(per_engine["postgres"], 2),
            "peak_connections_mariadb_sampled": peaks["mariadb"], "peak_connections_postgres_sampled": peaks["postgres"],
            "mariadb_max_used_connections_incl_sampler": int(max_used), "not_rotated": len(failures),
        }, indent=2))
    finally:
        server.stop()
        shutil.rmtree(data_dir, ignore_errors=True)


def wait_idle(sm, names, timeout=600):
    deadline = time.monotonic() + timeout
    for n in names:
        while any("AWSPENDING" in v for v in sm.describe_secret(SecretId=n).get("VersionIdsToStages", {}).values()):
            if time.monotonic() > deadline:
                raise SystemExit("test-only rotations did not finish")
            time.sleep(0.2)


def wait_rotated(sm, names, t0, timeout=900):
    pending = set(names)
    done = {}
    deadline = time.monotonic() + timeout
    while pending and time.monotonic() < deadline:
        token = None
        while True:
            kw = {"MaxResults": 100, "Filters": [{"Key": "name", "Values": ["bench/"]}]}
            if token: kw["NextToken"] = token
            page = sm.list_secrets(**kw)
            for s in page["SecretList"]:
                if s["Name"] in pending and s.get("LastRotatedDate") is not None:
                    pending.discard(s["Name"])
                    engine = s["Name"].split("/")[2]
                    done[engine] = time.monotonic() - t0
            token = page.get("NextToken")
            if not token: break
        time.sleep(0.1)
    if pending:
        raise SystemExit(f"{len(pending)} secrets not rotated after {timeout} s")
    return done


def sample(db, peaks, stop):
    q = ("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'coffer-rotation'" if db.engine == "postgres"
         else "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE USER LIKE 'bench%'")
    # One short-lived client per sample (psql -c / mariadb -e): a long-lived client buffers its output on a pipe.
    while not stop.is_set():
        r = db.sql(q)
        digits = [l.strip() for l in r.stdout.splitlines() if l.strip().isdigit()] if r.returncode == 0 else []
        if digits:
            peaks[db.engine] = max(peaks[db.engine], int(digits[-1]))
        time.sleep(0.02)


if __name__ == "__main__":
    main()
