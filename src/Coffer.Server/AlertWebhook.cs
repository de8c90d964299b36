using System.Text.Json;
using System.Text.Json.Serialization;
using System.Threading.Channels;
using Coffer.Core.Alerts;
using Coffer.Crypto;
using Microsoft.Extensions.Logging;

namespace Coffer.Server;

/// <summary>
/// Delivers alerts to the configured webhook: POST of a JSON body, signed in <c>X-Coffer-Signature</c>
/// (see <see cref="WebhookSignature"/>) with the time in <c>X-Coffer-Timestamp</c>. A delivery is retried
/// (0.5 s, 1 s, 2 s, 4 s) on a connection error or a non-2xx answer, then counted as failed. At most 1,000 alerts
/// wait; beyond that the oldest is dropped, so a dead receiver cannot grow memory.
/// </summary>
internal sealed partial class AlertWebhook : IAsyncDisposable
{
    private static readonly TimeSpan[] Backoff = [TimeSpan.FromMilliseconds(500), TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(2), TimeSpan.FromSeconds(4)];
    private readonly Uri _url;
    private readonly string _key;
    private readonly HttpClient _http = new() { Timeout = TimeSpan.FromSeconds(10) };
    private readonly Channel<Alert> _queue = Channel.CreateBounded<Alert>(new BoundedChannelOptions(1000) { FullMode = BoundedChannelFullMode.DropOldest, SingleReader = true });
    private readonly ILogger _log;
    private readonly ServerMetrics _metrics;
    private readonly TimeProvider _time;
    private readonly Task _loop;

    public AlertWebhook(Uri url, string key, ILogger log, ServerMetrics metrics, TimeProvider time)
    {
        _url = url;
        _key = key;
        _log = log;
        _metrics = metrics;
        _time = time;
        _loop = Task.Run(LoopAsync);
    }

    public void Enqueue(Alert alert) => _queue.Writer.TryWrite(alert);

    private async Task LoopAsync()
    {
        await foreach (var alert in _queue.Reader.ReadAllAsync().ConfigureAwait(false))
        {
            var body = JsonSerializer.SerializeToUtf8Bytes(new WebhookBody(alert.AlertId, alert.Rule, alert.Time, alert.Summary, alert.Principal, alert.Resource, alert.Details),
                WebhookJsonContext.Default.WebhookBody);
            var delivered = false;
            for (var attempt = 0; attempt <= Backoff.Length && !delivered; attempt++)
            {
                if (attempt > 0) await Task.Delay(Backoff[attempt - 1], _time).ConfigureAwait(false);
                try
                {
                    var timestamp = _time.GetUtcNow().ToUnixTimeSeconds();
                    using var request = new HttpRequestMessage(HttpMethod.Post, _url) { Content = new ByteArrayContent(body) };
                    request.Content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/json");
                    request.Headers.Add("X-Coffer-Timestamp", timestamp.ToString(System.Globalization.CultureInfo.InvariantCulture));
                    request.Headers.Add("X-Coffer-Signature", WebhookSignature.Sign(_key, timestamp, body));
                    request.Headers.Add("X-Coffer-Alert-Id", alert.AlertId);
                    using var response = await _http.SendAsync(request).ConfigureAwait(false);
                    delivered = response.IsSuccessStatusCode;
                }
                catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
                {
                    delivered = false;
                }
            }
            if (!delivered)
            {
                _metrics.WebhookFailures.Inc();
                LogUndelivered(_log, alert.Rule, alert.AlertId);
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        _queue.Writer.TryComplete();
        await Task.WhenAny(_loop, Task.Delay(TimeSpan.FromSeconds(2))).ConfigureAwait(false);
        _http.Dispose();
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Alert {Rule} ({AlertId}) could not be delivered to the webhook after retries")]
    private static partial void LogUndelivered(ILogger log, string rule, string alertId);
}

internal sealed record WebhookBody(string AlertId, string Rule, DateTimeOffset Time, string Summary, string? Principal, string? Resource, IReadOnlyDictionary<string, string>? Details);

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(WebhookBody))]
internal sealed partial class WebhookJsonContext : JsonSerializerContext;
