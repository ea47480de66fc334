#include "services/audit/entries.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace smartby::audit {
namespace {

using ::testing::HasSubstr;

v1::AuditEvent Event() {
  v1::AuditEvent e;
  e.set_producer("catalogue");
  e.set_producer_sequence(1);
  e.mutable_actor()->set_subject("user:kari");
  e.set_action("/smartcity.catalogue.v1.CatalogueService/UpdateDataset");
  e.mutable_resource()->set_type("dataset");
  e.mutable_resource()->set_id("badetemperatur");
  e.set_details_json(R"({"changed":["title"]})");
  return e;
}

absl::Status ValidateOne(const v1::AuditEvent& e) {
  google::protobuf::RepeatedPtrField<v1::AuditEvent> events;
  *events.Add() = Event();
  *events.Add() = e;
  return ValidateAppend(events);
}

TEST(ValidateTest, AcceptsAWellFormedEvent) { EXPECT_TRUE(ValidateOne(Event()).ok()); }

TEST(ValidateTest, NamesTheFieldAndTheEventIndex) {
  v1::AuditEvent e = Event();
  e.set_details_json("[1, 2]");
  absl::Status s = ValidateOne(e);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.message()), HasSubstr("events[1].details_json"));
  EXPECT_THAT(std::string(s.message()), HasSubstr("JSON object"));

  e.set_details_json("{not json");
  EXPECT_THAT(std::string(ValidateOne(e).message()), HasSubstr("events[1].details_json"));

  e.set_details_json(std::string("{\"a\":\"") + std::string(5000, 'x') + "\"}");
  EXPECT_THAT(std::string(ValidateOne(e).message()), HasSubstr("at most 4096 bytes"));
}

TEST(ValidateTest, RequiresProducerSequenceSubjectAndAction) {
  v1::AuditEvent e = Event();
  e.clear_producer();
  EXPECT_THAT(std::string(ValidateOne(e).message()), HasSubstr("events[1].producer"));
  e = Event();
  e.set_producer("Catalogue Service");
  EXPECT_THAT(std::string(ValidateOne(e).message()), HasSubstr("events[1].producer"));
  e = Event();
  e.set_producer_sequence(0);
  EXPECT_THAT(std::string(ValidateOne(e).message()), HasSubstr("events[1].producer_sequence"));
  e = Event();
  e.mutable_actor()->clear_subject();
  EXPECT_THAT(std::string(ValidateOne(e).message()), HasSubstr("events[1].actor.subject"));
  e = Event();
  e.clear_action();
  EXPECT_THAT(std::string(ValidateOne(e).message()), HasSubstr("events[1].action"));
  e = Event();
  e.set_outcome_code(17);
  EXPECT_THAT(std::string(ValidateOne(e).message()), HasSubstr("events[1].outcome_code"));
  e = Event();
  e.mutable_resource()->set_id(std::string(600, 'r'));
  EXPECT_THAT(std::string(ValidateOne(e).message()), HasSubstr("events[1].resource.id"));
  e = Event();
  e.mutable_claimed_time()->set_nanos(-1);
  EXPECT_THAT(std::string(ValidateOne(e).message()), HasSubstr("events[1].claimed_time"));
}

TEST(ValidateTest, AProducerIsAnAccountOptionallyFollowedByAnInstance) {
  v1::AuditEvent e = Event();
  for (const char* good : {"catalogue", "catalogue/a", "catalogue/smartby-catalogue-7d9f-x2k4q",
                           "catalogue/node-1.example"}) {
    e.set_producer(good);
    EXPECT_TRUE(ValidateOne(e).ok()) << good;
  }
  e.set_producer(std::string("catalogue/") + std::string(63, 'a'));
  EXPECT_TRUE(ValidateOne(e).ok());
  for (const char* bad : {"catalogue/", "catalogue/A", "catalogue/a_b", "catalogue/a/b",
                          "/a", "catalogue/a b"}) {
    e.set_producer(bad);
    absl::Status s = ValidateOne(e);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_THAT(std::string(s.message()), HasSubstr("events[1].producer")) << bad;
  }
  e.set_producer(std::string("catalogue/") + std::string(64, 'a'));
  EXPECT_THAT(std::string(ValidateOne(e).message()),
              HasSubstr("events[1].producer: an instance name must be 1 to 63 characters"));
  e.set_producer(std::string(65, 'c') + "/a");
  EXPECT_THAT(std::string(ValidateOne(e).message()),
              HasSubstr("events[1].producer: required: the service's account, 1 to 64"));
}

TEST(ValidateTest, BoundsTheBatch) {
  google::protobuf::RepeatedPtrField<v1::AuditEvent> events;
  EXPECT_EQ(ValidateAppend(events).code(), absl::StatusCode::kInvalidArgument);
  for (int i = 0; i < 1001; ++i) *events.Add() = Event();
  EXPECT_THAT(std::string(ValidateAppend(events).message()), HasSubstr("at most 1000"));
}

TEST(EntriesTest, EntryBytesAreDeterministicAndRoundTrip) {
  EntryRow a = MakeEntryRow(Event(), 7, 1700000000123456);
  EntryRow b = MakeEntryRow(Event(), 7, 1700000000123456);
  EXPECT_EQ(a.entry_bytes, b.entry_bytes);
  auto parsed = ToLogEntry(StoredEntry{7, a.entry_bytes});
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(parsed->entry().index(), 7);
  EXPECT_EQ(parsed->entry().sequenced_time().seconds(), 1700000000);
  EXPECT_EQ(parsed->entry().sequenced_time().nanos(), 123456000);
  EXPECT_EQ(parsed->entry().event().producer(), "catalogue");
  EXPECT_EQ(SerializeEntry(parsed->entry()), a.entry_bytes);
  EXPECT_EQ(a.subject, "user:kari");
  EXPECT_EQ(a.resource_id, "badetemperatur");
}

TEST(EntriesTest, AccountOfCaller) {
  EXPECT_EQ(AccountOfCaller("service:catalogue", "catalogue"), "catalogue");
  EXPECT_EQ(AccountOfCaller("service:feed", ""), "feed");
  EXPECT_EQ(AccountOfCaller("user:kari", ""), "");
}

TEST(EntriesTest, AnAccountOwnsItselfAndItsInstancesOnly) {
  EXPECT_TRUE(ProducerOfAccount("catalogue", "catalogue"));
  EXPECT_TRUE(ProducerOfAccount("catalogue/a", "catalogue"));
  EXPECT_TRUE(ProducerOfAccount("catalogue/smartby-catalogue-7d9f-x2k4q", "catalogue"));
  EXPECT_FALSE(ProducerOfAccount("feed", "catalogue"));
  EXPECT_FALSE(ProducerOfAccount("feed/a", "catalogue"));
  EXPECT_FALSE(ProducerOfAccount("catalogue2", "catalogue"));  // another account's name
  EXPECT_FALSE(ProducerOfAccount("catalogue.a", "catalogue"));
  EXPECT_FALSE(ProducerOfAccount("catalog/a", "catalogue"));
  EXPECT_FALSE(ProducerOfAccount("catalogue/a", "catalogue/a"));  // an instance is no account
  EXPECT_FALSE(ProducerOfAccount("catalogue/a", ""));
  EXPECT_FALSE(ProducerOfAccount("/a", ""));
}

TEST(EntriesTest, MicrosConversionsHandleNegativeTimes) {
  auto ts = MicrosToTimestamp(-1);
  EXPECT_EQ(ts.seconds(), -1);
  EXPECT_EQ(ts.nanos(), 999999000);
  EXPECT_EQ(TimestampToMicros(ts), -1);
}

}  // namespace
}  // namespace smartby::audit
