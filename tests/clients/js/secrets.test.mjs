// The AWS SDK for JavaScript v3 (@aws-sdk/client-secrets-manager) against a real coffer server: every action of
// issue 2 at least once, the main error paths, binary values, and clock-skew correction.
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, describe, test } from "node:test";
import {
  BatchGetSecretValueCommand,
  CreateSecretCommand,
  DeleteResourcePolicyCommand,
  DeleteSecretCommand,
  DescribeSecretCommand,
  GetRandomPasswordCommand,
  GetResourcePolicyCommand,
  GetSecretValueCommand,
  ListSecretsCommand,
  ListSecretVersionIdsCommand,
  PutResourcePolicyCommand,
  PutSecretValueCommand,
  RestoreSecretCommand,
  TagResourceCommand,
  UntagResourceCommand,
  UpdateSecretCommand,
  UpdateSecretVersionStageCommand,
  ValidateResourcePolicyCommand,
  paginateListSecrets,
} from "@aws-sdk/client-secrets-manager";
import { CofferServer, errorOf, unique } from "./harness.mjs";

const NOT_FOUND = "Secrets Manager can't find the specified secret.";
const MARKED = "You can't perform this operation on the secret because it was marked for deletion.";

const server = new CofferServer("js-secrets");
let sm;

before(async () => {
  await server.start();
  sm = server.client();
});

after(async () => {
  sm?.destroy();
  await server.stop();
});

async function assertServiceError(promiseFn, name, message) {
  const e = await errorOf(promiseFn);
  assert.equal(e.name, name, `error name; got ${e.name}: ${e.message}`);
  if (message !== undefined) assert.equal(e.message, message);
  assert.equal(e.$metadata?.httpStatusCode, 400);
  return e;
}

const stagesOf = async (id, includeDeprecated = false) => {
  const out = await sm.send(new ListSecretVersionIdsCommand({ SecretId: id, IncludeDeprecated: includeDeprecated }));
  return Object.fromEntries(out.Versions.map((v) => [v.VersionId, [...(v.VersionStages ?? [])].sort()]));
};

describe("values", () => {
  test("create, get by name / ARN / partial ARN, describe", async () => {
    const name = unique("create");
    const created = await sm.send(new CreateSecretCommand({ Name: name, SecretString: "hello", Description: "js" }));
    assert.equal(created.Name, name);
    assert.match(created.ARN, /^arn:aws:secretsmanager:us-east-1:\d{12}:secret:.+-[A-Za-z0-9]{6}$/);
    for (const id of [name, created.ARN, created.ARN.slice(0, -7)]) {
      const got = await sm.send(new GetSecretValueCommand({ SecretId: id }));
      assert.equal(got.SecretString, "hello");
      assert.equal(got.VersionId, created.VersionId);
      assert.deepEqual(got.VersionStages, ["AWSCURRENT"]);
      assert.ok(got.CreatedDate instanceof Date);
    }
    const desc = await sm.send(new DescribeSecretCommand({ SecretId: name }));
    assert.equal(desc.Description, "js");
    assert.deepEqual(desc.VersionIdsToStages, { [created.VersionId]: ["AWSCURRENT"] });
    assert.ok(desc.$metadata.requestId, "x-amzn-RequestId surfaces as requestId");
  });

  test("binary secrets round-trip as Uint8Array", async () => {
    const bytes = new Uint8Array(300).map((_, i) => (i * 7) % 256);
    const created = await sm.send(new CreateSecretCommand({ Name: unique("bin"), SecretBinary: bytes }));
    const got = await sm.send(new GetSecretValueCommand({ SecretId: created.ARN }));
    assert.ok(got.SecretBinary instanceof Uint8Array);
    assert.deepEqual(Buffer.from(got.SecretBinary), Buffer.from(bytes));
    assert.equal(got.SecretString, undefined);
    const next = new Uint8Array([0, 1, 2, 255]);
    await sm.send(new PutSecretValueCommand({ SecretId: created.ARN, SecretBinary: next }));
    const got2 = await sm.send(new GetSecretValueCommand({ SecretId: created.ARN }));
    assert.deepEqual(Buffer.from(got2.SecretBinary), Buffer.from(next));
  });

  test("put moves AWSCURRENT and AWSPREVIOUS; AWSPENDING leaves AWSCURRENT", async () => {
    const c = await sm.send(new CreateSecretCommand({ Name: unique("labels"), SecretString: "v1" }));
    const p2 = await sm.send(new PutSecretValueCommand({ SecretId: c.ARN, SecretString: "v2" }));
    assert.deepEqual(p2.VersionStages, ["AWSCURRENT"]);
    assert.deepEqual(await stagesOf(c.ARN), { [c.VersionId]: ["AWSPREVIOUS"], [p2.VersionId]: ["AWSCURRENT"] });
    const p3 = await sm.send(new PutSecretValueCommand({ SecretId: c.ARN, SecretString: "v3", VersionStages: ["AWSPENDING"] }));
    assert.deepEqual(p3.VersionStages, ["AWSPENDING"]);
    const cur = await sm.send(new GetSecretValueCommand({ SecretId: c.ARN }));
    assert.equal(cur.SecretString, "v2");
    const pending = await sm.send(new GetSecretValueCommand({ SecretId: c.ARN, VersionStage: "AWSPENDING" }));
    assert.equal(pending.SecretString, "v3");
    const all = await stagesOf(c.ARN, true);
    assert.equal(Object.keys(all).length, 3);
  });

  test("UpdateSecretVersionStage: RemoveFromVersionId required, then moves labels", async () => {
    const c = await sm.send(new CreateSecretCommand({ Name: unique("uvs"), SecretString: "v1" }));
    const p = await sm.send(new PutSecretValueCommand({ SecretId: c.ARN, SecretString: "v2", VersionStages: ["AWSPENDING"] }));
    await assertServiceError(
      () => sm.send(new UpdateSecretVersionStageCommand({ SecretId: c.ARN, VersionStage: "AWSCURRENT", MoveToVersionId: p.VersionId })),
      "InvalidParameterException",
      `The parameter RemoveFromVersionId can't be empty. Staging label AWSCURRENT is currently attached to version ${c.VersionId}, so you must explicitly reference that version in RemoveFromVersionId.`,
    );
    const out = await sm.send(new UpdateSecretVersionStageCommand({
      SecretId: c.ARN, VersionStage: "AWSCURRENT", MoveToVersionId: p.VersionId, RemoveFromVersionId: c.VersionId,
    }));
    assert.equal(out.ARN, c.ARN);
    assert.deepEqual(await stagesOf(c.ARN), { [c.VersionId]: ["AWSPREVIOUS"], [p.VersionId]: ["AWSCURRENT", "AWSPENDING"] });
  });

  test("UpdateSecret: metadata only, then a new value", async () => {
    const c = await sm.send(new CreateSecretCommand({ Name: unique("upd"), SecretString: "v1" }));
    const meta = await sm.send(new UpdateSecretCommand({ SecretId: c.ARN, Description: "new description" }));
    assert.equal(meta.VersionId, undefined);
    const withValue = await sm.send(new UpdateSecretCommand({ SecretId: c.ARN, SecretString: "v2" }));
    assert.ok(withValue.VersionId);
    const desc = await sm.send(new DescribeSecretCommand({ SecretId: c.ARN }));
    assert.equal(desc.Description, "new description");
    assert.deepEqual(desc.VersionIdsToStages, { [c.VersionId]: ["AWSPREVIOUS"], [withValue.VersionId]: ["AWSCURRENT"] });
  });

  test("ClientRequestToken: same value replays, different value is refused", async () => {
    const c = await sm.send(new CreateSecretCommand({ Name: unique("tok"), SecretString: "v1" }));
    const token = randomUUID();
    const first = await sm.send(new PutSecretValueCommand({ SecretId: c.ARN, SecretString: "v2", ClientRequestToken: token }));
    const again = await sm.send(new PutSecretValueCommand({ SecretId: c.ARN, SecretString: "v2", ClientRequestToken: token }));
    assert.equal(first.VersionId, token);
    assert.equal(again.VersionId, token);
    assert.equal(Object.keys(await stagesOf(c.ARN, true)).length, 2);
    await assertServiceError(
      () => sm.send(new PutSecretValueCommand({ SecretId: c.ARN, SecretString: "v3", ClientRequestToken: token })),
      "ResourceExistsException",
      `You can't use ClientRequestToken ${token} because that value is already in use for a version of secret ${c.ARN}.`,
    );
  });
});

describe("errors", () => {
  test("not found", async () => {
    const e = await assertServiceError(() => sm.send(new GetSecretValueCommand({ SecretId: unique("missing") })),
      "ResourceNotFoundException", NOT_FOUND);
    assert.ok(e.$metadata.requestId);
    await assertServiceError(() => sm.send(new DescribeSecretCommand({ SecretId: unique("missing") })),
      "ResourceNotFoundException", NOT_FOUND);
  });

  test("missing label and version id", async () => {
    const c = await sm.send(new CreateSecretCommand({ Name: unique("lbl"), SecretString: "x" }));
    await assertServiceError(() => sm.send(new GetSecretValueCommand({ SecretId: c.ARN, VersionStage: "AWSPREVIOUS" })),
      "ResourceNotFoundException", "Secrets Manager can't find the specified secret value for staging label: AWSPREVIOUS");
    await assertServiceError(
      () => sm.send(new GetSecretValueCommand({ SecretId: c.ARN, VersionId: c.VersionId, VersionStage: "AWSPREVIOUS" })),
      "InvalidRequestException", "You provided a VersionStage that is not associated to the provided VersionId.");
  });

  test("invalid parameters", async () => {
    await assertServiceError(
      () => sm.send(new CreateSecretCommand({ Name: unique("both"), SecretString: "s", SecretBinary: new Uint8Array([1]) })),
      "InvalidParameterException",
      "You can't specify both a binary secret value and a string secret value in the same secret.");
    await assertServiceError(() => sm.send(new CreateSecretCommand({ Name: "bad name", SecretString: "s" })),
      "ValidationException",
      "Invalid name. Must be a valid name containing alphanumeric characters, or any of the following: -/_+=.@!");
    const c = await sm.send(new CreateSecretCommand({ Name: unique("win"), SecretString: "s" }));
    await assertServiceError(() => sm.send(new DeleteSecretCommand({ SecretId: c.ARN, RecoveryWindowInDays: 6 })),
      "InvalidParameterException");
  });

  test("oversize values: 65,536 accepted, 65,537 refused", async () => {
    const c = await sm.send(new CreateSecretCommand({ Name: unique("big"), SecretString: "a".repeat(65536) }));
    const got = await sm.send(new GetSecretValueCommand({ SecretId: c.ARN }));
    assert.equal(got.SecretString.length, 65536);
    const e = await errorOf(() => sm.send(new PutSecretValueCommand({ SecretId: c.ARN, SecretString: "b".repeat(65537) })));
    assert.ok(["ValidationException", "InvalidParameterException"].includes(e.name), e.name);
    assert.equal(e.$metadata.httpStatusCode, 400);
  });

  test("calls on a secret scheduled for deletion", async () => {
    const name = unique("doomed");
    const c = await sm.send(new CreateSecretCommand({ Name: name, SecretString: "x" }));
    await sm.send(new DeleteSecretCommand({ SecretId: c.ARN, RecoveryWindowInDays: 7 }));
    await assertServiceError(() => sm.send(new GetSecretValueCommand({ SecretId: c.ARN })), "InvalidRequestException", MARKED);
    await assertServiceError(() => sm.send(new PutSecretValueCommand({ SecretId: c.ARN, SecretString: "y" })),
      "InvalidRequestException", MARKED);
    await assertServiceError(() => sm.send(new TagResourceCommand({ SecretId: c.ARN, Tags: [{ Key: "k", Value: "v" }] })),
      "InvalidRequestException", MARKED);
    await assertServiceError(() => sm.send(new CreateSecretCommand({ Name: name, SecretString: "again" })),
      "InvalidRequestException", "You can't create this secret because a secret with this name is already scheduled for deletion.");
    const desc = await sm.send(new DescribeSecretCommand({ SecretId: c.ARN }));
    assert.ok(desc.DeletedDate instanceof Date);
  });
});

describe("lifecycle, tags, policies, passwords", () => {
  test("DeleteSecret with a window, RestoreSecret, force delete", async () => {
    const c = await sm.send(new CreateSecretCommand({ Name: unique("del"), SecretString: "x" }));
    const del = await sm.send(new DeleteSecretCommand({ SecretId: c.ARN, RecoveryWindowInDays: 30 }));
    const days = (del.DeletionDate.getTime() - Date.now()) / 86_400_000;
    assert.ok(Math.abs(days - 30) < 0.01, `DeletionDate ${del.DeletionDate.toISOString()} is not 30 days away`);
    const restored = await sm.send(new RestoreSecretCommand({ SecretId: c.ARN }));
    assert.equal(restored.ARN, c.ARN);
    assert.equal((await sm.send(new GetSecretValueCommand({ SecretId: c.ARN }))).SecretString, "x");
    await sm.send(new DeleteSecretCommand({ SecretId: c.ARN, ForceDeleteWithoutRecovery: true }));
    await assertServiceError(() => sm.send(new DescribeSecretCommand({ SecretId: c.ARN })), "ResourceNotFoundException", NOT_FOUND);
  });

  test("TagResource and UntagResource", async () => {
    const c = await sm.send(new CreateSecretCommand({ Name: unique("tags"), SecretString: "x", Tags: [{ Key: "a", Value: "1" }] }));
    await sm.send(new TagResourceCommand({ SecretId: c.ARN, Tags: [{ Key: "b", Value: "2" }, { Key: "a", Value: "3" }] }));
    let tags = (await sm.send(new DescribeSecretCommand({ SecretId: c.ARN }))).Tags;
    assert.deepEqual(Object.fromEntries(tags.map((t) => [t.Key, t.Value])), { a: "3", b: "2" });
    await sm.send(new UntagResourceCommand({ SecretId: c.ARN, TagKeys: ["a", "not-there"] }));
    tags = (await sm.send(new DescribeSecretCommand({ SecretId: c.ARN }))).Tags;
    assert.deepEqual(tags, [{ Key: "b", Value: "2" }]);
  });

  test("resource policies: put, get, validate, block public, delete", async () => {
    const c = await sm.send(new CreateSecretCommand({ Name: unique("pol"), SecretString: "x" }));
    const policy = {
      Version: "2012-10-17",
      Statement: [{ Effect: "Allow", Principal: { AWS: "arn:aws:iam::123456789012:root" }, Action: "secretsmanager:GetSecretValue", Resource: "*" }],
    };
    const put = await sm.send(new PutResourcePolicyCommand({ SecretId: c.ARN, ResourcePolicy: JSON.stringify(policy), BlockPublicPolicy: true }));
    assert.equal(put.ARN, c.ARN);
    const got = await sm.send(new GetResourcePolicyCommand({ SecretId: c.ARN }));
    assert.deepEqual(JSON.parse(got.ResourcePolicy), policy);
    const valid = await sm.send(new ValidateResourcePolicyCommand({ SecretId: c.ARN, ResourcePolicy: JSON.stringify(policy) }));
    assert.equal(valid.PolicyValidationPassed, true);
    const pub = { ...policy, Statement: [{ ...policy.Statement[0], Principal: "*" }] };
    await assertServiceError(
      () => sm.send(new PutResourcePolicyCommand({ SecretId: c.ARN, ResourcePolicy: JSON.stringify(pub), BlockPublicPolicy: true })),
      "PublicPolicyException");
    await assertServiceError(() => sm.send(new PutResourcePolicyCommand({ SecretId: c.ARN, ResourcePolicy: "{nope" })),
      "MalformedPolicyDocumentException");
    await sm.send(new DeleteResourcePolicyCommand({ SecretId: c.ARN }));
    assert.equal((await sm.send(new GetResourcePolicyCommand({ SecretId: c.ARN }))).ResourcePolicy, undefined);
  });

  test("GetRandomPassword options", async () => {
    const def = await sm.send(new GetRandomPasswordCommand({}));
    assert.equal(def.RandomPassword.length, 32);
    const digits = await sm.send(new GetRandomPasswordCommand({
      PasswordLength: 64, ExcludeLowercase: true, ExcludeUppercase: true, ExcludePunctuation: true,
    }));
    assert.match(digits.RandomPassword, /^[0-9]{64}$/);
    const spaced = await sm.send(new GetRandomPasswordCommand({ PasswordLength: 4096, IncludeSpace: true, ExcludeCharacters: "abc" }));
    assert.ok(spaced.RandomPassword.includes(" "));
    assert.ok(!/[abc]/.test(spaced.RandomPassword));
  });
});

describe("listing", () => {
  test("ListSecrets filters, sort, paginator; BatchGetSecretValue", async () => {
    const prefix = unique("lst");
    for (const n of ["c", "a", "b", "e", "d"]) {
      await sm.send(new CreateSecretCommand({ Name: `${prefix}/${n}`, SecretString: `value-${n}`, Tags: [{ Key: "letter", Value: n }] }));
    }
    const filters = [{ Key: "name", Values: [`${prefix}/`] }];
    const names = [];
    let pages = 0;
    for await (const page of paginateListSecrets({ client: sm, pageSize: 2 }, { Filters: filters, SortBy: "name", SortOrder: "asc" })) {
      pages += 1;
      assert.ok(page.SecretList.length <= 2);
      names.push(...page.SecretList.map((s) => s.Name));
    }
    assert.deepEqual(names, ["a", "b", "c", "d", "e"].map((n) => `${prefix}/${n}`));
    assert.ok(pages >= 3);
    const desc = await sm.send(new ListSecretsCommand({ Filters: filters, SortBy: "name", SortOrder: "desc" }));
    assert.deepEqual(desc.SecretList.map((s) => s.Name.split("/")[1]), ["e", "d", "c", "b", "a"]);
    const byTag = await sm.send(new ListSecretsCommand({ Filters: [...filters, { Key: "tag-value", Values: ["!a"] }] }));
    assert.equal(byTag.SecretList.length, 4);

    const batch = await sm.send(new BatchGetSecretValueCommand({ SecretIdList: [`${prefix}/a`, `${prefix}/zz`] }));
    assert.deepEqual(batch.SecretValues.map((v) => v.SecretString), ["value-a"]);
    assert.deepEqual(batch.Errors.map((e) => [e.SecretId, e.ErrorCode]), [[`${prefix}/zz`, "ResourceNotFoundException"]]);
    const byFilter = await sm.send(new BatchGetSecretValueCommand({ Filters: filters }));
    assert.equal(byFilter.SecretValues.length, 5);
  });
});

describe("authentication", () => {
  test("wrong secret key is refused", async () => {
    const bad = server.client({ credentials: { accessKeyId: "test", secretAccessKey: "wrong" } });
    const e = await errorOf(() => bad.send(new ListSecretsCommand({})));
    assert.equal(e.name, "InvalidSignatureException");
    bad.destroy();
  });

  test("unknown access key is refused", async () => {
    const bad = server.client({ credentials: { accessKeyId: "AKIANOBODY0000000000", secretAccessKey: "x" } });
    const e = await errorOf(() => bad.send(new ListSecretsCommand({})));
    assert.equal(e.name, "UnrecognizedClientException");
    bad.destroy();
  });

  test("a clock 10 minutes fast is corrected from the server's Date header", async () => {
    // The SDK learns the server's time from the Date header of the refused call and fixes its offset. Whether it
    // also retries that call depends on the SDK version (this one retries only when the corrected offset itself
    // is over 4 minutes, i.e. when the machine's real clock is off), so the first call may fail; the next works.
    const skewed = server.client({ systemClockOffset: 10 * 60 * 1000, maxAttempts: 3 });
    try {
      await skewed.send(new ListSecretsCommand({ MaxResults: 1 }));
    } catch (e) {
      assert.ok(["RequestExpired", "InvalidSignatureException"].includes(e.name), `${e.name}: ${e.message}`);
    }
    assert.ok(Math.abs(skewed.config.systemClockOffset) < 60_000,
      `offset after correction: ${skewed.config.systemClockOffset} ms`);
    const out = await skewed.send(new ListSecretsCommand({ MaxResults: 1 }));
    assert.ok(Array.isArray(out.SecretList));
    skewed.destroy();
  });

  test("a clock 10 minutes fast without retries fails with a clock-skew error", async () => {
    const skewed = server.client({ systemClockOffset: 10 * 60 * 1000, maxAttempts: 1 });
    const e = await errorOf(() => skewed.send(new ListSecretsCommand({})));
    assert.ok(["RequestExpired", "InvalidSignatureException"].includes(e.name), e.name);
    skewed.destroy();
  });

  test("regions are kept apart", async () => {
    const west = server.client({ region: "us-west-2" });
    const name = unique("west");
    const c = await west.send(new CreateSecretCommand({ Name: name, SecretString: "w" }));
    assert.match(c.ARN, /:us-west-2:/);
    await assertServiceError(() => sm.send(new GetSecretValueCommand({ SecretId: name })), "ResourceNotFoundException", NOT_FOUND);
    west.destroy();
  });
});
