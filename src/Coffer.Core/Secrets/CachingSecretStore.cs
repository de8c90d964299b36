using System.Collections.Concurrent;

namespace Coffer.Core.Secrets;

/// <summary>
/// A read-through cache in front of an <see cref="ISecretStore"/>: secrets looked up by name or full ARN, and
/// sealed value blobs. It holds no plaintext (blobs stay sealed; the service opens them per read).
///
/// Freshness rule: a read never returns state older than a write whose task had completed when the read
/// started. Every write goes through <see cref="WriteAsync{T}"/>, which records the secrets the transaction
/// touched and, once the store's task has completed (committed or not), bumps a generation counter for each.
/// A cache entry remembers the generations it was loaded under, read *before* the load; it is served only while
/// they are unchanged. So an entry loaded before a write committed is dead as soon as that write is acknowledged,
/// and a load that raced with a write can at worst store an entry that is already dead (a miss, never a stale hit).
/// Writes made to the database by anything other than this object (another process) are not seen: Coffer has
/// one server per data directory.
///
/// Generations are striped (secret by region + name, blobs by secret id) so that writes to other secrets do
/// not empty the cache; a write whose secret cannot be named bumps the global generation, which kills everything.
/// Handed-out secrets are clones, as the <see cref="ISecretStore"/> contract promises private copies.
/// </summary>
internal sealed class CachingSecretStore(ISecretStore inner, int maxSecrets = CachingSecretStore.DefaultMaxSecrets,
    long maxBlobBytes = CachingSecretStore.DefaultMaxBlobBytes) : ISecretStore
{
    public const int DefaultMaxSecrets = 20_000;
    public const long DefaultMaxBlobBytes = 64L * 1024 * 1024;
    private const int Stripes = 4096; // a power of two

    private sealed record SecretEntry(Secret Secret, int Stripe, long Generation, long Global);

    private sealed record BlobEntry(byte[] Blob, int Stripe, long Generation, long Global);

    private readonly long[] _secretGenerations = new long[Stripes];
    private readonly long[] _blobGenerations = new long[Stripes];
    private long _global;
    private long _blobBytes;
    private readonly ConcurrentDictionary<(string Region, string Name), SecretEntry> _byName = new();
    private readonly ConcurrentDictionary<string, SecretEntry> _byArn = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<(long SecretId, string VersionId), BlobEntry> _blobs = new();
    // Secret id → (region, name), learned from reads and writes, so that writes naming only an id find their stripe.
    private readonly ConcurrentDictionary<long, (string Region, string Name)> _names = new();

    public ISecretStore Inner => inner;

    // ---- reads ----

    public async Task<Secret?> FindByNameAsync(string region, string name, CancellationToken ct)
    {
        var stripe = SecretStripe(region, name);
        if (_byName.TryGetValue((region, name), out var hit) && IsLive(hit.Stripe, hit.Generation, hit.Global, _secretGenerations))
            return hit.Secret.Clone();
        var generation = Volatile.Read(ref _secretGenerations[stripe]);
        var global = Volatile.Read(ref _global);
        var secret = await inner.FindByNameAsync(region, name, ct).ConfigureAwait(false);
        if (secret is not null && secret.Region == region && secret.Name == name)
        {
            Learn(secret);
            if (_byName.Count >= maxSecrets) _byName.Clear();
            _byName[(region, name)] = new SecretEntry(secret.Clone(), stripe, generation, global);
        }
        return secret;
    }

    public async Task<Secret?> FindByArnAsync(string arn, CancellationToken ct)
    {
        // A secret's ARN is its region and name plus "-" and six characters (SecretArn.Create); an ARN of another
        // shape matches no secret this service created, so it is passed through uncached.
        if (!SecretArn.TryParse(arn, out var region, out _, out var resource) || !SecretArn.HasSuffix(resource))
            return await inner.FindByArnAsync(arn, ct).ConfigureAwait(false);
        var name = resource[..^7];
        var stripe = SecretStripe(region, name);
        if (_byArn.TryGetValue(arn, out var hit) && IsLive(hit.Stripe, hit.Generation, hit.Global, _secretGenerations))
            return hit.Secret.Clone();
        var generation = Volatile.Read(ref _secretGenerations[stripe]);
        var global = Volatile.Read(ref _global);
        var secret = await inner.FindByArnAsync(arn, ct).ConfigureAwait(false);
        if (secret is not null && secret.Arn == arn && secret.Region == region && secret.Name == name)
        {
            Learn(secret);
            if (_byArn.Count >= maxSecrets) _byArn.Clear();
            _byArn[arn] = new SecretEntry(secret.Clone(), stripe, generation, global);
        }
        return secret;
    }

    public async Task<byte[]?> ReadBlobAsync(long secretId, string versionId, CancellationToken ct)
    {
        var stripe = BlobStripe(secretId);
        if (_blobs.TryGetValue((secretId, versionId), out var hit) && IsLive(hit.Stripe, hit.Generation, hit.Global, _blobGenerations))
            return hit.Blob;
        var generation = Volatile.Read(ref _blobGenerations[stripe]);
        var global = Volatile.Read(ref _global);
        var blob = await inner.ReadBlobAsync(secretId, versionId, ct).ConfigureAwait(false);
        if (blob is not null && blob.Length <= maxBlobBytes / 64)
        {
            if (Interlocked.Add(ref _blobBytes, blob.Length) > maxBlobBytes)
            {
                _blobs.Clear();
                Interlocked.Exchange(ref _blobBytes, blob.Length);
            }
            _blobs[(secretId, versionId)] = new BlobEntry(blob, stripe, generation, global);
        }
        // Callers get the cached array itself: blobs are ciphertext and nobody writes into one.
        return blob;
    }

    public Task<IReadOnlyList<Secret>> ListAsync(string region, CancellationToken ct) => inner.ListAsync(region, ct);

    public Task<IReadOnlyList<Secret>> ListDueForPurgeAsync(DateTimeOffset now, CancellationToken ct) => inner.ListDueForPurgeAsync(now, ct);

    public Task<IReadOnlyList<Secret>> ListRotatingAsync(CancellationToken ct) => inner.ListRotatingAsync(ct);

    // ---- writes ----

    public async Task<T> WriteAsync<T>(Func<ISecretTransaction, T> work, CancellationToken ct)
    {
        var touched = new Touched();
        try
        {
            return await inner.WriteAsync(tx => work(new RecordingTransaction(tx, touched)), ct).ConfigureAwait(false);
        }
        finally
        {
            // After the store's task completed: the changes (if any) are durable and visible to new reads.
            Invalidate(touched);
        }
    }

    /// <summary>Drops everything (e.g. after the database was changed behind the store's back).</summary>
    public void Clear() => Interlocked.Increment(ref _global);

    private void Invalidate(Touched touched)
    {
        lock (touched)
        {
            foreach (var (region, name) in touched.Names) Interlocked.Increment(ref _secretGenerations[SecretStripe(region, name)]);
            foreach (var id in touched.Ids)
            {
                Interlocked.Increment(ref _blobGenerations[BlobStripe(id)]);
                if (_names.TryGetValue(id, out var key)) Interlocked.Increment(ref _secretGenerations[SecretStripe(key.Region, key.Name)]);
                else if (!touched.NamedIds.Contains(id)) Interlocked.Increment(ref _global);
            }
            foreach (var id in touched.Purged) _names.TryRemove(id, out _);
        }
    }

    private bool IsLive(int stripe, long generation, long global, long[] generations) =>
        Volatile.Read(ref generations[stripe]) == generation && Volatile.Read(ref _global) == global;

    private void Learn(Secret secret)
    {
        if (secret.Id == 0) return;
        if (_names.Count >= maxSecrets * 4) _names.Clear();
        _names.TryAdd(secret.Id, (secret.Region, secret.Name));
    }

    private static int SecretStripe(string region, string name) =>
        HashCode.Combine(StringComparer.Ordinal.GetHashCode(region), StringComparer.Ordinal.GetHashCode(name)) & (Stripes - 1);

    private static int BlobStripe(long secretId) => (int)((ulong)secretId * 0x9E3779B97F4A7C15UL >> 52) & (Stripes - 1);

    /// <summary>What one transaction touched. Filled on the store's writer, read after its task completed.</summary>
    private sealed class Touched
    {
        public readonly HashSet<(string, string)> Names = [];
        public readonly HashSet<long> Ids = [];
        public readonly HashSet<long> NamedIds = [];
        public readonly List<long> Purged = [];

        public void Secret(Secret secret)
        {
            lock (this)
            {
                Names.Add((secret.Region, secret.Name));
                if (secret.Id != 0) { Ids.Add(secret.Id); NamedIds.Add(secret.Id); }
            }
        }

        public void Id(long id, bool purged = false)
        {
            lock (this)
            {
                Ids.Add(id);
                if (purged) Purged.Add(id);
            }
        }
    }

    /// <summary>Passes every call through, noting which secrets the work read and wrote.</summary>
    private sealed class RecordingTransaction(ISecretTransaction tx, Touched touched) : ISecretTransaction
    {
        // Secrets the work looked up: a later write naming only an id is attributed by these.
        private readonly Dictionary<long, Secret> _seen = [];

        public Secret? FindByArn(string arn) => Seen(tx.FindByArn(arn));

        public Secret? FindByName(string region, string name) => Seen(tx.FindByName(region, name));

        public byte[]? ReadBlob(long secretId, string versionId) => tx.ReadBlob(secretId, versionId);

        public void InsertSecret(Secret secret)
        {
            tx.InsertSecret(secret);
            touched.Secret(secret);
        }

        public void UpdateSecret(Secret secret)
        {
            touched.Secret(secret);
            tx.UpdateSecret(secret);
        }

        public void UpsertVersion(long secretId, SecretVersion version, byte[]? blob)
        {
            Note(secretId);
            tx.UpsertVersion(secretId, version, blob);
        }

        public void DeleteVersion(long secretId, string versionId)
        {
            Note(secretId);
            tx.DeleteVersion(secretId, versionId);
        }

        public void PurgeSecret(long secretId)
        {
            Note(secretId, purged: true);
            tx.PurgeSecret(secretId);
        }

        private void Note(long secretId, bool purged = false)
        {
            if (_seen.TryGetValue(secretId, out var secret)) touched.Secret(secret);
            touched.Id(secretId, purged);
        }

        private Secret? Seen(Secret? secret)
        {
            if (secret is not null && secret.Id != 0) _seen.TryAdd(secret.Id, secret);
            return secret;
        }
    }
}
