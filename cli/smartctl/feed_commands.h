// The feed service's nouns (AddFeedCommands), against smartcity.feed.v1.FeedService (port 7003):
//   feed       watch (Subscribe: snapshot, then live updates; gaps reported on standard error)
//   aggregate  show (GetAggregates: rolling 1m / 5m / 1h count/min/max/mean)
//   kpi        create, list, get, delete, watch
//   alarm      rule create|list|delete, list, ack
//   channel    create, list, test
// and the helpers of those commands that are worth testing on their own: flag values (--window,
// the alarm condition flags, channel targets), and how updates, gaps, rules and channels are
// printed. Everything here is pure except the commands themselves.
#ifndef SMARTBY_CLI_SMARTCTL_FEED_COMMANDS_H_
#define SMARTBY_CLI_SMARTCTL_FEED_COMMANDS_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "cli/smartctl/args.h"
#include "cli/smartctl/commands.h"
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
// --sms +DIGITS. Flags the API has no field for (--secret-file, --smtp, --from, --gateway) are
// refused with a usage error that says so, rather than dropped.
absl::StatusOr<smartcity::feed::v1::Channel> ChannelFrom(const std::string& name,
                                                         const ParsedFlags& flags);

// ---- printing -------------------------------------------------------------------------------

// One update as a line: "TIME  SOURCE  field=value ...", with "  (snapshot)" for the opening
// snapshot's values.
std::string UpdateLine(const smartcity::feed::v1::Update& update);

// The line printed on standard error for a gap: what was lost, and why.
std::string GapLine(const smartcity::feed::v1::Gap& gap);

// A rule's condition as people read it: "temperature > 25", "level < 3",
// "level outside 3..25", "no data for 15m"; then " for 5m" and " (hysteresis 2)" when set.
std::string ConditionText(const smartcity::feed::v1::AlarmRule& rule);

// A notification target fit to show: a URL's password and query values are replaced by
// "(redacted)" (webhook URLs often carry credentials); other targets as they are.
std::string RedactTarget(const std::string& target);

}  // namespace smartby::smartctl

#endif  // SMARTBY_CLI_SMARTCTL_FEED_COMMANDS_H_
