#include "services/ingestion/formats.h"

#include <algorithm>
#include <charconv>
#include <cstring>
#include <exception>
#include <optional>
#include <system_error>

#include <nlohmann/json.hpp>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "services/runtime/utf8.h"

namespace smartby::ingestion {
namespace {

namespace v1 = ::smartcity::ingestion::v1;

constexpr absl::string_view kBom = "\xEF\xBB\xBF";
constexpr size_t kMaxColumns = 10000;   // in a CSV header
constexpr int64_t kMaxJsonDepth = 64;   // nesting inside one JSON element
constexpr size_t kMaxMemberKeyBytes = 64;  // GeoJSON top-level keys we look at
constexpr size_t kMaxTypeBytes = 256;      // the FeatureCollection's "type" value, as written

// ---- helpers ---------------------------------------------------------------------------------

// Appends to a buffer whose capacity grows in powers of two and so never passes
// kMaxRecordBytes (itself a power of two); the caller has checked buf.size() + n <= that.
void BoundedAppend(std::string& buf, const char* p, size_t n) {
  const size_t need = buf.size() + n;
  if (need > buf.capacity()) {
    size_t capacity = std::max<size_t>(256, buf.capacity());
    while (capacity < need) capacity *= 2;
    buf.reserve(std::min(capacity, kMaxRecordBytes));
  }
  buf.append(p, n);
}

bool IsAscii(absl::string_view s) {
  const char* p = s.data();
  const char* const end = p + s.size();
  uint64_t bits = 0;
  for (; end - p >= 8; p += 8) {
    uint64_t word;
    std::memcpy(&word, p, 8);
    bits |= word;
  }
  for (; p < end; ++p) bits |= static_cast<unsigned char>(*p);
  return (bits & 0x8080808080808080ULL) == 0;
}

bool IsValidUtf8(absl::string_view s) {
  return IsAscii(s) || utf8::FirstInvalidByte(s) == absl::string_view::npos;
}

bool IsJsonSpace(char c) { return c == ' ' || c == '\n' || c == '\r' || c == '\t'; }

const char* SkipJsonSpace(const char* p, const char* end) {
  while (p < end && IsJsonSpace(*p)) ++p;
  return p;
}

std::string Shown(char c) {
  const auto u = static_cast<unsigned char>(c);
  if (u >= 0x20 && u < 0x7F) return absl::StrCat("'", absl::string_view(&c, 1), "'");
  return absl::StrCat("byte 0x", absl::Hex(u, absl::kZeroPad2));
}

// Everything readers share: the byte order mark, the sticky fatal status, the row count.
class ReaderBase : public RecordReader {
 public:
  ReaderBase(RecordCallback on_record, ErrorCallback on_error)
      : on_record_(std::move(on_record)), on_error_(std::move(on_error)) {}

  absl::Status Feed(absl::string_view chunk) final {
    if (!status_.ok()) return status_;
    if (finished_) return absl::FailedPreconditionError("Feed after Finish");
    if (!bom_done_) {
      // A UTF-8 byte order mark may be split over chunks; hold its bytes until it is decided.
      size_t i = 0;
      while (i < chunk.size() && bom_matched_ < kBom.size() && chunk[i] == kBom[bom_matched_]) {
        ++i;
        ++bom_matched_;
      }
      if (bom_matched_ == kBom.size()) {
        bom_done_ = true;
        chunk.remove_prefix(i);
      } else if (i == chunk.size()) {
        return status_;  // all bytes so far could be a BOM
      } else {
        bom_done_ = true;
        const size_t earlier = bom_matched_ - i;  // held from earlier chunks
        if (earlier > 0) {
          status_ = Consume(kBom.substr(0, earlier));
          if (!status_.ok()) return status_;
        }
      }
    }
    status_ = Consume(chunk);
    return status_;
  }

  absl::Status Finish() final {
    if (!status_.ok()) return status_;
    if (finished_) return absl::FailedPreconditionError("Finish called twice");
    finished_ = true;
    if (!bom_done_ && bom_matched_ > 0) {
      bom_done_ = true;
      status_ = Consume(kBom.substr(0, bom_matched_));
      if (!status_.ok()) return status_;
    }
    status_ = End();
    return status_;
  }

  int64_t rows_read() const final { return rows_; }

 protected:
  virtual absl::Status Consume(absl::string_view bytes) = 0;
  virtual absl::Status End() = 0;

  void Deliver(RawRecord&& record) {
    ++rows_;
    on_record_(std::move(record));
  }
  void Report(int64_t row, std::string column, std::string message) {
    ++rows_;
    on_error_(RecordError{row, std::move(column), std::move(message)});
  }

 private:
  RecordCallback on_record_;
  ErrorCallback on_error_;
  absl::Status status_;
  bool finished_ = false;
  bool bom_done_ = false;
  size_t bom_matched_ = 0;
  int64_t rows_ = 0;
};

// ---- CSV -------------------------------------------------------------------------------------

// RFC 4180 as a byte-level state machine. Cells of the current row are appended to one buffer
// (row_) with their end offsets (cell_ends_); both are reused from row to row, so a row costs no
// allocation but the RawRecord handed out. Runs of ordinary bytes are copied at once.
class CsvReader final : public ReaderBase {
 public:
  CsvReader(char delimiter, RecordCallback on_record, ErrorCallback on_error)
      : ReaderBase(std::move(on_record), std::move(on_error)), delimiter_(delimiter) {
    special_[static_cast<unsigned char>(delimiter)] = true;
    special_['"'] = special_['\n'] = special_['\r'] = true;
  }

  size_t buffered_bytes() const override {
    return row_.capacity() + cell_ends_.capacity() * sizeof(size_t);
  }

 private:
  enum class State { kCellStart, kUnquoted, kQuoted, kQuoteInQuoted, kAfterCr };

  absl::Status Consume(absl::string_view chunk) override {
    const char* p = chunk.data();
    const char* const end = p + chunk.size();
    while (p < end) {
      switch (state_) {
        case State::kAfterCr:
          state_ = State::kCellStart;
          if (*p == '\n') ++p;  // CRLF: the row ended at the CR
          break;
        case State::kCellStart:
          if (*p == '"') {
            ++p;
            Count(1);
            row_started_ = true;
            state_ = State::kQuoted;
            break;
          }
          state_ = State::kUnquoted;
          [[fallthrough]];
        case State::kUnquoted: {
          const char* q = p;
          while (q < end && !special_[static_cast<unsigned char>(*q)]) ++q;
          if (q > p) {
            Append(p, static_cast<size_t>(q - p));
            row_started_ = true;
            p = q;
            if (p == end) break;
          }
          const char c = *p++;
          if (c == delimiter_) {
            Count(1);
            EndCell();
            row_started_ = true;
            state_ = State::kCellStart;
          } else if (c == '\n' || c == '\r') {
            if (absl::Status s = EndRow(); !s.ok()) return s;
            state_ = c == '\r' ? State::kAfterCr : State::kCellStart;
          } else {  // a quote inside an unquoted cell is taken as written
            Append(p - 1, 1);
            row_started_ = true;
          }
          break;
        }
        case State::kQuoted: {
          const void* quote = std::memchr(p, '"', static_cast<size_t>(end - p));
          const char* q = quote == nullptr ? end : static_cast<const char*>(quote);
          Append(p, static_cast<size_t>(q - p));
          p = q;
          if (p < end) {
            ++p;
            Count(1);
            state_ = State::kQuoteInQuoted;
          }
          break;
        }
        case State::kQuoteInQuoted:
          if (*p == '"') {  // "" is one quote
            Append(p, 1);
            ++p;
            state_ = State::kQuoted;
          } else {  // the closing quote; what follows up to the delimiter is kept as written
            state_ = State::kUnquoted;
          }
          break;
      }
    }
    return absl::OkStatus();
  }

  absl::Status End() override {
    if (state_ == State::kQuoted) {
      if (!header_done_) {
        return absl::InvalidArgumentError(
            "the file ends inside a quoted value in the header row: a closing \" is missing");
      }
      const std::string column = ncells_ < header_.size()
                                     ? absl::StrCat("column \"", header_[ncells_], "\"")
                                     : absl::StrCat("column ", ncells_ + 1);
      return absl::InvalidArgumentError(absl::StrCat(
          "the file ends inside a quoted value that starts in row ", data_rows_ + 1, ", ", column,
          ": a closing \" is missing"));
    }
    if (row_started_) {
      if (absl::Status s = EndRow(); !s.ok()) return s;
    }
    if (!header_done_) {
      return absl::InvalidArgumentError(
          "the file is empty; a CSV file starts with a header row naming the columns");
    }
    return absl::OkStatus();
  }

  // Counts bytes of the current row that are not kept (delimiters, quotes).
  void Count(size_t n) {
    row_bytes_ += n;
    if (row_bytes_ > kMaxRecordBytes) TooLong();
  }
  void Append(const char* p, size_t n) {
    row_bytes_ += n;
    if (too_long_) return;
    if (row_bytes_ > kMaxRecordBytes) return TooLong();
    BoundedAppend(row_, p, n);
  }
  void TooLong() {
    too_long_ = true;
    row_.clear();  // the capacity (at most kMaxRecordBytes) is kept for the next rows
  }
  void EndCell() {
    // Offsets beyond the header's width are not needed (the row is an error anyway); not keeping
    // them bounds cell_ends_ for a row of a million delimiters.
    if (cell_ends_.size() < cell_limit_) cell_ends_.push_back(row_.size());
    ++ncells_;
  }

  absl::Status EndRow() {
    absl::Status status;
    if (row_started_) {  // a line with nothing on it is skipped
      EndCell();
      status = header_done_ ? DataRow() : HeaderRow();
    }
    row_.clear();
    cell_ends_.clear();
    ncells_ = 0;
    row_bytes_ = 0;
    too_long_ = false;
    row_started_ = false;
    return status;
  }

  absl::Status HeaderRow() {
    if (too_long_) {
      return absl::InvalidArgumentError(
          "the header row is longer than 1 MiB; is this a CSV file with a header row?");
    }
    if (ncells_ > kMaxColumns) {
      return absl::InvalidArgumentError(
          absl::StrCat("the header row has ", ncells_, " columns; at most ", kMaxColumns,
                       " are read"));
    }
    if (!IsValidUtf8(row_)) {
      return absl::InvalidArgumentError(
          "the header row is not valid UTF-8; save the file as UTF-8");
    }
    absl::flat_hash_set<absl::string_view> seen;
    size_t start = 0;
    for (size_t i = 0; i < cell_ends_.size(); ++i) {
      const absl::string_view name = absl::StripAsciiWhitespace(
          absl::string_view(row_).substr(start, cell_ends_[i] - start));
      start = cell_ends_[i];
      if (name.empty()) {
        return absl::InvalidArgumentError(absl::StrCat(
            "column ", i + 1, " of the header row has no name; every column needs one"));
      }
      if (!seen.insert(name).second) {
        return absl::InvalidArgumentError(
            absl::StrCat("column \"", name, "\" appears twice in the header row"));
      }
      header_.emplace_back(name);
    }
    header_done_ = true;
    cell_limit_ = header_.size() + 1;
    return absl::OkStatus();
  }

  absl::Status DataRow() {
    const int64_t row = ++data_rows_;
    if (too_long_) {
      Report(row, "",
             absl::StrCat("row ", row, " is longer than 1 MiB (", row_bytes_,
                          " bytes); rows that long are not read"));
      return absl::OkStatus();
    }
    if (ncells_ != header_.size()) {
      std::string hint;
      if (ncells_ == 1 && header_.size() > 1) {
        hint = absl::StrCat(" (is the delimiter right? the file is read with ",
                            delimiter_ == '\t' ? "tab" : Shown(delimiter_), ")");
      } else if (ncells_ == header_.size() + 1 && cell_ends_.size() == ncells_ &&
                 cell_ends_[ncells_ - 1] == cell_ends_[ncells_ - 2]) {
        hint = " (is there a delimiter at the end of the line?)";
      }
      Report(row, "",
             absl::StrCat("row ", row, " has ", ncells_, ncells_ == 1 ? " cell" : " cells",
                          "; expected ", header_.size(), " as in the header row", hint));
      return absl::OkStatus();
    }
    const absl::string_view text = row_;
    if (!IsAscii(text)) {
      size_t start = 0;
      for (size_t i = 0; i < ncells_; ++i) {
        if (utf8::FirstInvalidByte(text.substr(start, cell_ends_[i] - start)) !=
            absl::string_view::npos) {
          Report(row, header_[i],
                 absl::StrCat("row ", row, " is not valid UTF-8 (column \"", header_[i],
                              "\"); save the file as UTF-8"));
          return absl::OkStatus();
        }
        start = cell_ends_[i];
      }
    }
    RawRecord record;
    record.row = row;
    record.columns.resize(ncells_);
    size_t start = 0;
    for (size_t i = 0; i < ncells_; ++i) {
      auto& [name, value] = record.columns[i];
      name = header_[i];
      if (cell_ends_[i] > start) {
        value.kind = RawValue::kText;
        value.text.assign(text.data() + start, cell_ends_[i] - start);
      }
      start = cell_ends_[i];
    }
    Deliver(std::move(record));
    return absl::OkStatus();
  }

  const char delimiter_;
  bool special_[256] = {};
  State state_ = State::kCellStart;
  std::string row_;                // the current row's cell bytes, unquoted
  std::vector<size_t> cell_ends_;  // end offset in row_ of each cell so far
  size_t cell_limit_ = kMaxColumns + 1;
  size_t ncells_ = 0;
  size_t row_bytes_ = 0;  // bytes of the current row as written
  bool too_long_ = false;
  bool row_started_ = false;
  bool header_done_ = false;
  std::vector<std::string> header_;
  int64_t data_rows_ = 0;
};

// ---- JSON elements ---------------------------------------------------------------------------

// One parsed element. Numbers keep their text as written (nlohmann's DOM would turn "12.50" into
// 12.5), which is why elements are parsed through the SAX interface into this small tree.
struct JsonNode {
  enum Kind { kNull, kBool, kNumber, kString, kObject, kArray } kind = kNull;
  bool boolean = false;
  std::string text;                // kNumber as written, kString
  std::vector<std::string> keys;   // kObject, parallel to children
  std::vector<JsonNode> children;  // kObject values, kArray items

  const JsonNode* Member(absl::string_view key) const {
    for (size_t i = 0; i < keys.size(); ++i) {
      if (keys[i] == key) return &children[i];
    }
    return nullptr;
  }
  JsonNode* Member(absl::string_view key) {
    return const_cast<JsonNode*>(static_cast<const JsonNode*>(this)->Member(key));
  }
};

// nlohmann::json SAX handler building a JsonNode. Never throws; returns false (which stops the
// parse) on a syntax error or nesting deeper than kMaxJsonDepth.
class TreeBuilder {
 public:
  using json = nlohmann::json;
  explicit TreeBuilder(JsonNode* root) : root_(root) {}

  bool null() {
    Add(JsonNode::kNull);
    return true;
  }
  bool boolean(bool v) {
    Add(JsonNode::kBool)->boolean = v;
    return true;
  }
  bool number_integer(json::number_integer_t v) {
    Add(JsonNode::kNumber)->text = absl::StrCat(v);
    return true;
  }
  bool number_unsigned(json::number_unsigned_t v) {
    Add(JsonNode::kNumber)->text = absl::StrCat(v);
    return true;
  }
  bool number_float(json::number_float_t, const json::string_t& text) {
    Add(JsonNode::kNumber)->text = text;
    return true;
  }
  bool string(json::string_t& v) {
    Add(JsonNode::kString)->text = std::move(v);
    return true;
  }
  bool binary(json::binary_t&) { return false; }
  bool start_object(std::size_t) { return Open(JsonNode::kObject); }
  bool key(json::string_t& k) {
    stack_.back()->keys.push_back(std::move(k));
    return true;
  }
  bool end_object() {
    stack_.pop_back();
    return true;
  }
  bool start_array(std::size_t) { return Open(JsonNode::kArray); }
  bool end_array() {
    stack_.pop_back();
    return true;
  }
  bool parse_error(std::size_t position, const std::string&, const nlohmann::detail::exception&) {
    error_position_ = position;
    return false;
  }

  bool too_deep() const { return too_deep_; }
  size_t error_position() const { return error_position_; }

 private:
  JsonNode* Add(JsonNode::Kind kind) {
    // Only ancestors are on the stack, and a container's children grow only while it is the
    // top, so the pointers stay valid.
    JsonNode* node = stack_.empty() ? root_ : &stack_.back()->children.emplace_back();
    node->kind = kind;
    return node;
  }
  bool Open(JsonNode::Kind kind) {
    if (static_cast<int64_t>(stack_.size()) >= kMaxJsonDepth) {
      too_deep_ = true;
      return false;
    }
    stack_.push_back(Add(kind));
    return true;
  }

  JsonNode* root_;
  std::vector<JsonNode*> stack_;
  bool too_deep_ = false;
  size_t error_position_ = 0;
};

bool ParseNumber(const std::string& text, double* out) {
  const auto result = std::from_chars(text.data(), text.data() + text.size(), *out);
  return result.ec == std::errc() && result.ptr == text.data() + text.size();
}

// {"lat": 58.97, "lon": 5.73} (also "lng", or "latitude"/"longitude") as a position.
bool GeoFromObject(const JsonNode& node, RawValue* out) {
  if (node.keys.size() != 2) return false;
  const JsonNode* lat = node.Member("lat");
  const JsonNode* lon = node.Member("lon");
  if (lon == nullptr) lon = node.Member("lng");
  if (lat == nullptr || lon == nullptr) {
    lat = node.Member("latitude");
    lon = node.Member("longitude");
  }
  if (lat == nullptr || lon == nullptr || lat->kind != JsonNode::kNumber ||
      lon->kind != JsonNode::kNumber || !ParseNumber(lat->text, &out->latitude) ||
      !ParseNumber(lon->text, &out->longitude)) {
    return false;
  }
  out->kind = RawValue::kGeoPoint;
  return true;
}

// ---- JSON and GeoJSON ------------------------------------------------------------------------

// A framing scanner finds each element's bytes (tracking strings, escapes and nesting across
// chunks), holding at most kMaxRecordBytes of one element; each element is then parsed alone.
//
// JSON: a file starting with '[' is an array of objects. A file starting with '{' is a stream of
// objects: when the first object ends on its first line the file is JSON lines, and a line that
// does not hold one whole object is a RecordError for that line only; when the first object
// spans lines, the objects are read whatever their layout (a pretty-printed object, as MQTT
// gateways sometimes send).
//
// GeoJSON: the top-level object's members are scanned; "features" is read as an array of
// elements, "type" must be "FeatureCollection", everything else is skipped without buffering.
class JsonReader final : public ReaderBase {
 public:
  JsonReader(bool geojson, RecordCallback on_record, ErrorCallback on_error)
      : ReaderBase(std::move(on_record), std::move(on_error)),
        geojson_(geojson),
        noun_(geojson ? "feature" : "row") {}

  size_t buffered_bytes() const override { return element_.capacity() + key_.capacity(); }

 private:
  enum class State {
    kStart,
    kArrayOpen,    // after '[' or ',': an element or ']' next
    kArrayItem,    // inside an array element
    kAfterArray,   // JSON: only whitespace may follow
    kObject,       // inside an object of an object stream
    kBetweenObjects,
    kJunkLine,     // object stream: a line that is not an object, skipped to its end
    kMemberKeyOrEnd,  // GeoJSON top-level object: after '{'
    kMemberKeyStart,  // after ','
    kMemberKey,
    kColon,
    kMemberValueStart,
    kMemberValue,
    kMemberNext,
    kDone,
  };
  enum class Framing { kArrayItem, kObject, kMember };
  enum class Stop { kNone, kTerminator, kClosed, kCut };
  enum class Layout { kUndecided, kLines, kPretty };

  absl::Status Consume(absl::string_view chunk) override {
    const char* const begin = chunk.data();
    const char* p = begin;
    const char* const end = p + chunk.size();
    const auto fatal = [&](absl::string_view what) {
      return absl::InvalidArgumentError(
          absl::StrCat(what, " (at byte ", offset_ + static_cast<uint64_t>(p - begin), ")"));
    };
    while (p < end) {
      switch (state_) {
        case State::kStart:
          p = SkipJsonSpace(p, end);
          if (p == end) break;
          if (*p == '{') {
            if (geojson_) {
              ++p;
              state_ = State::kMemberKeyOrEnd;
            } else {
              StartElement(kMaxRecordBytes);
              state_ = State::kObject;
            }
          } else if (*p == '[' && !geojson_) {
            ++p;
            after_comma_ = false;
            state_ = State::kArrayOpen;
          } else {
            return fatal(geojson_ ? absl::StrCat("the file is not a GeoJSON FeatureCollection: "
                                                 "it starts with ",
                                                 Shown(*p), " instead of {")
                                  : absl::StrCat("the file is not JSON: it starts with ",
                                                 Shown(*p),
                                                 "; expected a list of objects [...] or one "
                                                 "object per line"));
          }
          break;

        case State::kArrayOpen:
          p = SkipJsonSpace(p, end);
          if (p == end) break;
          if (*p == ']') {  // "[]", or a trailing comma, which is let pass
            ++p;
            ArrayDone();
          } else if (*p == ',') {
            ++p;
            const int64_t row = ++row_;
            Report(row, "", absl::StrCat(noun_, " ", row, " is empty (two commas in a row)"));
            after_comma_ = true;
          } else {
            StartElement(kMaxRecordBytes);
            state_ = State::kArrayItem;
          }
          break;

        case State::kArrayItem: {
          Stop stop;
          p = Scan(p, end, Framing::kArrayItem, &stop);
          if (stop != Stop::kTerminator) break;
          ElementDone();
          if (*p++ == ',') {
            after_comma_ = true;
            state_ = State::kArrayOpen;
          } else {
            ArrayDone();
          }
          break;
        }

        case State::kAfterArray:
          p = SkipJsonSpace(p, end);
          if (p < end) return fatal("the file goes on after the list's closing ]");
          break;

        case State::kObject: {
          Stop stop;
          p = Scan(p, end, Framing::kObject, &stop);
          if (stop == Stop::kClosed) {
            if (layout_ == Layout::kUndecided) layout_ = Layout::kLines;
            ElementDone();
            state_ = State::kBetweenObjects;
          } else if (stop == Stop::kCut) {
            ++p;  // the newline
            if (layout_ == Layout::kUndecided) layout_ = Layout::kLines;
            const int64_t row = ++row_;
            Report(row, "",
                   absl::StrCat(noun_, " ", row,
                                " does not hold one whole JSON object on its line (JSON lines "
                                "need one object per line)"));
            state_ = State::kBetweenObjects;
          }
          break;
        }

        case State::kBetweenObjects:
          p = SkipJsonSpace(p, end);
          if (p == end) break;
          if (*p == '{') {
            StartElement(kMaxRecordBytes);
            state_ = State::kObject;
          } else {
            state_ = State::kJunkLine;
          }
          break;

        case State::kJunkLine: {
          const void* nl = std::memchr(p, '\n', static_cast<size_t>(end - p));
          if (nl == nullptr) {
            p = end;
            break;
          }
          p = static_cast<const char*>(nl) + 1;
          JunkLineDone();
          break;
        }

        case State::kMemberKeyOrEnd:
        case State::kMemberKeyStart:
          p = SkipJsonSpace(p, end);
          if (p == end) break;
          if (*p == '"') {
            ++p;
            key_.clear();
            key_escape_ = false;
            key_long_ = false;
            state_ = State::kMemberKey;
          } else if (*p == '}' && state_ == State::kMemberKeyOrEnd) {
            ++p;
            state_ = State::kDone;
          } else {
            return fatal(absl::StrCat("the GeoJSON is not valid: expected a member name, found ",
                                      Shown(*p)));
          }
          break;

        case State::kMemberKey:
          while (p < end) {
            const char c = *p++;
            if (key_escape_) {
              key_escape_ = false;
            } else if (c == '\\') {
              key_escape_ = true;
            } else if (c == '"') {
              state_ = State::kColon;
              break;
            }
            if (key_.size() < kMaxMemberKeyBytes) {
              key_.push_back(c);
            } else {
              key_long_ = true;
            }
          }
          break;

        case State::kColon:
          p = SkipJsonSpace(p, end);
          if (p == end) break;
          if (*p != ':') {
            return fatal(absl::StrCat("the GeoJSON is not valid: expected ':', found ", Shown(*p)));
          }
          ++p;
          state_ = State::kMemberValueStart;
          break;

        case State::kMemberValueStart:
          p = SkipJsonSpace(p, end);
          if (p == end) break;
          if (!key_long_ && key_ == "features") {
            if (*p != '[') return fatal("\"features\" must be a list of features");
            ++p;
            saw_features_ = true;
            after_comma_ = false;
            state_ = State::kArrayOpen;
          } else {
            StartElement(!key_long_ && key_ == "type" ? kMaxTypeBytes : 0);
            state_ = State::kMemberValue;
          }
          break;

        case State::kMemberValue: {
          Stop stop;
          p = Scan(p, end, Framing::kMember, &stop);
          if (stop != Stop::kTerminator) break;
          if (!key_long_ && key_ == "type") {
            const absl::string_view type = absl::StripAsciiWhitespace(element_);
            if (element_too_long_ || type != "\"FeatureCollection\"") {
              return fatal(absl::StrCat(
                  "the file is not a GeoJSON FeatureCollection (its \"type\" is ",
                  element_too_long_ ? "too long" : type, ")"));
            }
            saw_type_ = true;
          }
          element_.clear();
          state_ = State::kMemberNext;
          break;
        }

        case State::kMemberNext:
          p = SkipJsonSpace(p, end);
          if (p == end) break;
          if (*p == ',') {
            state_ = State::kMemberKeyStart;
          } else if (*p == '}') {
            state_ = State::kDone;
          } else {
            return fatal(
                absl::StrCat("the GeoJSON is not valid: expected ',' or '}', found ", Shown(*p)));
          }
          ++p;
          break;

        case State::kDone:
          p = SkipJsonSpace(p, end);
          if (p < end) return fatal("the file goes on after the FeatureCollection's closing }");
          break;
      }
    }
    offset_ += chunk.size();
    return absl::OkStatus();
  }

  absl::Status End() override {
    const int64_t next = row_ + 1;
    switch (state_) {
      case State::kStart:
        return absl::InvalidArgumentError(
            geojson_ ? "the file is empty; expected a GeoJSON FeatureCollection"
                     : "the file is empty; expected a list of objects [...] or one object per "
                       "line");
      case State::kArrayOpen:
        return absl::InvalidArgumentError(
            geojson_ ? "the file ends inside the features list; it is cut off"
                     : "the file ends before the list's closing ]; it is cut off");
      case State::kArrayItem:
      case State::kObject:
        return absl::InvalidArgumentError(
            absl::StrCat("the file ends inside ", noun_, " ", next, "; it is cut off"));
      case State::kJunkLine:
        JunkLineDone();
        return absl::OkStatus();
      case State::kAfterArray:
      case State::kBetweenObjects:
        return absl::OkStatus();
      case State::kDone:
        if (!saw_type_) {
          return absl::InvalidArgumentError(
              "the file is not a GeoJSON FeatureCollection: it has no \"type\"");
        }
        if (!saw_features_) {
          return absl::InvalidArgumentError("the FeatureCollection has no \"features\" list");
        }
        return absl::OkStatus();
      default:
        return absl::InvalidArgumentError(
            "the file ends before the FeatureCollection's closing }; it is cut off");
    }
  }

  void ArrayDone() { state_ = geojson_ ? State::kMemberNext : State::kAfterArray; }

  void JunkLineDone() {
    const int64_t row = ++row_;
    Report(row, "", absl::StrCat(noun_, " ", row, " is not a JSON object"));
    state_ = State::kBetweenObjects;
  }

  void StartElement(size_t limit) {
    element_.clear();
    element_limit_ = limit;
    element_bytes_ = 0;
    element_too_long_ = false;
    depth_ = 0;
    too_deep_ = false;
    in_string_ = false;
    escape_ = false;
  }

  void AppendElement(const char* p, size_t n) {
    element_bytes_ += n;
    if (element_too_long_) return;
    if (element_bytes_ > element_limit_) {
      element_too_long_ = true;
      element_.clear();
      return;
    }
    BoundedAppend(element_, p, n);
  }

  // Consumes the current value's bytes up to where it ends: at a ',' or closing bracket at depth
  // 0, not consumed (kTerminator); after the '}' that closes an object of a stream (kClosed); at a
  // newline, not consumed, that cuts a JSON line (kCut). kNone: the chunk ended first.
  const char* Scan(const char* p, const char* end, Framing framing, Stop* stop) {
    *stop = Stop::kNone;
    const char* const start = p;
    while (p < end) {
      if (in_string_) {
        if (escape_) {
          escape_ = false;
          ++p;
          continue;
        }
        while (p < end && *p != '"' && *p != '\\' && *p != '\n') ++p;
        if (p == end) break;
        if (*p == '\\') {
          escape_ = true;
        } else if (*p == '"') {
          in_string_ = false;
        } else if (framing == Framing::kObject && layout_ != Layout::kPretty) {
          // A raw newline in a string is not JSON; in JSON lines it ends the row.
          *stop = Stop::kCut;
          break;
        }
        ++p;
        continue;
      }
      const char c = *p;
      if (c == '"') {
        in_string_ = true;
      } else if (c == '{' || c == '[') {
        if (++depth_ > kMaxJsonDepth) too_deep_ = true;
      } else if (c == '}' || c == ']') {
        if (depth_ > 0) {
          if (--depth_ == 0 && framing == Framing::kObject) {
            ++p;
            *stop = Stop::kClosed;
            break;
          }
        } else if ((framing == Framing::kArrayItem && c == ']') ||
                   (framing == Framing::kMember && c == '}')) {
          *stop = Stop::kTerminator;
          break;
        }
        // Otherwise a stray closing bracket: kept, and the element will not parse.
      } else if (c == ',' && depth_ == 0 && framing != Framing::kObject) {
        *stop = Stop::kTerminator;
        break;
      } else if (c == '\n' && framing == Framing::kObject) {
        if (layout_ == Layout::kUndecided) {
          layout_ = Layout::kPretty;  // the first object spans lines
        } else if (layout_ == Layout::kLines) {
          *stop = Stop::kCut;
          break;
        }
      }
      ++p;
    }
    AppendElement(start, static_cast<size_t>(p - start));
    return p;
  }

  void ElementDone() {
    const int64_t row = ++row_;
    const std::string what = absl::StrCat(noun_, " ", row);
    if (element_too_long_) {
      Report(row, "",
             absl::StrCat(what, " is larger than 1 MiB (", element_bytes_,
                          " bytes); elements that large are not read"));
      return;
    }
    if (too_deep_) {
      Report(row, "",
             absl::StrCat(what, " nests lists or objects more than ", kMaxJsonDepth, " deep"));
      return;
    }
    const absl::string_view text = absl::StripAsciiWhitespace(element_);
    if (!IsValidUtf8(text)) {
      Report(row, "", absl::StrCat(what, " is not valid UTF-8; save the file as UTF-8"));
      return;
    }
    JsonNode root;
    TreeBuilder builder(&root);
    bool parsed = false;
    try {
      parsed = nlohmann::json::sax_parse(text.data(), text.data() + text.size(), &builder);
    } catch (const std::exception&) {  // not expected: the handler never asks for exceptions
      parsed = false;
    }
    if (!parsed) {
      Report(row, "",
             builder.too_deep()
                 ? absl::StrCat(what, " nests lists or objects more than ", kMaxJsonDepth, " deep")
                 : absl::StrCat(what, " is not valid JSON (a problem at byte ",
                                builder.error_position(), " of the ", noun_, ")"));
      return;
    }
    RawRecord record;
    record.row = row;
    if (std::optional<RecordError> error =
            geojson_ ? FeatureToRecord(root, what, &record) : ObjectToRecord(root, what, &record)) {
      error->row = row;
      Report(row, std::move(error->column), std::move(error->message));
      return;
    }
    Deliver(std::move(record));
  }

  // The object's members as columns: scalars as they are, a {"lat","lon"} object as a position.
  static std::optional<RecordError> AddColumns(JsonNode& object, const std::string& what,
                                               RawRecord* record) {
    for (size_t i = 0; i < object.keys.size(); ++i) {
      std::string& key = object.keys[i];
      JsonNode& node = object.children[i];
      RawValue value;
      switch (node.kind) {
        case JsonNode::kNull:
          break;
        case JsonNode::kBool:
          value.kind = RawValue::kBool;
          value.boolean = node.boolean;
          break;
        case JsonNode::kNumber:
          value.kind = RawValue::kNumber;
          value.text = std::move(node.text);
          break;
        case JsonNode::kString:
          value.kind = RawValue::kText;
          value.text = std::move(node.text);
          break;
        case JsonNode::kObject:
          if (!GeoFromObject(node, &value)) {
            return RecordError{0, key,
                               absl::StrCat(what, ", \"", key,
                                            "\": an object cannot be imported; give single "
                                            "values, or {\"lat\": ..., \"lon\": ...} for a "
                                            "position")};
          }
          break;
        case JsonNode::kArray:
          return RecordError{0, key,
                             absl::StrCat(what, ", \"", key,
                                          "\": a list cannot be imported; give single values")};
      }
      for (const auto& column : record->columns) {
        if (column.first == key) {
          return RecordError{0, key, absl::StrCat(what, ": \"", key, "\" appears twice")};
        }
      }
      record->columns.emplace_back(std::move(key), std::move(value));
    }
    return std::nullopt;
  }

  static std::optional<RecordError> ObjectToRecord(JsonNode& root, const std::string& what,
                                                   RawRecord* record) {
    if (root.kind != JsonNode::kObject) {
      return RecordError{0, "", absl::StrCat(what, " is not a JSON object")};
    }
    record->columns.reserve(root.keys.size());
    return AddColumns(root, what, record);
  }

  static std::optional<RecordError> FeatureToRecord(JsonNode& root, const std::string& what,
                                                    RawRecord* record) {
    if (root.kind != JsonNode::kObject) {
      return RecordError{0, "", absl::StrCat(what, " is not a JSON object")};
    }
    if (const JsonNode* type = root.Member("type");
        type != nullptr && (type->kind != JsonNode::kString || type->text != "Feature")) {
      return RecordError{0, "", absl::StrCat(what, " is not a GeoJSON Feature")};
    }
    if (JsonNode* properties = root.Member("properties");
        properties != nullptr && properties->kind != JsonNode::kNull) {
      if (properties->kind != JsonNode::kObject) {
        return RecordError{0, "", absl::StrCat(what, ": \"properties\" must be an object")};
      }
      record->columns.reserve(properties->keys.size() + 1);
      if (auto error = AddColumns(*properties, what, record)) return error;
    }
    const JsonNode* geometry = root.Member("geometry");
    if (geometry == nullptr || geometry->kind == JsonNode::kNull) return std::nullopt;
    const JsonNode* type = geometry->kind == JsonNode::kObject ? geometry->Member("type") : nullptr;
    if (type == nullptr || type->kind != JsonNode::kString) {
      return RecordError{0, "geometry",
                         absl::StrCat(what, ": the geometry is not a GeoJSON geometry")};
    }
    if (type->text != "Point") {
      return RecordError{0, "geometry",
                         absl::StrCat(what, " has a ", type->text,
                                      " geometry; only Point geometries can be imported")};
    }
    const JsonNode* coordinates = geometry->Member("coordinates");
    RawValue value;
    value.kind = RawValue::kGeoPoint;
    // GeoJSON positions are [longitude, latitude(, altitude)].
    if (coordinates == nullptr || coordinates->kind != JsonNode::kArray ||
        coordinates->children.size() < 2 || coordinates->children.size() > 3 ||
        coordinates->children[0].kind != JsonNode::kNumber ||
        coordinates->children[1].kind != JsonNode::kNumber ||
        !ParseNumber(coordinates->children[0].text, &value.longitude) ||
        !ParseNumber(coordinates->children[1].text, &value.latitude)) {
      return RecordError{0, "geometry",
                         absl::StrCat(what, ": a Point's coordinates must be [longitude, "
                                            "latitude]")};
    }
    for (const auto& column : record->columns) {
      if (column.first == "geometry") {
        return RecordError{0, "geometry",
                           absl::StrCat(what, " has a property named \"geometry\" as well as a "
                                              "geometry; rename the property")};
      }
    }
    record->columns.emplace_back("geometry", std::move(value));
    return std::nullopt;
  }

  const bool geojson_;
  const char* const noun_;
  State state_ = State::kStart;
  Layout layout_ = Layout::kUndecided;
  uint64_t offset_ = 0;  // bytes consumed before the current chunk
  int64_t row_ = 0;
  bool after_comma_ = false;

  // The element being framed.
  std::string element_;
  size_t element_limit_ = 0;
  size_t element_bytes_ = 0;
  bool element_too_long_ = false;
  int64_t depth_ = 0;
  bool too_deep_ = false;
  bool in_string_ = false;
  bool escape_ = false;

  // GeoJSON top-level object.
  std::string key_;
  bool key_escape_ = false;
  bool key_long_ = false;
  bool saw_type_ = false;
  bool saw_features_ = false;
};

}  // namespace

absl::StatusOr<std::unique_ptr<RecordReader>> NewRecordReader(
    const FormatOptions& options, RecordReader::RecordCallback on_record,
    RecordReader::ErrorCallback on_error) {
  if (!on_record || !on_error) {
    return absl::InvalidArgumentError("NewRecordReader needs both callbacks");
  }
  switch (options.format) {
    case v1::FILE_FORMAT_CSV: {
      const auto d = static_cast<unsigned char>(options.delimiter);
      if (d == 0 || d >= 0x80 || d == '"' || d == '\r' || d == '\n') {
        return absl::InvalidArgumentError(
            "delimiter: must be one ASCII character other than a quote or a line break, such as "
            ", or ; or a tab");
      }
      return std::unique_ptr<RecordReader>(
          new CsvReader(options.delimiter, std::move(on_record), std::move(on_error)));
    }
    case v1::FILE_FORMAT_JSON:
    case v1::FILE_FORMAT_GEOJSON:
      return std::unique_ptr<RecordReader>(new JsonReader(
          options.format == v1::FILE_FORMAT_GEOJSON, std::move(on_record), std::move(on_error)));
    default:
      break;
  }
  return absl::InvalidArgumentError(
      "format: unsupported file format; use CSV, JSON (a list of objects or JSON lines) or "
      "GeoJSON");
}

v1::FileFormat FormatFromFileName(absl::string_view file_name) {
  const size_t dot = file_name.rfind('.');
  if (dot == absl::string_view::npos) return v1::FILE_FORMAT_UNSPECIFIED;
  const std::string ext = absl::AsciiStrToLower(file_name.substr(dot + 1));
  if (ext == "csv" || ext == "tsv") return v1::FILE_FORMAT_CSV;
  if (ext == "json" || ext == "jsonl" || ext == "ndjson") return v1::FILE_FORMAT_JSON;
  if (ext == "geojson") return v1::FILE_FORMAT_GEOJSON;
  return v1::FILE_FORMAT_UNSPECIFIED;
}

}  // namespace smartby::ingestion
