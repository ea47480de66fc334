// Input validation for the catalogue: every rule that decides whether a dataset or resource a
// caller sent is acceptable. Pure functions over protobuf messages; no storage, no gRPC.
//
// Errors are INVALID_ARGUMENT with a message that names the field path and says what is
// expected, e.g. "dataset.name: must be 2–100 characters of a-z, 0-9 and '-', starting with a
// letter" or "dataset.fields[2].name: \"temp\" is used by fields[0] already".
#ifndef SMARTBY_SERVICES_CATALOGUE_VALIDATION_H_
#define SMARTBY_SERVICES_CATALOGUE_VALIDATION_H_

#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "smartcity/catalogue/v1/catalogue.pb.h"

namespace smartby::catalogue {

// Size bounds (bytes of UTF-8). Kept here so the CLI docs and tests can quote them.
inline constexpr size_t kMaxTitleBytes = 200;
inline constexpr size_t kMaxDescriptionBytes = 20000;
inline constexpr size_t kMaxShortTextBytes = 200;    // organisation, department, names, unit ...
inline constexpr size_t kMaxUrlBytes = 2000;
inline constexpr int kMaxKeywords = 50;
inline constexpr int kMaxFields = 500;
inline constexpr int kMaxResources = 200;
inline constexpr int kMaxThemes = 13;

// Licenses the catalogue knows how to express in DCAT (see dcat_export.cc for their URIs).
bool IsKnownLicense(absl::string_view license);

// "bathing-temperature-stavanger": 2–100 chars of a-z 0-9 '-', starting with a letter,
// not ending with '-', no "--".
bool IsValidDatasetName(absl::string_view name);

// Validates everything the caller controls in `dataset` (fields managed by the catalogue —
// state, version, times, created_by/updated_by, resource ids — are not checked here).
// Checks: name slug; title required; lengths of every string; valid UTF-8 in every string;
// enums known (classification required, not UNSPECIFIED; themes known and not repeated;
// update_frequency known); license known when set; owner.organization required;
// owner.organization_number 9 digits when set; contact e-mail shape; bbox ranges and
// min <= max; temporal start <= end; field names unique and of a-z 0-9 '_' and types known;
// min_value <= max_value; keyword count and length; risk assessment reference lengths;
// every resource (via ValidateResource).
absl::Status ValidateDataset(const smartcity::catalogue::v1::Dataset& dataset);

// `path` prefixes the field names in messages, e.g. "dataset.resources[3]" or "resource".
// Checks: title and format required; format a known token (upper-case letters/digits, <= 20);
// exactly one of access_url (http/https URL) or ingestion_stream; byte_size >= 0;
// checksum_sha256 64 hex digits when set; lengths and UTF-8.
absl::Status ValidateResource(const smartcity::catalogue::v1::Resource& resource,
                              absl::string_view path);

// The IANA media type for a known format ("CSV" -> "text/csv"), or "" when unknown.
std::string MediaTypeForFormat(absl::string_view format);

}  // namespace smartby::catalogue

#endif  // SMARTBY_SERVICES_CATALOGUE_VALIDATION_H_
