using System.Collections.Concurrent;
using Coffer.Core.Rotation;

namespace Coffer.Rotation;

/// <summary>
/// The rotation functions of this server, by function name. RotationLambdaARN may be a Lambda ARN
/// (<c>arn:aws:lambda:REGION:ACCOUNT:function:NAME</c>, any region and account) or the bare NAME. The built-in
/// database rotators are registered by <see cref="BuiltInRotators.Register"/>; custom functions register here too.
/// </summary>
public sealed class RotationFunctionCatalog : IRotationFunctionCatalog
{
    private readonly ConcurrentDictionary<string, IRotationFunction> _functions = new(StringComparer.Ordinal);

    public void Register(string name, IRotationFunction function) => _functions[name] = function;

    public IEnumerable<string> Names => _functions.Keys.Order(StringComparer.Ordinal);

    /// <summary>
    /// Consulted when no registered function has the name: the functions stored through the Lambda API
    /// (Coffer.Functions' FunctionRotations.Find, given the RotationLambdaARN as written). Null: none.
    /// </summary>
    public Func<string, IRotationFunction?>? Fallback { get; set; }

    public IRotationFunction? Find(string rotationLambdaArn)
    {
        var name = RotationFunctionNames.Of(rotationLambdaArn);
        if (name.Length > 0 && _functions.TryGetValue(name, out var f)) return f;
        return name.Length > 0 ? Fallback?.Invoke(rotationLambdaArn) : null;
    }
}
