# KPI expressions and history downsampling for the feed service: pure libraries (Abseil only,
# no proto), included from services/feed/CMakeLists.txt.
smartby_library(smartby_feed_kpi
  SOURCES
    ${CMAKE_CURRENT_LIST_DIR}/kpi.cc
    ${CMAKE_CURRENT_LIST_DIR}/downsample.cc
  DEPS absl::status absl::statusor absl::strings absl::flat_hash_map absl::span)
smartby_test(feed_kpi_test
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/kpi_test.cc ${CMAKE_CURRENT_LIST_DIR}/downsample_test.cc
  DEPS smartby_feed_kpi
  LABELS unit)
