using Coffer.Core;
using Coffer.Core.Rotation;
using Coffer.Core.Secrets;

namespace Coffer.Rotation.Tests;

/// <summary>rate()/cron()/AutomaticallyAfterDays parsing and windows (spec §4.1), all in UTC, no clock needed.</summary>
public sealed class RotationScheduleTests
{
    private static readonly DateTimeOffset T0 = new(2026, 3, 4, 13, 27, 0, TimeSpan.Zero); // a Wednesday

    private static RotationSchedule Parse(string? expression = null, long? days = null, string? duration = null, bool test = false) =>
        RotationSchedule.Parse(new RotationRules { ScheduleExpression = expression, AutomaticallyAfterDays = days, Duration = duration }, test);

    private static string Code(Action a) => Assert.Throws<ServiceException>(a).Code;

    [Fact]
    public void AutomaticallyAfterDays_window_is_the_whole_utc_day_n_days_later()
    {
        var (start, end) = Parse(days: 30).NextWindow(T0);
        Assert.Equal(new DateTimeOffset(2026, 4, 3, 0, 0, 0, TimeSpan.Zero), start);
        Assert.Equal(start.AddDays(1), end);
        Assert.Equal(30, Parse(days: 30).IntervalDays);
    }

    [Fact]
    public void Duration_shortens_the_window()
    {
        var (start, end) = Parse(days: 1, duration: "3h").NextWindow(T0);
        Assert.Equal(TimeSpan.FromHours(3), end - start);
    }

    [Theory]
    [InlineData("rate(10 days)", 10 * 24.0)]
    [InlineData("rate(1 day)", 24.0)]
    public void Rate_in_days_starts_at_midnight(string expression, double hours)
    {
        var (start, _) = Parse(expression).NextWindow(T0);
        Assert.Equal(new DateTimeOffset(2026, 3, 4, 0, 0, 0, TimeSpan.Zero).AddHours(hours), start);
    }

    [Fact]
    public void Rate_in_hours_starts_on_the_hour_and_lasts_an_hour()
    {
        var (start, end) = Parse("rate(4 hours)").NextWindow(T0);
        Assert.Equal(new DateTimeOffset(2026, 3, 4, 17, 0, 0, TimeSpan.Zero), start);
        Assert.Equal(start.AddHours(1), end);
    }

    [Theory]
    [InlineData("rate(3 hours)")]
    [InlineData("rate(1 minute)")]
    [InlineData("rate(0 days)")]
    [InlineData("rate(2 weeks)")]
    [InlineData("every day")]
    public void Bad_rates_are_refused(string expression) =>
        Assert.Equal("InvalidParameterException", Code(() => Parse(expression)));

    [Fact]
    public void Minute_rates_only_with_test_schedules()
    {
        var (start, end) = Parse("rate(1 minute)", test: true).NextWindow(T0);
        Assert.Equal(T0.AddMinutes(1), start);
        Assert.Equal(T0.AddMinutes(2), end);
    }

    [Fact]
    public void Cron_first_and_fifteenth_at_four_pm()
    {
        var s = Parse("cron(0 16 1,15 * ? *)");
        var (start, end) = s.NextWindow(T0);
        Assert.Equal(new DateTimeOffset(2026, 3, 15, 16, 0, 0, TimeSpan.Zero), start);
        Assert.Equal(new DateTimeOffset(2026, 3, 16, 0, 0, 0, TimeSpan.Zero), end); // rest of the UTC day
    }

    [Fact]
    public void Cron_day_of_week_is_one_based_sunday()
    {
        // AWS: 1 = SUN … 7 = SAT. MON-FRI and 2-6 are the same days.
        var named = Parse("cron(0 8 ? * MON-FRI *)").NextWindow(new DateTimeOffset(2026, 3, 6, 9, 0, 0, TimeSpan.Zero)).Start;
        var numbered = Parse("cron(0 8 ? * 2-6 *)").NextWindow(new DateTimeOffset(2026, 3, 6, 9, 0, 0, TimeSpan.Zero)).Start;
        Assert.Equal(new DateTimeOffset(2026, 3, 9, 8, 0, 0, TimeSpan.Zero), named); // Friday 09:00 → Monday 08:00
        Assert.Equal(named, numbered);
        var sunday = Parse("cron(0 1 ? * 1 *)").NextWindow(T0).Start;
        Assert.Equal(DayOfWeek.Sunday, sunday.DayOfWeek);
    }

    [Fact]
    public void Cron_nth_weekday_and_last_day()
    {
        var firstSunday = Parse("cron(0 1 ? 1/3 SUN#1 *)").NextWindow(T0).Start;
        Assert.Equal(new DateTimeOffset(2026, 4, 5, 1, 0, 0, TimeSpan.Zero), firstSunday);
        var thirdTuesday = Parse("cron(0 1 ? * 3#3 *)").NextWindow(T0).Start;
        Assert.Equal(new DateTimeOffset(2026, 3, 17, 1, 0, 0, TimeSpan.Zero), thirdTuesday);
        var last = Parse("cron(0 17 L * ? *)").NextWindow(T0).Start;
        Assert.Equal(new DateTimeOffset(2026, 3, 31, 17, 0, 0, TimeSpan.Zero), last);
    }

    [Fact]
    public void Cron_hour_increments_default_window_ends_at_the_next_occurrence()
    {
        var (start, end) = Parse("cron(0 /8 * * ? *)").NextWindow(T0);
        Assert.Equal(new DateTimeOffset(2026, 3, 4, 16, 0, 0, TimeSpan.Zero), start);
        Assert.Equal(new DateTimeOffset(2026, 3, 5, 0, 0, 0, TimeSpan.Zero), end);
    }

    [Theory]
    [InlineData("cron(5 16 * * ? *)")]          // minutes must be 0
    [InlineData("cron(0 16 * * ? 2026)")]       // year must be *
    [InlineData("cron(0 16 * * MON *)")]        // exactly one of day-of-month / day-of-week is ?
    [InlineData("cron(0 16 ? * ? *)")]
    [InlineData("cron(0 16 * *)")]              // six fields
    [InlineData("cron(0 25 * * ? *)")]          // hour out of range
    [InlineData("cron(0 1 ? * 8 *)")]           // day-of-week out of range
    public void Bad_cron_is_refused(string expression) =>
        Assert.Equal("InvalidParameterException", Code(() => Parse(expression)));

    [Fact]
    public void Window_may_not_pass_midnight_or_reach_the_next_window()
    {
        Assert.Equal("InvalidParameterException", Code(() => Parse("cron(0 22 * * ? *)", duration: "3h")));
        Assert.Equal("InvalidParameterException", Code(() => Parse("cron(0 /2 * * ? *)", duration: "3h")));
        Assert.Equal("InvalidParameterException", Code(() => Parse("rate(4 hours)", duration: "5h")));
        Parse("cron(0 20 * * ? *)", duration: "4h");
    }

    [Fact]
    public void Rule_shapes()
    {
        Assert.Equal("InvalidParameterException", Code(() => Parse("rate(1 day)", days: 1)));
        Assert.Equal("ValidationException", Code(() => Parse(days: 0)));
        Assert.Equal("ValidationException", Code(() => Parse(days: 1001)));
        Assert.Equal("ValidationException", Code(() => Parse(days: 1, duration: "3")));
        Assert.Equal("ValidationException", Code(() => Parse(days: 1, duration: "100h")));
        Assert.Equal("InvalidParameterException", Code(() => Parse(days: 1, duration: "25h")));
        Assert.Equal("ValidationException", Code(() => Parse("rate(1 day);")));
    }

    [Fact]
    public void Next_occurrence_is_monotonic()
    {
        var s = Parse("cron(0 2/10 ? * MON-FRI *)");
        var t = T0;
        for (var i = 0; i < 200; i++)
        {
            var (start, end) = s.NextWindow(t);
            Assert.True(start > t);
            Assert.True(end > start);
            t = start;
        }
    }
}
