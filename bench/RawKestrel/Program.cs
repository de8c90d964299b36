// The "raw Kestrel endpoint" of the issue-2 benchmark: the ceiling a Kestrel app can reach on this machine.
// GET / and POST / answer one fixed JSON body of about 200 bytes with the awsJson1_1 content type; the
// request body is read and dropped. Usage: raw-kestrel [--listen HOST:PORT] (default 127.0.0.1:8391).
using System.Text;

string listen = "127.0.0.1:8391";
for (int i = 0; i + 1 < args.Length; i += 2)
{
    if (args[i] == "--listen")
    {
        listen = args[i + 1];
    }
    else
    {
        Console.Error.WriteLine($"unknown option {args[i]}; usage: raw-kestrel [--listen HOST:PORT]");
        return 2;
    }
}

var builder = WebApplication.CreateBuilder(new WebApplicationOptions { Args = [] });
// Per-request logging would measure the console, not Kestrel; the Coffer server does not log each request either.
builder.Logging.ClearProviders();
builder.WebHost.UseUrls("http://" + listen);

var app = builder.Build();

byte[] body = Encoding.UTF8.GetBytes(
    """{"ARN":"arn:aws:secretsmanager:us-east-1:123456789012:secret:bench/raw-a1B2c3","Name":"bench/raw","SecretString":"raw-kestrel-baseline","VersionStages":["AWSCURRENT"],"CreatedDate":1735689600.0}""");

async Task Answer(HttpContext context)
{
    if (HttpMethods.IsPost(context.Request.Method))
    {
        await context.Request.Body.CopyToAsync(Stream.Null);
    }
    context.Response.ContentType = "application/x-amz-json-1.1";
    context.Response.ContentLength = body.Length;
    await context.Response.Body.WriteAsync(body);
}

app.MapGet("/", Answer);
app.MapPost("/", Answer);
Console.WriteLine($"raw-kestrel listening on http://{listen} (body {body.Length} bytes)");
await app.RunAsync();
return 0;
