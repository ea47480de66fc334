// KPIs: named numeric expressions over a dataset's latest value per source, written by
// administrators, e.g.
//
//   sum(free_spaces)                 free parking spaces in the city
//   100 * share(fill_level > 80)     per cent of containers more than 80 % full
//   count(fill_level >= 100 and not battery < 10)
//
// Grammar (lowest precedence first; binary operators are left-associative):
//
//   expression  := or
//   or          := and ("or" and)*
//   and         := not ("and" not)*
//   not         := "not" not | comparison
//   comparison  := sum [(">" | ">=" | "<" | "<=" | "==" | "!=") sum]     (never chained)
//   sum         := product (("+" | "-") product)*
//   product     := unary (("*" | "/") unary)*
//   unary       := "-" unary | primary
//   primary     := number | field | function "(" [expression] ")" | "(" expression ")"
//   number      := digits ["." digits]            field := [A-Za-z_][A-Za-z0-9_]*
//   function    := sum | avg | min | max | count | share
//
// Rules checked by ParseKpi (each refusal is INVALID_ARGUMENT "at column N: ..."; columns are
// 1-based and count characters, not bytes):
//   - the whole expression is a number, built from numbers and aggregates;
//   - a field is read only inside an aggregate (a dataset has many sources, so a bare field has
//     no single value), and an aggregate never contains another aggregate;
//   - sum/avg/min/max take a numeric argument; share takes a condition; count takes a condition,
//     a numeric argument (sources where it has a value) or nothing (sources with any value);
//   - comparisons and and/or/not appear only in the condition of share or count;
//   - the text is at most kMaxKpiLength bytes and nests (parentheses, unary minus, not) at most
//     kMaxKpiNesting deep, so hostile input costs bounded time and stack.
//
// Evaluation (KpiExpression::Evaluate) over the latest values of every source:
//   - inside an aggregate, each source is evaluated on its own. A source is skipped for that
//     aggregate when its value there is undefined: a field the argument uses is missing or not
//     finite, a division by zero, or a non-finite intermediate result. Skipped sources count
//     neither for nor against: share(fill_level > 80) = sources over 80 / sources reporting
//     fill_level.
//   - sum, avg, min, max and share over no source at all are undefined; count is 0.
//   - An undefined result is returned as a FAILED_PRECONDITION status that names the aggregate
//     and its column ("at column 1: avg(water_temp) has no values: no source reports
//     water_temp") or the division ("at column 15: division by zero"), never as NaN: a dashboard
//     should show "no value" and why, and NaN would silently propagate through arithmetic.
//     A non-finite final result (overflow) is FAILED_PRECONDITION as well. Every other status
//     code means a bug.
//
// A KpiExpression is an immutable value: copyable, and safe to evaluate from many threads.
#ifndef SMARTBY_SERVICES_FEED_KPI_H_
#define SMARTBY_SERVICES_FEED_KPI_H_

#include <cstddef>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace smartby::feed {

inline constexpr size_t kMaxKpiLength = 1024;  // bytes of expression text
inline constexpr int kMaxKpiNesting = 32;      // parentheses, unary minus and `not`, combined

// The latest values of one source: field name -> value.
using SourceValues = absl::flat_hash_map<std::string, double>;

class KpiExpression {
 public:
  // An empty expression (a placeholder, e.g. in a map): Evaluate gives FAILED_PRECONDITION and
  // ToString "". Real ones come from ParseKpi.
  KpiExpression() = default;

  // Field names the expression reads, sorted and without duplicates (to check against the
  // dataset's schema, and to know which updates can change the KPI).
  const std::vector<std::string>& fields() const { return fields_; }

  // The value over `latest` (one entry per source). See the header comment for the rules;
  // FAILED_PRECONDITION when the value is undefined for this data.
  absl::StatusOr<double> Evaluate(const std::vector<SourceValues>& latest) const;

  // Canonical text: single spaces around binary operators, the fewest parentheses that keep the
  // same tree, numbers in their shortest exact form. ParseKpi(e.ToString()) gives the same
  // expression, so ToString() is what the service stores and shows.
  std::string ToString() const;

 private:
  friend class KpiParser;
  friend class KpiEvaluator;

  enum class Kind {
    kNumber,
    kField,
    kNegate,   // -lhs
    kArith,    // lhs op rhs, op in + - * /
    kCompare,  // lhs op rhs, op in > >= < <= == !=
    kAnd,
    kOr,
    kNot,        // not lhs
    kAggregate,  // op(lhs), op a function name; lhs == -1 for count()
  };
  struct Node {
    Kind kind;
    std::string op;     // operator or function name; field name for kField
    double number = 0;  // kNumber
    int lhs = -1;       // child node indices
    int rhs = -1;
    int column = 0;  // where the node starts (aggregates, fields) or its operator is
  };

  void AppendTo(int node, int parent_precedence, bool right_side, std::string& out) const;

  // Nodes in a flat vector (children before parents, root last): copying is cheap and there is
  // no recursive destructor.
  std::vector<Node> nodes_;
  int root_ = -1;
  std::vector<std::string> fields_;
};

// Parses and checks `text`. INVALID_ARGUMENT "at column N: ..." on the first problem.
absl::StatusOr<KpiExpression> ParseKpi(absl::string_view text);

}  // namespace smartby::feed

#endif  // SMARTBY_SERVICES_FEED_KPI_H_
