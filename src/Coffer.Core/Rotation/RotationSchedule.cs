using System.Globalization;
using System.Text.RegularExpressions;
using Coffer.Core.Secrets;
using Cronos;

namespace Coffer.Core.Rotation;

/// <summary>
/// A secret's rotation schedule (spec §4.1): <c>AutomaticallyAfterDays</c>, <c>rate()</c> or AWS's six-field
/// <c>cron()</c>, evaluated in UTC, plus the window <c>Duration</c>. Parsing applies Secrets Manager's rules
/// (minutes must be 0, year must be *, exactly one of day-of-month and day-of-week is ?, rate at least 4 hours,
/// window within one UTC day and shorter than the interval). Test schedules (<c>rate(N minutes)</c>) are
/// accepted only when the server was started with them allowed.
/// </summary>
public sealed partial class RotationSchedule
{
    private enum Kind { Days, Hours, Minutes, Cron }

    private readonly Kind _kind;
    private readonly int _count;
    private readonly CronExpression? _cron;

    private RotationSchedule(Kind kind, int count, CronExpression? cron, TimeSpan? duration)
    {
        _kind = kind;
        _count = count;
        _cron = cron;
        Duration = duration;
    }

    /// <summary>The window length given by the rules; null means the default for the schedule.</summary>
    public TimeSpan? Duration { get; }

    /// <summary>Days between rotations for interval schedules (what DescribeSecret shows as AutomaticallyAfterDays).</summary>
    public long? IntervalDays => _kind == Kind.Days ? _count : null;

    /// <summary>Validates <paramref name="rules"/>; throws the AWS error for the first problem.</summary>
    public static RotationSchedule Parse(RotationRules rules, bool allowTestSchedules = false)
    {
        TimeSpan? duration = null;
        if (rules.Duration is { } d)
        {
            Validation.Length(d, "rotationRules.duration", 2, 3);
            var m = DurationPattern().Match(d);
            if (!m.Success)
                throw Validation.Constraint(d, "rotationRules.duration", "Member must satisfy regular expression pattern: [0-9h]+");
            var hours = int.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture);
            if (hours is < 1 or > 24)
                throw ServiceException.InvalidParameter("The rotation window duration must be between 1 and 24 hours.");
            duration = TimeSpan.FromHours(hours);
        }
        if (rules.AutomaticallyAfterDays is { } days && rules.ScheduleExpression is not null)
            throw ServiceException.InvalidParameter("You can't specify both AutomaticallyAfterDays and ScheduleExpression in RotationRules.");
        if (rules.AutomaticallyAfterDays is { } n)
        {
            if (n is < 1 or > 1000)
                throw Validation.Constraint(n.ToString(CultureInfo.InvariantCulture), "rotationRules.automaticallyAfterDays",
                    n < 1 ? "Member must have value greater than or equal to 1" : "Member must have value less than or equal to 1000");
            return new RotationSchedule(Kind.Days, (int)n, null, duration);
        }
        if (rules.ScheduleExpression is not { } expression)
        {
            if (duration is not null)
                throw ServiceException.InvalidParameter("A rotation window Duration needs AutomaticallyAfterDays or ScheduleExpression.");
            throw ServiceException.InvalidParameter("RotationRules must contain AutomaticallyAfterDays or ScheduleExpression.");
        }
        Validation.Length(expression, "rotationRules.scheduleExpression", 1, 256);
        if (!ExpressionCharacters().IsMatch(expression))
            throw Validation.Constraint(expression, "rotationRules.scheduleExpression",
                "Member must satisfy regular expression pattern: [0-9A-Za-z\\(\\)#\\?\\*\\-\\/, ]+");

        var rate = RatePattern().Match(expression);
        if (rate.Success)
        {
            if (!int.TryParse(rate.Groups[1].Value, NumberStyles.None, CultureInfo.InvariantCulture, out var count) || count < 1)
                throw ServiceException.InvalidParameter("The rate() value must be a positive whole number.");
            var unit = rate.Groups[2].Value.ToLowerInvariant();
            var schedule = unit switch
            {
                "day" or "days" => new RotationSchedule(Kind.Days, count, null, duration),
                "hour" or "hours" => count >= 4
                    ? new RotationSchedule(Kind.Hours, count, null, duration)
                    : throw ServiceException.InvalidParameter("The schedule expression rate() must be at least 4 hours."),
                "minute" or "minutes" when allowTestSchedules => new RotationSchedule(Kind.Minutes, count, null, duration),
                _ => throw ServiceException.InvalidParameter(
                    "The rate() unit must be hour, hours, day or days."),
            };
            if (schedule._kind == Kind.Hours && duration > TimeSpan.FromHours(count))
                throw ServiceException.InvalidParameter("The rotation window can't be longer than the interval between rotations.");
            if (schedule._kind == Kind.Minutes && duration > TimeSpan.FromMinutes(count))
                throw ServiceException.InvalidParameter("The rotation window can't be longer than the interval between rotations.");
            return schedule;
        }
        var cron = CronPattern().Match(expression);
        if (cron.Success)
        {
            var parsed = ParseCron(cron.Groups[1].Value);
            var result = new RotationSchedule(Kind.Cron, 0, parsed, duration);
            result.CheckCronWindows();
            return result;
        }
        throw ServiceException.InvalidParameter("The schedule expression must be rate() or cron().");
    }

    /// <summary>
    /// The first rotation window that starts after <paramref name="from"/> (the last rotation, or the moment
    /// rotation was configured). Interval windows start at midnight UTC (hour schedules on the hour); the
    /// default length is the rest of the UTC day for daily schedules and one hour for hourly ones.
    /// </summary>
    public (DateTimeOffset Start, DateTimeOffset End) NextWindow(DateTimeOffset from)
    {
        from = from.ToUniversalTime();
        switch (_kind)
        {
            case Kind.Days:
            {
                var start = Midnight(from).AddDays(_count);
                return (start, start + (Duration ?? TimeSpan.FromDays(1)));
            }
            case Kind.Hours:
            {
                var start = new DateTimeOffset(from.Year, from.Month, from.Day, from.Hour, 0, 0, TimeSpan.Zero).AddHours(_count);
                return (start, Min(start + (Duration ?? TimeSpan.FromHours(1)), Midnight(start).AddDays(1)));
            }
            case Kind.Minutes:
            {
                var start = from.AddMinutes(_count);
                return (start, start + (Duration ?? TimeSpan.FromMinutes(_count)));
            }
            default:
            {
                var start = Occurrence(from);
                var endOfDay = Midnight(start).AddDays(1);
                var end = Duration is { } d ? start + d : Min(endOfDay, Occurrence(start));
                return (start, end);
            }
        }
    }

    private DateTimeOffset Occurrence(DateTimeOffset after)
    {
        var next = _cron!.GetNextOccurrence(after.UtcDateTime, inclusive: false)
            ?? throw ServiceException.InvalidParameter("The cron() expression never fires.");
        return new DateTimeOffset(next, TimeSpan.Zero);
    }

    /// <summary>A window may not reach past the end of its UTC day nor into the next window (spec §4.1).</summary>
    private void CheckCronWindows()
    {
        if (Duration is not { } d) return;
        var t = new DateTimeOffset(2000, 1, 1, 0, 0, 0, TimeSpan.Zero);
        for (var i = 0; i < 64; i++)
        {
            var start = _cron!.GetNextOccurrence(t.UtcDateTime, inclusive: false);
            if (start is null) return;
            var s = new DateTimeOffset(start.Value, TimeSpan.Zero);
            if (s + d > Midnight(s).AddDays(1))
                throw ServiceException.InvalidParameter("The rotation window can't extend past the end of the UTC day.");
            var next = _cron.GetNextOccurrence(start.Value, inclusive: false);
            if (next is not null && s + d > new DateTimeOffset(next.Value, TimeSpan.Zero))
                throw ServiceException.InvalidParameter("The rotation window can't overlap the next rotation window.");
            t = s;
        }
    }

    /// <summary>
    /// AWS cron: Minutes Hours Day-of-month Month Day-of-week Year, day-of-week 1-7 = SUN-SAT. Cronos takes the
    /// first five fields with day-of-week 0-6 = SUN-SAT, so numeric days of week shift down by one.
    /// </summary>
    internal static CronExpression ParseCron(string body)
    {
        var fields = body.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        if (fields.Length != 6)
            throw ServiceException.InvalidParameter("A cron() expression has six fields: minutes hours day-of-month month day-of-week year.");
        var (minutes, hours, dom, month, dow, year) = (fields[0], fields[1], fields[2], fields[3], fields[4], fields[5]);
        if (minutes != "0")
            throw ServiceException.InvalidParameter("The minutes field of a cron() rotation schedule must be 0.");
        if (year != "*")
            throw ServiceException.InvalidParameter("The year field of a cron() rotation schedule must be *.");
        if ((dom == "?") == (dow == "?"))
            throw ServiceException.InvalidParameter("Exactly one of the day-of-month and day-of-week fields must be ?.");
        string cronosDow;
        try { cronosDow = dow == "?" ? "?" : string.Join(',', dow.Split(',').Select(DayOfWeekItem)); }
        catch (FormatException) { throw ServiceException.InvalidParameter("The day-of-week field of the cron() expression is not valid."); }
        try
        {
            return CronExpression.Parse($"{minutes} {Steps(hours)} {Steps(dom)} {Steps(month)} {cronosDow}", CronFormat.Standard);
        }
        catch (CronFormatException)
        {
            throw ServiceException.InvalidParameter("The cron() expression is not valid.");
        }
    }

    /// <summary>AWS accepts "/8" for "every 8 from the start"; Cronos spells it "*/8".</summary>
    private static string Steps(string field) =>
        string.Join(',', field.Split(',').Select(item => item.StartsWith('/') ? "*" + item : item));

    private static readonly string[] DayNames = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];

    private static string DayOfWeekItem(string item)
    {
        if (item is "*" or "L") return item == "L" ? "6" : "*";
        if (item.StartsWith('/')) item = "*" + item;
        var step = "";
        var slash = item.IndexOf('/');
        if (slash >= 0) { step = item[slash..]; item = item[..slash]; }
        var hash = item.IndexOf('#');
        if (hash >= 0) return Day(item[..hash]) + item[hash..] + step;
        if (item.Length > 1 && item.EndsWith('L')) return Day(item[..^1]) + "L" + step;
        var dash = item.IndexOf('-');
        if (dash >= 0) return Day(item[..dash]) + "-" + Day(item[(dash + 1)..]) + step;
        return (item == "*" ? "*" : Day(item)) + step;
    }

    private static string Day(string value)
    {
        if (int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var n))
            return n is >= 1 and <= 7 ? (n - 1).ToString(CultureInfo.InvariantCulture) : throw new FormatException();
        var i = Array.IndexOf(DayNames, value.ToUpperInvariant());
        return i >= 0 ? i.ToString(CultureInfo.InvariantCulture) : throw new FormatException();
    }

    private static DateTimeOffset Midnight(DateTimeOffset t) => new(t.Year, t.Month, t.Day, 0, 0, 0, TimeSpan.Zero);

    private static DateTimeOffset Min(DateTimeOffset a, DateTimeOffset b) => a < b ? a : b;

    [GeneratedRegex(@"^([0-9]+)h$")]
    private static partial Regex DurationPattern();

    [GeneratedRegex(@"^[0-9A-Za-z\(\)#\?\*\-\/, ]+$")]
    private static partial Regex ExpressionCharacters();

    [GeneratedRegex(@"^rate\(\s*([0-9]+)\s+([A-Za-z]+)\s*\)$")]
    private static partial Regex RatePattern();

    [GeneratedRegex(@"^cron\((.*)\)$")]
    private static partial Regex CronPattern();
}
