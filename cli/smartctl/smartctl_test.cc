// Unit tests of smartctl's pieces that need no server: parsing, config, files, output.
// (The commands against a real catalogue are in tests/e2e/smartctl_e2e_test.cc.)
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "cli/smartctl/args.h"
#include "cli/smartctl/catalogue_commands.h"
#include "cli/smartctl/config.h"
#include "cli/smartctl/dataset_file.h"
#include "cli/smartctl/errors.h"
#include "cli/smartctl/output.h"

namespace smartby::smartctl {
namespace {

namespace v1 = smartcity::catalogue::v1;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

std::string WriteTemp(const std::string& name, const std::string& content) {
  const std::string path = (std::filesystem::temp_directory_path() /
                            ("smartctl_test_" + std::to_string(::getpid()) + "_" + name))
                               .string();
  std::ofstream(path, std::ios::binary) << content;
  return path;
}

TEST(Loopback, AcceptsOnlyThisMachine) {
  EXPECT_TRUE(IsLoopbackAddress("127.0.0.1:7001"));
  EXPECT_TRUE(IsLoopbackAddress("127.1.2.3:7001"));
  EXPECT_TRUE(IsLoopbackAddress("localhost:7001"));
  EXPECT_TRUE(IsLoopbackAddress("[::1]:7001"));
  EXPECT_FALSE(IsLoopbackAddress("127.evil.example:7001"));
  EXPECT_FALSE(IsLoopbackAddress("10.0.0.1:7001"));
  EXPECT_FALSE(IsLoopbackAddress("catalogue.example.no:443"));
  EXPECT_FALSE(IsLoopbackAddress("[::2]:7001"));
}

TEST(Address, MustBeHostAndPort) {
  EXPECT_TRUE(CheckAddress("--server", "127.0.0.1:7001").ok());
  EXPECT_TRUE(CheckAddress("--server", "[::1]:7001").ok());
  EXPECT_EQ(ExitCodeOf(CheckAddress("--server", "catalogue")), kExitUsage);
  EXPECT_EQ(ExitCodeOf(CheckAddress("--server", "host:0")), kExitUsage);
  EXPECT_EQ(ExitCodeOf(CheckAddress("--server", "::1:7001")), kExitUsage);
}

TEST(Args, GlobalFlagsMayComeAnywhere) {
  std::vector<FlagSpec> specs = GlobalFlagSpecs();
  specs.push_back({"title", 0, true, false, "T", ""});
  specs.push_back({"theme", 0, true, true, "T", ""});
  const std::vector<std::string> tokens = {"-ojson",  "dataset", "--insecure",   "create",
                                           "x",       "--title", "--not-a-flag", "--theme=ENVI",
                                           "--theme", "TRAN",    "--server",     "127.0.0.1:1"};
  EXPECT_THAT(FindCommandWords(tokens, 2), ElementsAre("dataset", "create"));
  ParsedFlags flags;
  std::vector<std::string> positionals;
  ASSERT_TRUE(ParseTokens(tokens, specs, &flags, &positionals).ok());
  EXPECT_THAT(positionals, ElementsAre("dataset", "create", "x"));
  EXPECT_EQ(flags.Get("title"), "--not-a-flag");  // a value is taken as it is
  EXPECT_THAT(flags.GetAll("theme"), ElementsAre("ENVI", "TRAN"));
  auto global = GlobalOptionsFrom(flags);
  ASSERT_TRUE(global.ok());
  EXPECT_EQ(global->output, OutputFormat::kJson);
  EXPECT_TRUE(global->insecure.value_or(false));
  EXPECT_EQ(global->server.value_or(""), "127.0.0.1:1");
}

TEST(Args, UnknownOrRepeatedFlagsAreUsageErrors) {
  ParsedFlags flags;
  std::vector<std::string> positionals;
  absl::Status s = ParseTokens({"--colour", "red"}, GlobalFlagSpecs(), &flags, &positionals);
  EXPECT_EQ(ExitCodeOf(s), kExitUsage);
  EXPECT_THAT(std::string(s.message()), HasSubstr("--colour"));
  ParsedFlags again;
  EXPECT_EQ(ExitCodeOf(ParseTokens({"--server", "a:1", "--server", "b:1"}, GlobalFlagSpecs(),
                                   &again, &positionals)),
            kExitUsage);
  ParsedFlags missing;
  EXPECT_EQ(ExitCodeOf(ParseTokens({"--timeout"}, GlobalFlagSpecs(), &missing, &positionals)),
            kExitUsage);
}

TEST(Args, BadOutputOrTimeoutIsAUsageError) {
  ParsedFlags flags;
  flags.Add("output", "xml");
  EXPECT_EQ(ExitCodeOf(GlobalOptionsFrom(flags).status()), kExitUsage);
  ParsedFlags timeout;
  timeout.Add("timeout", "soon");
  EXPECT_EQ(ExitCodeOf(GlobalOptionsFrom(timeout).status()), kExitUsage);
}

TEST(Endpoint, FlagBeatsEnvBeatsServiceEntryBeatsContextBeatsDefault) {
  const ServiceInfo catalogue{"catalogue", 7001, "smartcity.catalogue.v1.CatalogueService"};
  Config config;
  config.current_context = "local";
  config.contexts.push_back({"local", "127.0.0.2:9000", true, "", {}, {}});
  ::unsetenv("SMARTCTL_SERVER");
  GlobalOptions options;
  EXPECT_EQ(ResolveEndpoint(catalogue, options, Config())->address, "127.0.0.1:7001");
  EXPECT_EQ(ResolveEndpoint(catalogue, options, config)->address, "127.0.0.2:9000");
  EXPECT_TRUE(ResolveEndpoint(catalogue, options, config)->insecure);
  config.contexts[0].services["catalogue"] = "127.0.0.3:9001";
  EXPECT_EQ(ResolveEndpoint(catalogue, options, config)->address, "127.0.0.3:9001");
  ::setenv("SMARTCTL_SERVER", "127.0.0.4:9002", 1);
  EXPECT_EQ(ResolveEndpoint(catalogue, options, config)->address, "127.0.0.4:9002");
  options.server = "127.0.0.5:9003";
  EXPECT_EQ(ResolveEndpoint(catalogue, options, config)->address, "127.0.0.5:9003");
  ::unsetenv("SMARTCTL_SERVER");

  options.server = "catalogue.example.no:443";
  options.insecure = true;
  EXPECT_EQ(ExitCodeOf(ResolveEndpoint(catalogue, options, config).status()), kExitUsage);
  options = GlobalOptions();
  options.context = "nope";
  EXPECT_EQ(ExitCodeOf(ResolveEndpoint(catalogue, options, config).status()), kExitUsage);
}

TEST(ConfigFile, RoundTripsWithPrivateMode) {
  const std::string dir = WriteTemp("cfgdir", "");
  std::filesystem::remove(dir);
  const std::string path = dir + "/smartctl/config.yaml";
  Config config;
  config.current_context = "prod";
  config.contexts.push_back({"prod",
                             "api.example.no:443",
                             false,
                             "/etc/ca.pem",
                             {{"catalogue", "catalogue.example.no:443"}},
                             {}});
  ASSERT_TRUE(SaveConfig(config, path).ok());
  EXPECT_EQ(std::filesystem::status(path).permissions() & std::filesystem::perms::all,
            std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
  auto loaded = LoadConfig(path);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ(loaded->current_context, "prod");
  ASSERT_EQ(loaded->contexts.size(), 1u);
  EXPECT_EQ(loaded->contexts[0].ca_file, "/etc/ca.pem");
  EXPECT_EQ(loaded->contexts[0].services.at("catalogue"), "catalogue.example.no:443");
  std::filesystem::remove_all(dir);
}

TEST(DatasetFiles, Latin1IsRefusedWithTheLine) {
  absl::Status s = CheckUtf8("name: a\ntitle: ok\nowner: Bymilj\xf8\n", "f.yaml");
  EXPECT_EQ(ExitCodeOf(s), kExitFailed);
  EXPECT_THAT(std::string(s.message()), HasSubstr("f.yaml: line 3"));
  EXPECT_TRUE(CheckUtf8("owner: Bymiljø 🚲\n", "f.yaml").ok());
  EXPECT_FALSE(CheckUtf8("\xed\xa0\x80", "surrogate").ok());
  EXPECT_FALSE(CheckUtf8("\xc0\xaf", "overlong").ok());
}

TEST(DatasetFiles, FriendlyValuesAndSeveralDocuments) {
  const std::string path = WriteTemp("several.yaml", R"(name: a
title: A
classification: strengt beskyttet
themes: [envi, THEME_TRAN]
updateFrequency: weekly
containsPersonalData: yes
fields: [{name: n, type: integer}]
temporal: {start_time: 2025-01-01}
---
datasets:
- {name: b, title: B, classification: CLASSIFICATION_OPEN, state: published}
- {name: c, title: "0047"}
)");
  auto docs = ReadDatasetFile(path);
  ASSERT_TRUE(docs.ok()) << docs.status();
  ASSERT_EQ(docs->size(), 3u);
  const v1::Dataset& a = (*docs)[0].dataset;
  EXPECT_EQ(a.classification(), smartcity::common::v1::CLASSIFICATION_STRICTLY_PROTECTED);
  EXPECT_THAT(a.themes(), ElementsAre(v1::THEME_ENVI, v1::THEME_TRAN));
  EXPECT_EQ(a.update_frequency(), v1::UPDATE_FREQUENCY_WEEKLY);
  EXPECT_TRUE(a.contains_personal_data());
  EXPECT_EQ(a.fields(0).type(), v1::FIELD_TYPE_INTEGER);
  EXPECT_EQ(a.temporal().start_time().seconds(), 1735689600);
  EXPECT_TRUE((*docs)[0].fields.count("update_frequency"));
  EXPECT_EQ((*docs)[1].dataset.state(), v1::DATASET_STATE_PUBLISHED);
  EXPECT_EQ((*docs)[2].dataset.title(), "0047");
  EXPECT_EQ((*docs)[2].origin, path + ", dataset 3");
  std::filesystem::remove(path);
}

TEST(DatasetFiles, ErrorsNameTheFileAndField) {
  const std::string path = WriteTemp("typo.json", R"({"name": "a", "titel": "A"})");
  auto docs = ReadDatasetFile(path);
  ASSERT_FALSE(docs.ok());
  EXPECT_THAT(std::string(docs.status().message()), HasSubstr("typo.json (a): titel"));
  std::filesystem::remove(path);
  EXPECT_THAT(std::string(ReadDatasetFile("/nonexistent.yaml").status().message()),
              HasSubstr("/nonexistent.yaml: cannot read"));
}

TEST(DatasetFlags, SetFieldsAndNameTheirMaskPaths) {
  ParsedFlags flags;
  flags.Add("title", "T");
  flags.Add("department", "Bymiljø");
  flags.Add("classification", "intern");
  flags.Add("theme", "ENVI");
  flags.Add("field", "temp:double:°C:water: at 1 m");
  flags.Add("ros-date", "2026-01-31");
  v1::Dataset d;
  std::set<std::string> paths;
  ASSERT_TRUE(ApplyDatasetFlags(flags, &d, &paths).ok());
  EXPECT_THAT(paths, ElementsAre("classification", "fields", "owner.department",
                                 "risk_assessment.assessed_time", "themes", "title"));
  EXPECT_FALSE(d.has_contact_point());  // untouched sub-messages stay unset
  EXPECT_EQ(d.fields(0).description(), "water: at 1 m");
  EXPECT_EQ(d.classification(), smartcity::common::v1::CLASSIFICATION_INTERNAL);

  ParsedFlags bad;
  bad.Add("field", "temp");
  EXPECT_EQ(ExitCodeOf(ApplyDatasetFlags(bad, &d, &paths)), kExitUsage);
}

TEST(Output, EnumNamesBothWays) {
  const auto* type = smartcity::common::v1::Classification_descriptor();
  EXPECT_EQ(ShortEnumName(type, 4), "strictly-protected");
  EXPECT_EQ(*ParseEnumValue(type, "Strictly-Protected", "x"), 4);
  EXPECT_EQ(*ParseEnumValue(type, "åpen", "x"), 1);
  EXPECT_EQ(*ParseEnumValue(type, "CLASSIFICATION_PROTECTED", "x"), 3);
  EXPECT_FALSE(ParseEnumValue(type, "unspecified", "x").ok());
  EXPECT_EQ(ShortEnumName(v1::Theme_descriptor(), v1::THEME_ENVI, true), "ENVI");
}

TEST(Output, YamlKeepsStringsThatLookLikeOtherThings) {
  const std::string yaml = JsonToYaml(R"({"a": "true", "b": true, "c": "", "d": ["x"]})");
  EXPECT_THAT(yaml, HasSubstr("a: \"true\""));
  EXPECT_THAT(yaml, HasSubstr("b: true"));
  EXPECT_THAT(yaml, HasSubstr("c: \"\""));
  EXPECT_THAT(yaml, HasSubstr("d:\n  - x"));
}

TEST(Output, TableAlignsByCharactersNotBytes) {
  Table table({"NAME", "OWNER"});
  table.AddRow({"ø", "x"});
  table.AddRow({"abc", ""});
  std::ostringstream out;
  table.Print(out);
  EXPECT_EQ(out.str(), "NAME   OWNER\nø      x\nabc\n");
}

}  // namespace
}  // namespace smartby::smartctl
