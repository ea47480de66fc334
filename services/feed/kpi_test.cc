#include "services/feed/kpi.h"

#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace smartby::feed {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

KpiExpression MustParse(const std::string& text) {
  absl::StatusOr<KpiExpression> expression = ParseKpi(text);
  EXPECT_TRUE(expression.ok()) << text << ": " << expression.status();
  if (!expression.ok()) return *ParseKpi("count()");
  return *expression;
}

// The value of `text` over `latest`; fails the test when it does not parse or evaluate.
double Eval(const std::string& text, const std::vector<SourceValues>& latest) {
  absl::StatusOr<double> value = MustParse(text).Evaluate(latest);
  EXPECT_TRUE(value.ok()) << text << ": " << value.status();
  return value.ok() ? *value : std::nan("");
}

// The error message of a text that must not parse.
std::string ParseError(const std::string& text) {
  absl::StatusOr<KpiExpression> expression = ParseKpi(text);
  EXPECT_FALSE(expression.ok()) << text << " parsed as " << expression->ToString();
  if (expression.ok()) return "";
  EXPECT_EQ(expression.status().code(), absl::StatusCode::kInvalidArgument);
  return std::string(expression.status().message());
}

// Three parking garages; one has not reported free_spaces yet.
const std::vector<SourceValues>& Garages() {
  static const auto* garages = new std::vector<SourceValues>{
      {{"free_spaces", 120}, {"capacity", 400}},
      {{"free_spaces", 35}, {"capacity", 150}},
      {{"capacity", 90}},
  };
  return *garages;
}

// Five waste containers; the last has no fill_level.
const std::vector<SourceValues>& Containers() {
  static const auto* containers = new std::vector<SourceValues>{
      {{"fill_level", 10}, {"battery", 90}},
      {{"fill_level", 85}, {"battery", 5}},
      {{"fill_level", 100}, {"battery", 60}},
      {{"fill_level", 80}, {"battery", 70}},
      {{"battery", 50}},
  };
  return *containers;
}

// ---- The examples from the issue ----

TEST(KpiEvaluate, SumOfFreeSpacesSkipsSourcesWithoutTheField) {
  EXPECT_EQ(Eval("sum(free_spaces)", Garages()), 155);  // 120 + 35
}

TEST(KpiEvaluate, ShareIsOverSourcesThatReportTheField) {
  // Over 80: 85 and 100 (80 itself is not over); 4 containers report fill_level.
  EXPECT_DOUBLE_EQ(Eval("share(fill_level > 80)", Containers()), 0.5);
  EXPECT_DOUBLE_EQ(Eval("100 * share(fill_level > 80)", Containers()), 50);
}

TEST(KpiEvaluate, AvgMinMax) {
  const std::vector<SourceValues> beaches = {
      {{"water_temp", 17.5}}, {{"water_temp", 19.0}}, {{"water_temp", 14.5}}, {{"air", 20}}};
  EXPECT_DOUBLE_EQ(Eval("avg(water_temp)", beaches), 17.0);  // 51 / 3
  EXPECT_EQ(Eval("min(water_temp)", beaches), 14.5);
  EXPECT_EQ(Eval("max(water_temp)", beaches), 19.0);
}

TEST(KpiEvaluate, CountWithoutArgumentCountsSourcesWithAnyValue) {
  std::vector<SourceValues> sources = Containers();
  sources.push_back({});  // registered, never reported
  EXPECT_EQ(Eval("count()", sources), 5);
}

TEST(KpiEvaluate, CountWithConditionOrField) {
  EXPECT_EQ(Eval("count(fill_level >= 100)", Containers()), 1);
  EXPECT_EQ(Eval("count(fill_level >= 80)", Containers()), 3);
  EXPECT_EQ(Eval("count(fill_level)", Containers()), 4);
  EXPECT_EQ(Eval("count(fill_level > 1000)", Containers()), 0);
}

TEST(KpiEvaluate, AndOrNotInConditions) {
  // Over 80 and battery below 10: only the second container.
  EXPECT_EQ(Eval("count(fill_level > 80 and battery < 10)", Containers()), 1);
  // Over 90 or battery below 10: 85/5 and 100/60.
  EXPECT_EQ(Eval("count(fill_level > 90 or battery < 10)", Containers()), 2);
  // Not over 80: 10 and 80.
  EXPECT_EQ(Eval("count(not fill_level > 80)", Containers()), 2);
  EXPECT_EQ(Eval("count(fill_level == 80)", Containers()), 1);
  EXPECT_EQ(Eval("count(fill_level != 80)", Containers()), 3);
  EXPECT_EQ(Eval("count(fill_level <= 80)", Containers()), 2);
  // Arithmetic inside the condition: free share below 25 %: 35/150 = 0.233.
  EXPECT_EQ(Eval("count(free_spaces / capacity < 0.25)", Garages()), 1);
}

TEST(KpiEvaluate, AndBindsTighterThanOr) {
  // a or (b and c): 10/90 -> false or (..) ; 85/5 -> true; 100/60 -> true; 80/70 -> false.
  EXPECT_EQ(Eval("count(fill_level > 80 or fill_level < 50 and battery < 10)", Containers()), 2);
  // (a or b) and c: only 85/5 has battery < 10.
  EXPECT_EQ(Eval("count((fill_level > 80 or fill_level < 50) and battery < 10)", Containers()), 1);
}

TEST(KpiEvaluate, ConditionMissingAFieldSkipsTheSource) {
  // The garage without free_spaces counts neither for nor against the share.
  EXPECT_DOUBLE_EQ(Eval("share(free_spaces > 50 or capacity > 0)", Garages()), 1.0);
  EXPECT_EQ(Eval("count(free_spaces > 50 or capacity > 0)", Garages()), 2);
}

TEST(KpiEvaluate, ArithmeticPrecedenceAndParentheses) {
  const std::vector<SourceValues> none;
  EXPECT_EQ(Eval("1 + 2 * 3", none), 7);
  EXPECT_EQ(Eval("(1 + 2) * 3", none), 9);
  EXPECT_EQ(Eval("10 - 4 - 3", none), 3);  // left-associative
  EXPECT_EQ(Eval("10 - (4 - 3)", none), 9);
  EXPECT_EQ(Eval("24 / 4 / 2", none), 3);
  EXPECT_EQ(Eval("-2 * 3 + 10", none), 4);
  EXPECT_EQ(Eval("2 * -3", none), -6);
  EXPECT_EQ(Eval("--4", none), 4);
  EXPECT_DOUBLE_EQ(Eval("0.5 + 1.25", none), 1.75);
}

TEST(KpiEvaluate, ArithmeticOverAggregates) {
  // Occupancy in per cent: 100 * (1 - 155 / 640); the third garage adds capacity only.
  EXPECT_DOUBLE_EQ(Eval("100 * (1 - sum(free_spaces) / sum(capacity))", Garages()),
                   100.0 * (1.0 - 155.0 / 640.0));
  EXPECT_EQ(Eval("max(fill_level) - min(fill_level)", Containers()), 90);
  EXPECT_DOUBLE_EQ(Eval("sum(free_spaces / capacity)", Garages()), 120.0 / 400 + 35.0 / 150);
}

// ---- Undefined values ----

TEST(KpiEvaluate, EmptyAggregateIsFailedPreconditionNamingTheField) {
  absl::StatusOr<double> value = MustParse("avg(water_temp)").Evaluate(Garages());
  ASSERT_EQ(value.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(value.status().message(),
            "at column 1: avg(water_temp) has no values: no source has a value for water_temp");

  for (const char* text : {"sum(x)", "min(x)", "max(x)", "share(x > 1)"}) {
    EXPECT_EQ(MustParse(text).Evaluate(Garages()).status().code(),
              absl::StatusCode::kFailedPrecondition)
        << text;
  }
  EXPECT_THAT(MustParse("2 * sum(x)").Evaluate({}).status().message(),
              HasSubstr("at column 5: sum(x) has no values: there are no sources"));
}

TEST(KpiEvaluate, CountOfNothingIsZero) {
  EXPECT_EQ(Eval("count()", {}), 0);
  EXPECT_EQ(Eval("count(x > 1)", Garages()), 0);
}

TEST(KpiEvaluate, DivisionByZeroBetweenAggregatesIsFailedPrecondition) {
  absl::StatusOr<double> value =
      MustParse("sum(free_spaces) / count(free_spaces > 1000)").Evaluate(Garages());
  ASSERT_EQ(value.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(value.status().message(), "at column 18: division by zero");
}

TEST(KpiEvaluate, DivisionByZeroInsideAnAggregateSkipsTheSource) {
  const std::vector<SourceValues> sources = {{{"a", 6}, {"b", 3}}, {{"a", 1}, {"b", 0}}};
  EXPECT_EQ(Eval("sum(a / b)", sources), 2);
  EXPECT_EQ(Eval("count(a / b > 0)", sources), 1);
  absl::StatusOr<double> all_zero = MustParse("avg(a / b)").Evaluate({{{"a", 1}, {"b", 0}}});
  EXPECT_THAT(all_zero.status().message(), HasSubstr("undefined for every source"));
}

TEST(KpiEvaluate, NonFiniteInputValuesAreSkipped) {
  const std::vector<SourceValues> sources = {{{"x", 1}}, {{"x", std::nan("")}}, {{"x", INFINITY}}};
  EXPECT_EQ(Eval("sum(x)", sources), 1);
  EXPECT_EQ(Eval("count(x)", sources), 1);
}

TEST(KpiEvaluate, OverflowIsFailedPrecondition) {
  const std::vector<SourceValues> sources = {{{"x", 1e308}}, {{"x", 1e308}}};
  EXPECT_EQ(MustParse("sum(x)").Evaluate(sources).status().code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST(KpiEvaluate, DefaultConstructedExpressionIsEmpty) {
  const KpiExpression empty;
  EXPECT_EQ(empty.Evaluate(Garages()).status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(empty.ToString(), "");
  EXPECT_THAT(empty.fields(), IsEmpty());
}

// ---- fields() ----

TEST(KpiFields, SortedAndUnique) {
  EXPECT_THAT(MustParse("sum(free_spaces) / sum(capacity) + max(free_spaces)").fields(),
              ElementsAre("capacity", "free_spaces"));
  EXPECT_THAT(MustParse("count(fill_level > 80 and battery < 10)").fields(),
              ElementsAre("battery", "fill_level"));
  EXPECT_THAT(MustParse("count()").fields(), IsEmpty());
  EXPECT_THAT(MustParse("1 + 2").fields(), IsEmpty());
}

TEST(KpiFields, FunctionNamesWithoutParenthesesAreFields) {
  EXPECT_THAT(MustParse("sum(count)").fields(), ElementsAre("count"));
}

// ---- ToString ----

TEST(KpiToString, CanonicalSpacingAndFewestParentheses) {
  EXPECT_EQ(MustParse("100*share( fill_level>80 )").ToString(), "100 * share(fill_level > 80)");
  EXPECT_EQ(MustParse("((1 + 2)) * (3)").ToString(), "(1 + 2) * 3");
  EXPECT_EQ(MustParse("1 + (2 * 3)").ToString(), "1 + 2 * 3");
  EXPECT_EQ(MustParse("(1 - 2) - 3").ToString(), "1 - 2 - 3");
  EXPECT_EQ(MustParse("1 - (2 - 3)").ToString(), "1 - (2 - 3)");
  EXPECT_EQ(MustParse("-(1 + 2)").ToString(), "-(1 + 2)");
  EXPECT_EQ(MustParse("count((a > 1 and b > 1) or c > 1)").ToString(),
            "count(a > 1 and b > 1 or c > 1)");
  EXPECT_EQ(MustParse("count(a > 1 and (b > 1 or c > 1))").ToString(),
            "count(a > 1 and (b > 1 or c > 1))");
  EXPECT_EQ(MustParse("count(not (a > 1))").ToString(), "count(not a > 1)");
  EXPECT_EQ(MustParse("count()").ToString(), "count()");
}

TEST(KpiToString, NumbersInShortestForm) {
  EXPECT_EQ(MustParse("080.500").ToString(), "80.5");
  EXPECT_EQ(MustParse("0.1").ToString(), "0.1");
  EXPECT_EQ(MustParse("100000000000000000000").ToString(), "100000000000000000000");
}

TEST(KpiToString, ParsesBackToTheSameText) {
  for (const char* text :
       {"sum(free_spaces)", "100 * share(fill_level > 80)", "avg(water_temp)",
        "count(fill_level >= 100)", "-(sum(a) - -min(b)) / (2 - 0.25)",
        "count(not (a > 1 or b < 2) and c != 3)", "max(a * (b + c)) - min(a) * 0.001"}) {
    const std::string canonical = MustParse(text).ToString();
    EXPECT_EQ(MustParse(canonical).ToString(), canonical) << text;
  }
}

// ---- Errors, with positions ----

TEST(KpiParseErrors, UnbalancedParentheses) {
  EXPECT_EQ(ParseError("sum(free_spaces"),
            "at column 16: expected ')' to close sum( at column 4, found the end of the "
            "expression");
  EXPECT_EQ(ParseError("(1 + 2"),
            "at column 7: expected ')' to close the '(' at column 1, found the end of the "
            "expression");
  EXPECT_EQ(ParseError("sum(x))"), "at column 7: ')' without a matching '('");
  EXPECT_EQ(ParseError("sum(a, b)"),
            "at column 6: expected ')' to close sum( at column 4, found ','");
}

TEST(KpiParseErrors, UnknownFunction) {
  EXPECT_EQ(ParseError("2 * median(x)"),
            "at column 5: unknown function 'median'; expected one of avg, count, max, min, "
            "share, sum");
}

TEST(KpiParseErrors, AggregateInsideAggregate) {
  EXPECT_EQ(ParseError("avg(x + sum(y))"),
            "at column 9: aggregate 'sum' cannot be inside another aggregate ('avg' at column 1)");
}

TEST(KpiParseErrors, ComparisonOutsideShareOrCount) {
  EXPECT_THAT(ParseError("sum(x) > 3"),
              HasSubstr("at column 8: comparison '>' is only allowed in the condition of "
                        "share(...) or count(...)"));
  EXPECT_THAT(ParseError("sum(x > 3)"), HasSubstr("at column 7: comparison '>'"));
  EXPECT_THAT(ParseError("avg(x) + count(a > 1) and 1"), HasSubstr("at column 23: 'and'"));
  EXPECT_THAT(ParseError("not 1"), HasSubstr("at column 1: 'not'"));
}

TEST(KpiParseErrors, FieldOutsideAggregate) {
  EXPECT_EQ(ParseError("free_spaces + 1"),
            "at column 1: field 'free_spaces' must be inside an aggregate such as "
            "sum(free_spaces) or avg(free_spaces): a dataset has many sources");
}

TEST(KpiParseErrors, WrongKindOfArgument) {
  EXPECT_THAT(ParseError("share(fill_level)"),
              HasSubstr("at column 1: share(...) takes a condition"));
  EXPECT_THAT(ParseError("sum()"), HasSubstr("at column 5: sum() needs an argument"));
  EXPECT_THAT(ParseError("count(a > 1 and b)"), HasSubstr("at column 13: 'and' needs conditions"));
  EXPECT_THAT(ParseError("count((a > 1) + 1 > 0)"), HasSubstr("at column 15: '+' needs numbers"));
  EXPECT_THAT(ParseError("count(a < b < c)"),
              HasSubstr("at column 13: comparisons cannot be chained"));
}

TEST(KpiParseErrors, BadTokens) {
  EXPECT_THAT(ParseError("count(a = 1)"), HasSubstr("at column 9: unexpected '='"));
  EXPECT_THAT(ParseError("1."), HasSubstr("at column 3: expected a digit after the decimal"));
  EXPECT_THAT(ParseError(".5"), HasSubstr("at column 1: unexpected '.'"));
  EXPECT_THAT(ParseError("1 + "), HasSubstr("at column 5: expected a number"));
  EXPECT_THAT(ParseError("1 2"), HasSubstr("at column 3: expected an operator"));
  EXPECT_THAT(ParseError(""), HasSubstr("at column 1: expected an expression"));
  EXPECT_THAT(ParseError("sum(x) + and"), HasSubstr("at column 10: expected a number"));
  // Columns count characters, not bytes: 'ø' is two bytes.
  EXPECT_EQ(ParseError("sum(ø)"), "at column 5: unexpected character 'ø'");
  EXPECT_EQ(ParseError("count(x ≥ 1)"), "at column 9: unexpected character '≥'");
  EXPECT_EQ(ParseError(std::string("1 +\x01")), "at column 4: unexpected character byte 0x01");
  EXPECT_THAT(ParseError("1" + std::string(400, '0')), HasSubstr("is too large"));
}

TEST(KpiParseErrors, TooLong) {
  std::string text = "sum(x)";
  while (text.size() <= kMaxKpiLength) text += " + sum(x)";
  EXPECT_THAT(ParseError(text), HasSubstr("at column 1025: expression too long"));
}

TEST(KpiParseErrors, TooLongOnceWrittenCanonically) {
  // 1 KiB as typed, but spaces around every '+' make it about 2 KiB.
  std::string text = "1";
  while (text.size() + 2 <= kMaxKpiLength) text += "+1";
  EXPECT_THAT(ParseError(text), HasSubstr("written canonically"));
}

TEST(KpiParseErrors, TooDeep) {
  const std::string ok = std::string(kMaxKpiNesting, '(') + "1" + std::string(kMaxKpiNesting, ')');
  EXPECT_TRUE(ParseKpi(ok).ok());
  const std::string deep =
      std::string(kMaxKpiNesting + 1, '(') + "1" + std::string(kMaxKpiNesting + 1, ')');
  EXPECT_EQ(ParseError(deep),
            "at column 33: nested too deeply (at most 32 levels of parentheses, '-' and 'not')");
  EXPECT_THAT(ParseError(std::string(100, '-') + "1"), HasSubstr("nested too deeply"));
  std::string nots = "count(";
  for (int i = 0; i < 40; ++i) nots += "not ";
  EXPECT_THAT(ParseError(nots + "x > 1)"), HasSubstr("nested too deeply"));
}

TEST(KpiParseErrors, HostileInputIsRefusedNotCrashed) {
  // A 1 KiB wall of '(' must give an error, not exhaust the stack.
  EXPECT_THAT(ParseError(std::string(kMaxKpiLength, '(')), HasSubstr("nested too deeply"));
}

// Random token soup: every text either parses, round-trips through ToString and evaluates
// without crashing, or is refused with a positioned INVALID_ARGUMENT.
TEST(KpiParseErrors, RandomInputIsParsedOrRefusedWithAPosition) {
  const std::vector<std::string> pieces = {
      "sum(", "avg(", "count(", "share(", "max(", "x",  "y",     "1",    "0.5",  "+", "-", "*",
      "/",    "(",    ")",      ">",      "<=",   "==", " and ", " or ", "not ", " ", "0"};
  const std::vector<SourceValues> sources = {{{"x", 1}, {"y", 0}}, {{"x", 3}}, {}};
  std::mt19937 random(1);
  int parsed = 0;
  for (int i = 0; i < 20000; ++i) {
    std::string text;
    const int length = 1 + static_cast<int>(random() % 12);
    for (int j = 0; j < length; ++j) text += pieces[random() % pieces.size()];
    absl::StatusOr<KpiExpression> expression = ParseKpi(text);
    if (!expression.ok()) {
      EXPECT_EQ(expression.status().code(), absl::StatusCode::kInvalidArgument) << text;
      EXPECT_TRUE(absl::StartsWith(expression.status().message(), "at column ")) << text;
      continue;
    }
    ++parsed;
    const std::string canonical = expression->ToString();
    absl::StatusOr<KpiExpression> again = ParseKpi(canonical);
    ASSERT_TRUE(again.ok()) << text << " -> " << canonical << ": " << again.status();
    EXPECT_EQ(again->ToString(), canonical) << text;
    absl::StatusOr<double> value = expression->Evaluate(sources);
    if (value.ok()) {
      EXPECT_TRUE(std::isfinite(*value)) << text;
      absl::StatusOr<double> value_again = again->Evaluate(sources);
      ASSERT_TRUE(value_again.ok()) << canonical;
      EXPECT_EQ(*value, *value_again) << text << " -> " << canonical;
    } else {
      EXPECT_EQ(value.status().code(), absl::StatusCode::kFailedPrecondition) << text;
    }
  }
  EXPECT_GT(parsed, 100);  // the soup does produce valid expressions
}

}  // namespace
}  // namespace smartby::feed
