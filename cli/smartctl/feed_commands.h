// The feed service's nouns (AddFeedCommands), against smartcity.feed.v1.FeedService (port 7003):
//   feed       watch (Subscribe: snapshot, then live updates and, with --alarms, alarm events;
//              gaps reported on standard error), history (GetHistory: downsampled time/value rows)
//   aggregate  show (GetAggregates: rolling 1m / 5m / 1h count/min/max/mean)
//   kpi        create, list, get, delete, watch
//   alarm      rule create|list|delete, list, ack
//   channel    create, list, test
// and the helpers of those commands that are worth testing on their own: flag values (--window,
// the alarm condition flags, channel targets, --bbox, the history request), and how updates,
// gaps, alarm events, history, rules and channels are printed. Everything here is pure except
// the commands themselves (and ChannelFrom, which reads --secret-file).
#ifndef SMARTBY_CLI_SMARTCTL_FEED_COMMANDS_H_
#define SMARTBY_CLI_SMARTCTL_FEED_COMMANDS_H_

#include <ostream>
#include <string>
#include <vector>

#include "absl/time/time.h"

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "cli/smartctl/args.h"
#include "cli/smartctl/commands.h"
#include "smartcity/common/v1/common.pb.h"
#include "smartcity/feed/v1/feed.pb.h"

namespace smartby::smartctl {

// Adds the nouns feed, aggregate, kpi, alarm and channel to `registry`.
void AddFeedCommands(Registry& registry);

// ---- flag values ----------------------------------------------------------------------------
// All parsers return usage errors (exit 2) that name the flag.

// --window: 1m, 5m or 1h (also 1min, 5min, 60m, 1 hour spellings of the proto: 1-minute, ...).
absl::StatusOr<smartcity::feed::v1::AggregateWindow> ParseWindow(const std::string& text);

// "1m", "5m", "1h"; "" for unspecified.
std::string WindowName(smartcity::feed::v1::AggregateWindow window);

// The rule `alarm rule create NAME` asks for, from --dataset, --source, --field, exactly one of
// --above X, --below X, --outside LOW,HIGH, --no-data DURATION, and --for, --hysteresis. The
// --channel values are not resolved here (the caller turns names into channel ids).
absl::StatusOr<smartcity::feed::v1::AlarmRule> AlarmRuleFrom(const std::string& name,
                                                             const ParsedFlags& flags);

// The channel `channel create NAME` asks for: exactly one of --webhook URL, --email ADDRESS,
// --sms +DIGITS; with --webhook or --sms, --secret-file FILE sets the channel's own signing key
// (the file's text without the trailing line break; at least 32 bytes; read here). Flags the API
// has no field for (--smtp, --from, --gateway) are refused with a usage error that says so,
// rather than dropped.
absl::StatusOr<smartcity::feed::v1::Channel> ChannelFrom(const std::string& name,
                                                         const ParsedFlags& flags);

// --bbox: "minLon,minLat,maxLon,maxLat" (west, south, east, north) in WGS84 degrees, e.g.
// 5.6,58.9,5.8,59.0; longitudes -180..180, latitudes -90..90, west < east and south < north.
absl::StatusOr<smartcity::common::v1::BoundingBox> ParseBoundingBox(const std::string& text);

// What `feed history [DATASET] --field F [--source S] [--from T] [--to T] [--points N]` asks
// for: at least one of DATASET and --source (the caller fills in the dataset of a source when
// DATASET is not given); --from defaults to 24 hours before `now`; --points 2..10000 (the feed's
// default 1000 when not given).
absl::StatusOr<smartcity::feed::v1::GetHistoryRequest> HistoryRequestFrom(
    const std::vector<std::string>& args, const ParsedFlags& flags, absl::Time now);

// ---- printing -------------------------------------------------------------------------------

// One update as a line: "TIME  SOURCE  field=value ...", with "  (snapshot)" for the opening
// snapshot's values.
std::string UpdateLine(const smartcity::feed::v1::Update& update);

// The line printed on standard error for a gap: what was lost, and why.
std::string GapLine(const smartcity::feed::v1::Gap& gap);

// An alarm event on a watch, one line: "ALARM raised rule=NAME dataset=D source=S field=F
// value=V id=ID" (cleared, acknowledged ... by=WHO); values with blanks are quoted.
std::string AlarmEventLine(const smartcity::feed::v1::AlarmEvent& event);

// History as rows: TIME VALUE for one series, SOURCE TIME VALUE for several; nothing for none.
void PrintHistory(const smartcity::feed::v1::GetHistoryResponse& history, std::ostream& out);

// A rule's condition as people read it: "temperature > 25", "level < 3",
// "level outside 3..25", "no data for 15m"; then " for 5m" and " (hysteresis 2)" when set.
std::string ConditionText(const smartcity::feed::v1::AlarmRule& rule);

// A notification target fit to show: a URL's password and query values are replaced by
// "(redacted)" (webhook URLs often carry credentials); other targets as they are.
std::string RedactTarget(const std::string& target);

}  // namespace smartby::smartctl

#endif  // SMARTBY_CLI_SMARTCTL_FEED_COMMANDS_H_
