// The Smartby services smartctl knows how to reach. A new service is one line here: its name
// (as used in the config's `services:` map and in messages), its default gRPC port, and the
// service name its gRPC health check answers for.
#ifndef SMARTBY_CLI_SMARTCTL_SERVICES_H_
#define SMARTBY_CLI_SMARTCTL_SERVICES_H_

#include <string>
#include <vector>

namespace smartby::smartctl {

struct ServiceInfo {
  std::string name;          // "catalogue"
  int default_port = 0;      // 7001
  std::string grpc_service;  // "smartcity.catalogue.v1.CatalogueService"
};

inline const std::vector<ServiceInfo>& KnownServices() {
  static const auto* services = new std::vector<ServiceInfo>{
      {"catalogue", 7001, "smartcity.catalogue.v1.CatalogueService"},
      {"ingestion", 7002, "smartcity.ingestion.v1.IngestionService"},
      {"feed", 7003, "smartcity.feed.v1.FeedService"},
      {"auth", 7004, "smartcity.auth.v1.AuthService"},
      {"audit", 7005, "smartcity.audit.v1.AuditService"},
      {"archive", 7006, "smartcity.archive.v1.ArchiveService"},
  };
  return *services;
}

inline const ServiceInfo* FindService(const std::string& name) {
  for (const auto& service : KnownServices()) {
    if (service.name == name) return &service;
  }
  return nullptr;
}

}  // namespace smartby::smartctl

#endif  // SMARTBY_CLI_SMARTCTL_SERVICES_H_
