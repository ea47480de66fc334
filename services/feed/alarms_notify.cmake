# The feed's alarm rule engine and notification outbox (alarms.h, notifier.h): plain C++, no feed
# proto, so the service plugs them in. Included from services/feed/CMakeLists.txt.
# Paths are relative to this file, so it can be included from any directory.
set(feed_alarms_dir ${CMAKE_CURRENT_LIST_DIR})
find_package(CURL REQUIRED)
find_package(OpenSSL REQUIRED)
find_package(nlohmann_json CONFIG REQUIRED)

smartby_library(smartby_feed_alarms
  SOURCES ${feed_alarms_dir}/alarms.cc ${feed_alarms_dir}/notifier.cc
  DEPS smartby_runtime CURL::libcurl OpenSSL::SSL OpenSSL::Crypto nlohmann_json::nlohmann_json
    absl::status absl::statusor absl::strings absl::time absl::flat_hash_map absl::random_random
    prometheus-cpp::core)

smartby_test(feed_alarms_test
  SOURCES ${feed_alarms_dir}/alarms_test.cc
  DEPS smartby_feed_alarms LABELS unit)

# The notifier against a local HTTP receiver and SMTP sink, on SQLite and PostgreSQL.
smartby_test(feed_notifier_test
  SOURCES ${feed_alarms_dir}/notifier_test.cc
    ${PROJECT_SOURCE_DIR}/tests/support/http_sink.cc
    ${PROJECT_SOURCE_DIR}/tests/support/smtp_sink.cc
    ${PROJECT_SOURCE_DIR}/tests/support/test_pki.cc
    ${PROJECT_SOURCE_DIR}/services/runtime/storage/test_databases.cc
  DEPS smartby_feed_alarms LABELS unit)
