#include "services/feed/kpi.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/string_view.h"

namespace smartby::feed {
namespace {

constexpr absl::string_view kFunctionList = "avg, count, max, min, share, sum";

bool IsFunction(absl::string_view name) {
  return name == "sum" || name == "avg" || name == "min" || name == "max" || name == "count" ||
         name == "share";
}

bool IsKeyword(absl::string_view name) { return name == "and" || name == "or" || name == "not"; }

// 1-based column of byte `offset`, counting UTF-8 characters (continuation bytes do not count).
int ColumnOf(absl::string_view text, size_t offset) {
  int column = 1;
  for (size_t i = 0; i < offset && i < text.size(); ++i) {
    if ((static_cast<unsigned char>(text[i]) & 0xC0) != 0x80) ++column;
  }
  return column;
}

absl::Status ErrorAt(int column, absl::string_view message) {
  return absl::InvalidArgumentError(absl::StrCat("at column ", column, ": ", message));
}

absl::Status UndefinedAt(int column, absl::string_view message) {
  return absl::FailedPreconditionError(absl::StrCat("at column ", column, ": ", message));
}

// Shortest text that reads back as exactly `value`, in fixed notation (the grammar has no
// exponents).
std::string FormatNumber(double value) {
  char buffer[400];  // DBL_MAX in fixed notation is 309 digits
  auto result = std::to_chars(buffer, buffer + sizeof(buffer), value, std::chars_format::fixed);
  if (result.ec != std::errc()) return "0";  // cannot happen for finite literals
  return std::string(buffer, result.ptr);
}

enum class TokenKind { kNumber, kIdentifier, kSymbol, kEnd };

struct Token {
  TokenKind kind;
  std::string text;
  double number = 0;
  int column = 0;
};

// How a token reads in an error message.
std::string Describe(const Token& token) {
  if (token.kind == TokenKind::kEnd) return "the end of the expression";
  return absl::StrCat("'", token.text, "'");
}

absl::StatusOr<std::vector<Token>> Tokenize(absl::string_view text) {
  std::vector<Token> tokens;
  size_t i = 0;
  while (i < text.size()) {
    const char c = text[i];
    const int column = ColumnOf(text, i);
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
      ++i;
      continue;
    }
    if (absl::ascii_isdigit(static_cast<unsigned char>(c))) {
      size_t end = i;
      while (end < text.size() && absl::ascii_isdigit(static_cast<unsigned char>(text[end]))) ++end;
      if (end < text.size() && text[end] == '.') {
        ++end;
        if (end >= text.size() || !absl::ascii_isdigit(static_cast<unsigned char>(text[end]))) {
          return ErrorAt(ColumnOf(text, end), "expected a digit after the decimal point");
        }
        while (end < text.size() && absl::ascii_isdigit(static_cast<unsigned char>(text[end]))) {
          ++end;
        }
      }
      Token token{TokenKind::kNumber, std::string(text.substr(i, end - i)), 0, column};
      auto parsed =
          std::from_chars(token.text.data(), token.text.data() + token.text.size(), token.number);
      if (parsed.ec != std::errc() || !std::isfinite(token.number)) {
        return ErrorAt(column, absl::StrCat("number ", token.text, " is too large"));
      }
      tokens.push_back(std::move(token));
      i = end;
      continue;
    }
    if (absl::ascii_isalpha(static_cast<unsigned char>(c)) || c == '_') {
      size_t end = i;
      while (end < text.size() &&
             (absl::ascii_isalnum(static_cast<unsigned char>(text[end])) || text[end] == '_')) {
        ++end;
      }
      tokens.push_back({TokenKind::kIdentifier, std::string(text.substr(i, end - i)), 0, column});
      i = end;
      continue;
    }
    const absl::string_view two = text.substr(i, 2);
    if (two == ">=" || two == "<=" || two == "==" || two == "!=") {
      tokens.push_back({TokenKind::kSymbol, std::string(two), 0, column});
      i += 2;
      continue;
    }
    switch (c) {
      case '+':
      case '-':
      case '*':
      case '/':
      case '(':
      case ')':
      case '<':
      case '>':
      case ',':
        tokens.push_back({TokenKind::kSymbol, std::string(1, c), 0, column});
        ++i;
        continue;
      case '=':
        return ErrorAt(column, "unexpected '='; to compare, write '=='");
      case '!':
        return ErrorAt(column, "unexpected '!'; write 'not' for negation or '!=' for unequal");
      case '.':
        return ErrorAt(column, "unexpected '.'; write numbers with a leading digit, e.g. 0.5");
      default:
        break;
    }
    // Show the whole character, even when it is several UTF-8 bytes; control bytes as hex.
    size_t end = i + 1;
    while (end < text.size() && (static_cast<unsigned char>(text[end]) & 0xC0) == 0x80) ++end;
    const unsigned char byte = static_cast<unsigned char>(c);
    const std::string shown = (byte < 0x20 || byte == 0x7F)
                                  ? absl::StrCat("byte 0x", absl::Hex(byte, absl::kZeroPad2))
                                  : absl::StrCat("'", text.substr(i, end - i), "'");
    return ErrorAt(column, absl::StrCat("unexpected character ", shown));
  }
  tokens.push_back({TokenKind::kEnd, "", 0, ColumnOf(text, text.size())});
  return tokens;
}

}  // namespace

// Recursive descent over the token list. Nesting is counted so hostile input cannot exhaust
// the stack; every other loop is iterative.
class KpiParser {
 public:
  explicit KpiParser(std::vector<Token> tokens) : tokens_(std::move(tokens)) {}

  absl::StatusOr<KpiExpression> Parse() {
    if (Peek().kind == TokenKind::kEnd) {
      return ErrorAt(Peek().column, "expected an expression, e.g. sum(free_spaces)");
    }
    auto root = ParseOr();
    if (!root.ok()) return root.status();
    if (Peek().kind != TokenKind::kEnd) {
      if (Peek().text == ")") return ErrorAt(Peek().column, "')' without a matching '('");
      return ErrorAt(Peek().column, absl::StrCat("expected an operator or the end of the "
                                                 "expression, found ",
                                                 Describe(Peek())));
    }
    expression_.root_ = root->node;
    std::sort(fields_.begin(), fields_.end());
    fields_.erase(std::unique(fields_.begin(), fields_.end()), fields_.end());
    expression_.fields_ = std::move(fields_);
    return std::move(expression_);
  }

 private:
  using Kind = KpiExpression::Kind;

  struct Parsed {
    int node;
    bool is_condition;  // a truth value (comparison, and/or/not) rather than a number
  };

  // Where we are: inside which aggregate (for the nesting rules), and whether conditions are
  // allowed (only in the argument of share and count).
  struct Scope {
    std::string aggregate;  // empty outside aggregates
    int aggregate_column = 0;
    bool conditions_allowed = false;
  };

  const Token& Peek() const { return tokens_[pos_]; }
  const Token& Next() { return tokens_[pos_++]; }
  bool PeekSymbol(absl::string_view symbol) const {
    return Peek().kind == TokenKind::kSymbol && Peek().text == symbol;
  }
  bool PeekKeyword(absl::string_view keyword) const {
    return Peek().kind == TokenKind::kIdentifier && Peek().text == keyword;
  }

  int Add(KpiExpression::Node node) {
    expression_.nodes_.push_back(std::move(node));
    return static_cast<int>(expression_.nodes_.size()) - 1;
  }

  absl::Status Enter(int column) {
    if (++depth_ > kMaxKpiNesting) {
      return ErrorAt(column, absl::StrCat("nested too deeply (at most ", kMaxKpiNesting,
                                          " levels of parentheses, '-' and 'not')"));
    }
    return absl::OkStatus();
  }
  void Leave() { --depth_; }

  absl::Status RequireConditionsAllowed(const Token& op) {
    if (scope_.conditions_allowed) return absl::OkStatus();
    const bool comparison = op.text != "and" && op.text != "or" && op.text != "not";
    return ErrorAt(op.column,
                   absl::StrCat(comparison ? "comparison " : "", "'", op.text,
                                "' is only allowed in the condition of share(...) or count(...), "
                                "e.g. share(fill_level > 80)"));
  }

  static absl::Status NeedConditions(const Token& op) {
    return ErrorAt(op.column,
                   absl::StrCat("'", op.text, "' needs conditions (such as x > 1) on both sides"));
  }
  static absl::Status NeedNumbers(const Token& op) {
    return ErrorAt(op.column,
                   absl::StrCat("'", op.text, "' needs numbers on both sides, not conditions"));
  }

  absl::StatusOr<Parsed> ParseOr() {
    auto lhs = ParseAnd();
    if (!lhs.ok()) return lhs;
    while (PeekKeyword("or")) {
      const Token op = Next();
      if (absl::Status s = RequireConditionsAllowed(op); !s.ok()) return s;
      auto rhs = ParseAnd();
      if (!rhs.ok()) return rhs;
      if (!lhs->is_condition || !rhs->is_condition) return NeedConditions(op);
      lhs = Parsed{Add({Kind::kOr, "or", 0, lhs->node, rhs->node, op.column}), true};
    }
    return lhs;
  }

  absl::StatusOr<Parsed> ParseAnd() {
    auto lhs = ParseNot();
    if (!lhs.ok()) return lhs;
    while (PeekKeyword("and")) {
      const Token op = Next();
      if (absl::Status s = RequireConditionsAllowed(op); !s.ok()) return s;
      auto rhs = ParseNot();
      if (!rhs.ok()) return rhs;
      if (!lhs->is_condition || !rhs->is_condition) return NeedConditions(op);
      lhs = Parsed{Add({Kind::kAnd, "and", 0, lhs->node, rhs->node, op.column}), true};
    }
    return lhs;
  }

  absl::StatusOr<Parsed> ParseNot() {
    if (!PeekKeyword("not")) return ParseComparison();
    const Token op = Next();
    if (absl::Status s = RequireConditionsAllowed(op); !s.ok()) return s;
    if (absl::Status s = Enter(op.column); !s.ok()) return s;
    auto operand = ParseNot();
    Leave();
    if (!operand.ok()) return operand;
    if (!operand->is_condition) {
      return ErrorAt(op.column, "'not' needs a condition (such as x > 1) after it");
    }
    return Parsed{Add({Kind::kNot, "not", 0, operand->node, -1, op.column}), true};
  }

  static bool IsComparison(const Token& token) {
    return token.kind == TokenKind::kSymbol &&
           (token.text == ">" || token.text == ">=" || token.text == "<" || token.text == "<=" ||
            token.text == "==" || token.text == "!=");
  }

  absl::StatusOr<Parsed> ParseComparison() {
    auto lhs = ParseSum();
    if (!lhs.ok()) return lhs;
    if (!IsComparison(Peek())) return lhs;
    const Token op = Next();
    if (absl::Status s = RequireConditionsAllowed(op); !s.ok()) return s;
    auto rhs = ParseSum();
    if (!rhs.ok()) return rhs;
    if (lhs->is_condition || rhs->is_condition) return NeedNumbers(op);
    if (IsComparison(Peek())) {
      return ErrorAt(Peek().column, "comparisons cannot be chained; write a < x and x < b");
    }
    return Parsed{Add({Kind::kCompare, op.text, 0, lhs->node, rhs->node, op.column}), true};
  }

  absl::StatusOr<Parsed> ParseSum() {
    auto lhs = ParseProduct();
    if (!lhs.ok()) return lhs;
    while (PeekSymbol("+") || PeekSymbol("-")) {
      const Token op = Next();
      auto rhs = ParseProduct();
      if (!rhs.ok()) return rhs;
      if (lhs->is_condition || rhs->is_condition) return NeedNumbers(op);
      lhs = Parsed{Add({Kind::kArith, op.text, 0, lhs->node, rhs->node, op.column}), false};
    }
    return lhs;
  }

  absl::StatusOr<Parsed> ParseProduct() {
    auto lhs = ParseUnary();
    if (!lhs.ok()) return lhs;
    while (PeekSymbol("*") || PeekSymbol("/")) {
      const Token op = Next();
      auto rhs = ParseUnary();
      if (!rhs.ok()) return rhs;
      if (lhs->is_condition || rhs->is_condition) return NeedNumbers(op);
      lhs = Parsed{Add({Kind::kArith, op.text, 0, lhs->node, rhs->node, op.column}), false};
    }
    return lhs;
  }

  absl::StatusOr<Parsed> ParseUnary() {
    if (!PeekSymbol("-")) return ParsePrimary();
    const Token op = Next();
    if (absl::Status s = Enter(op.column); !s.ok()) return s;
    auto operand = ParseUnary();
    Leave();
    if (!operand.ok()) return operand;
    if (operand->is_condition) {
      return ErrorAt(op.column, "'-' needs a number after it, not a condition");
    }
    return Parsed{Add({Kind::kNegate, "-", 0, operand->node, -1, op.column}), false};
  }

  absl::StatusOr<Parsed> ParsePrimary() {
    const Token token = Next();
    switch (token.kind) {
      case TokenKind::kNumber:
        return Parsed{Add({Kind::kNumber, token.text, token.number, -1, -1, token.column}), false};
      case TokenKind::kIdentifier:
        if (PeekSymbol("(")) return ParseCall(token);
        if (IsKeyword(token.text)) break;
        if (scope_.aggregate.empty()) {
          return ErrorAt(
              token.column,
              absl::StrCat("field '", token.text, "' must be inside an aggregate such as sum(",
                           token.text, ") or avg(", token.text, "): a dataset has many sources"));
        }
        fields_.push_back(token.text);
        return Parsed{Add({Kind::kField, token.text, 0, -1, -1, token.column}), false};
      case TokenKind::kSymbol:
        if (token.text == "(") {
          if (absl::Status s = Enter(token.column); !s.ok()) return s;
          auto inner = ParseOr();
          Leave();
          if (!inner.ok()) return inner;
          if (!PeekSymbol(")")) {
            return ErrorAt(Peek().column, absl::StrCat("expected ')' to close the '(' at column ",
                                                       token.column, ", found ", Describe(Peek())));
          }
          Next();
          return inner;
        }
        break;
      case TokenKind::kEnd:
        break;
    }
    return ErrorAt(token.column,
                   absl::StrCat("expected a number, a field, a function such as sum(...) or "
                                "'(', found ",
                                Describe(token)));
  }

  absl::StatusOr<Parsed> ParseCall(const Token& name) {
    if (!IsFunction(name.text)) {
      return ErrorAt(name.column, absl::StrCat("unknown function '", name.text,
                                               "'; expected one of ", kFunctionList));
    }
    if (!scope_.aggregate.empty()) {
      return ErrorAt(
          name.column,
          absl::StrCat("aggregate '", name.text, "' cannot be inside another aggregate ('",
                       scope_.aggregate, "' at column ", scope_.aggregate_column, ")"));
    }
    const Token open = Next();  // "("
    if (absl::Status s = Enter(open.column); !s.ok()) return s;
    const Scope outer = scope_;
    scope_ = Scope{name.text, name.column, name.text == "share" || name.text == "count"};
    int argument = -1;
    if (PeekSymbol(")")) {
      if (name.text != "count") {
        return ErrorAt(Peek().column,
                       absl::StrCat(name.text, "() needs an argument, e.g. ", name.text,
                                    name.text == "share" ? "(fill_level > 80)" : "(free_spaces)"));
      }
    } else {
      auto inner = ParseOr();
      if (!inner.ok()) return inner;
      if (name.text == "share" && !inner->is_condition) {
        return ErrorAt(name.column, "share(...) takes a condition, e.g. share(fill_level > 80)");
      }
      argument = inner->node;
    }
    if (!PeekSymbol(")")) {
      return ErrorAt(Peek().column,
                     absl::StrCat("expected ')' to close ", name.text, "( at column ", open.column,
                                  ", found ", Describe(Peek())));
    }
    Next();
    scope_ = outer;
    Leave();
    return Parsed{Add({Kind::kAggregate, name.text, 0, argument, -1, name.column}), false};
  }

  std::vector<Token> tokens_;
  size_t pos_ = 0;
  int depth_ = 0;
  Scope scope_;
  std::vector<std::string> fields_;
  KpiExpression expression_;
};

absl::StatusOr<KpiExpression> ParseKpi(absl::string_view text) {
  if (text.size() > kMaxKpiLength) {
    return ErrorAt(
        ColumnOf(text, kMaxKpiLength),
        absl::StrCat("expression too long (", text.size(), " bytes; at most ", kMaxKpiLength, ")"));
  }
  auto tokens = Tokenize(text);
  if (!tokens.ok()) return tokens.status();
  auto expression = KpiParser(*std::move(tokens)).Parse();
  if (!expression.ok()) return expression.status();
  // The canonical form is what gets stored, so it must parse again: spaces added around
  // operators can make it longer than the text typed.
  if (const size_t canonical = expression->ToString().size(); canonical > kMaxKpiLength) {
    return ErrorAt(1, absl::StrCat("expression too long: written canonically it has ", canonical,
                                   " characters (at most ", kMaxKpiLength, ")"));
  }
  return expression;
}

// ---- Evaluation ----

class KpiEvaluator {
 public:
  KpiEvaluator(const KpiExpression& expression, const std::vector<SourceValues>& latest)
      : nodes_(expression.nodes_), expression_(expression), latest_(latest) {}

  // Outside aggregates: numbers, arithmetic and aggregates only (the parser guarantees it).
  absl::StatusOr<double> Outer(int index) const {
    const KpiExpression::Node& node = nodes_[index];
    switch (node.kind) {
      case Kind::kNumber:
        return node.number;
      case Kind::kNegate: {
        auto operand = Outer(node.lhs);
        if (!operand.ok()) return operand;
        return -*operand;
      }
      case Kind::kArith: {
        auto lhs = Outer(node.lhs);
        if (!lhs.ok()) return lhs;
        auto rhs = Outer(node.rhs);
        if (!rhs.ok()) return rhs;
        if (node.op == "/" && *rhs == 0) return UndefinedAt(node.column, "division by zero");
        return Arith(node.op, *lhs, *rhs);
      }
      case Kind::kAggregate:
        return Aggregate(index);
      default:
        return absl::InternalError(absl::StrCat("at column ", node.column, ": unexpected '",
                                                node.op, "' outside an aggregate"));
    }
  }

 private:
  using Kind = KpiExpression::Kind;

  static double Arith(const std::string& op, double lhs, double rhs) {
    switch (op[0]) {
      case '+':
        return lhs + rhs;
      case '-':
        return lhs - rhs;
      case '*':
        return lhs * rhs;
      default:
        return lhs / rhs;
    }
  }

  // Value of a numeric node for one source; nullopt when undefined (see kpi.h).
  std::optional<double> Number(int index, const SourceValues& source) const {
    const KpiExpression::Node& node = nodes_[index];
    switch (node.kind) {
      case Kind::kNumber:
        return node.number;
      case Kind::kField: {
        auto it = source.find(node.op);
        if (it == source.end() || !std::isfinite(it->second)) return std::nullopt;
        return it->second;
      }
      case Kind::kNegate: {
        auto operand = Number(node.lhs, source);
        if (!operand) return std::nullopt;
        return -*operand;
      }
      case Kind::kArith: {
        auto lhs = Number(node.lhs, source);
        if (!lhs) return std::nullopt;
        auto rhs = Number(node.rhs, source);
        if (!rhs) return std::nullopt;
        if (node.op == "/" && *rhs == 0) return std::nullopt;
        const double value = Arith(node.op, *lhs, *rhs);
        if (!std::isfinite(value)) return std::nullopt;
        return value;
      }
      default:
        return std::nullopt;  // the parser allows nothing else here
    }
  }

  // Truth of a condition for one source; nullopt when any value it reads is undefined.
  std::optional<bool> Condition(int index, const SourceValues& source) const {
    const KpiExpression::Node& node = nodes_[index];
    switch (node.kind) {
      case Kind::kCompare: {
        auto lhs = Number(node.lhs, source);
        if (!lhs) return std::nullopt;
        auto rhs = Number(node.rhs, source);
        if (!rhs) return std::nullopt;
        if (node.op == ">") return *lhs > *rhs;
        if (node.op == ">=") return *lhs >= *rhs;
        if (node.op == "<") return *lhs < *rhs;
        if (node.op == "<=") return *lhs <= *rhs;
        if (node.op == "==") return *lhs == *rhs;
        return *lhs != *rhs;
      }
      case Kind::kAnd:
      case Kind::kOr: {
        // Both sides always: a source missing any field the condition reads is skipped, however
        // the other side turns out (simpler to explain than short-circuit rules).
        auto lhs = Condition(node.lhs, source);
        if (!lhs) return std::nullopt;
        auto rhs = Condition(node.rhs, source);
        if (!rhs) return std::nullopt;
        return node.kind == Kind::kAnd ? (*lhs && *rhs) : (*lhs || *rhs);
      }
      case Kind::kNot: {
        auto operand = Condition(node.lhs, source);
        if (!operand) return std::nullopt;
        return !*operand;
      }
      default:
        return std::nullopt;  // the parser allows nothing else here
    }
  }

  bool IsConditionNode(int index) const {
    const Kind kind = nodes_[index].kind;
    return kind == Kind::kCompare || kind == Kind::kAnd || kind == Kind::kOr || kind == Kind::kNot;
  }

  absl::StatusOr<double> Aggregate(int index) const {
    const KpiExpression::Node& node = nodes_[index];
    const std::string& function = node.op;
    if (function == "count") {
      int64_t count = 0;
      for (const SourceValues& source : latest_) {
        if (node.lhs < 0) {
          if (!source.empty()) ++count;
        } else if (IsConditionNode(node.lhs)) {
          if (Condition(node.lhs, source).value_or(false)) ++count;
        } else if (Number(node.lhs, source)) {
          ++count;
        }
      }
      return static_cast<double>(count);
    }
    if (function == "share") {
      int64_t defined = 0;
      int64_t matching = 0;
      for (const SourceValues& source : latest_) {
        const std::optional<bool> value = Condition(node.lhs, source);
        if (!value) continue;
        ++defined;
        if (*value) ++matching;
      }
      if (defined == 0) return NoValues(index);
      return static_cast<double>(matching) / static_cast<double>(defined);
    }
    int64_t defined = 0;
    double sum = 0;
    double min = std::numeric_limits<double>::infinity();
    double max = -std::numeric_limits<double>::infinity();
    for (const SourceValues& source : latest_) {
      const std::optional<double> value = Number(node.lhs, source);
      if (!value) continue;
      ++defined;
      sum += *value;
      min = std::min(min, *value);
      max = std::max(max, *value);
    }
    // An empty sum is undefined too, not 0: "0 free parking spaces" is a claim, "no data" is not.
    if (defined == 0) return NoValues(index);
    if (function == "sum") return sum;
    if (function == "avg") return sum / static_cast<double>(defined);
    if (function == "min") return min;
    return max;
  }

  absl::Status NoValues(int index) const {
    const KpiExpression::Node& node = nodes_[index];
    std::string text;
    expression_.AppendTo(index, 0, false, text);
    if (latest_.empty()) {
      return UndefinedAt(node.column, absl::StrCat(text, " has no values: there are no sources"));
    }
    std::vector<std::string> fields;
    CollectFields(node.lhs, fields);
    std::sort(fields.begin(), fields.end());
    fields.erase(std::unique(fields.begin(), fields.end()), fields.end());
    const bool some_source_has_all =
        std::any_of(latest_.begin(), latest_.end(), [&](const SourceValues& source) {
          return std::all_of(fields.begin(), fields.end(), [&](const std::string& field) {
            auto it = source.find(field);
            return it != source.end() && std::isfinite(it->second);
          });
        });
    if (!some_source_has_all) {
      return UndefinedAt(node.column,
                         absl::StrCat(text, " has no values: no source has ",
                                      fields.size() == 1 ? "a value for " : "values for all of ",
                                      absl::StrJoin(fields, ", ")));
    }
    return UndefinedAt(node.column, absl::StrCat(text,
                                                 " has no values: it is undefined for every source "
                                                 "(division by zero or overflow)"));
  }

  void CollectFields(int index, std::vector<std::string>& out) const {
    if (index < 0) return;
    const KpiExpression::Node& node = nodes_[index];
    if (node.kind == Kind::kField) out.push_back(node.op);
    CollectFields(node.lhs, out);
    CollectFields(node.rhs, out);
  }

  const std::vector<KpiExpression::Node>& nodes_;
  const KpiExpression& expression_;
  const std::vector<SourceValues>& latest_;
};

absl::StatusOr<double> KpiExpression::Evaluate(const std::vector<SourceValues>& latest) const {
  if (root_ < 0) return absl::FailedPreconditionError("empty KPI expression");
  auto value = KpiEvaluator(*this, latest).Outer(root_);
  if (!value.ok()) return value;
  if (!std::isfinite(*value)) {
    return absl::FailedPreconditionError("the result is too large to represent (overflow)");
  }
  return value;
}

void KpiExpression::AppendTo(int index, int parent_precedence, bool right_side,
                             std::string& out) const {
  const Node& node = nodes_[index];
  switch (node.kind) {
    case Kind::kNumber:
      absl::StrAppend(&out, FormatNumber(node.number));
      return;
    case Kind::kField:
      absl::StrAppend(&out, node.op);
      return;
    case Kind::kAggregate:
      absl::StrAppend(&out, node.op, "(");
      if (node.lhs >= 0) AppendTo(node.lhs, 0, false, out);
      absl::StrAppend(&out, ")");
      return;
    case Kind::kNegate:
      // Unary minus binds tightest of all operators: its operand needs parentheses unless it
      // is itself unary or a primary.
      out.push_back('-');
      AppendTo(node.lhs, 7, false, out);
      return;
    case Kind::kNot: {
      const bool parens = parent_precedence > 3;
      if (parens) out.push_back('(');
      absl::StrAppend(&out, "not ");
      AppendTo(node.lhs, 3, false, out);
      if (parens) out.push_back(')');
      return;
    }
    case Kind::kArith:
    case Kind::kCompare:
    case Kind::kAnd:
    case Kind::kOr: {
      // Binding strength, as in the grammar: or 1, and 2, not 3, comparison 4, + - 5, * / 6.
      int precedence = 6;
      if (node.kind == Kind::kOr) {
        precedence = 1;
      } else if (node.kind == Kind::kAnd) {
        precedence = 2;
      } else if (node.kind == Kind::kCompare) {
        precedence = 4;
      } else if (node.op == "+" || node.op == "-") {
        precedence = 5;
      }
      // Left-associative: an equal-precedence child on the right keeps its parentheses.
      const bool parens =
          precedence < parent_precedence || (right_side && precedence == parent_precedence);
      if (parens) out.push_back('(');
      AppendTo(node.lhs, precedence, false, out);
      absl::StrAppend(&out, " ", node.op, " ");
      AppendTo(node.rhs, precedence, true, out);
      if (parens) out.push_back(')');
      return;
    }
  }
}

std::string KpiExpression::ToString() const {
  std::string out;
  if (root_ >= 0) AppendTo(root_, 0, false, out);
  return out;
}

}  // namespace smartby::feed
